"""Fakes live here, in one place. ``FlakyServer`` is a real HTTP server that misbehaves on purpose."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def chunk(content: str, finish: str | None = None) -> bytes:
    body = {
        "id": "chatcmpl-test",
        "object": "chat.completion.chunk",
        "created": 0,
        "model": "fake",
        "choices": [
            {"index": 0, "delta": {"role": "assistant", "content": content}, "finish_reason": finish}
        ],
    }
    return f"data: {json.dumps(body)}\n\n".encode()


class FlakyServer:
    """An OpenAI-compatible chat endpoint on 127.0.0.1 that plays a queue of behaviours, then answers well.

    Behaviours: "ok", "500", "429", "stall" (sleeps ``stall_s``), "drop" (stream cut halfway),
    "garbage" (malformed JSON in the stream), "401".
    """

    def __init__(
        self,
        behaviours: list[str] | None = None,
        reply: str = "Hello from the fake model.",
        stall_s: float = 5.0,
    ) -> None:
        self.behaviours: deque[str] = deque(behaviours or [])
        self.reply = reply
        self.stall_s = stall_s
        self.requests: list[dict[str, object]] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                return

            def do_GET(self) -> None:
                self._send(200, json.dumps({"data": [{"id": "fake"}]}).encode(), "application/json")

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                outer.requests.append(json.loads(self.rfile.read(length) or b"{}"))
                mode = outer.behaviours.popleft() if outer.behaviours else "ok"
                if mode in ("500", "429", "401"):
                    body = json.dumps({"error": {"message": f"fake {mode}", "type": "server_error"}}).encode()
                    self._send(int(mode), body, "application/json")
                    return
                if mode == "stall":
                    time.sleep(outer.stall_s)
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                words = outer.reply.split(" ")
                for i, w in enumerate(words):
                    if mode == "drop" and i == len(words) // 2:
                        self.wfile.flush()
                        self.connection.shutdown(socket.SHUT_RDWR)
                        return
                    if mode == "garbage" and i == 1:
                        self.wfile.write(b"data: {not json at all\n\n")
                        self.wfile.flush()
                        return
                    self.wfile.write(chunk(w if i == 0 else " " + w))
                    self.wfile.flush()
                self.wfile.write(chunk("", "stop"))
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

            def _send(self, code: int, body: bytes, ctype: str) -> None:
                self.send_response(code)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def __enter__(self) -> FlakyServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def flaky(*behaviours: str, **kw: object) -> Iterator[FlakyServer]:
    with FlakyServer(list(behaviours), **kw) as server:  # type: ignore[arg-type]
        yield server
