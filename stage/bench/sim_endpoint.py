"""A simulated OpenAI-compatible endpoint for the bench: ``slots`` requests generate at once, each token takes
``token_ms``; requests beyond the slots wait inside the server, as vLLM's or llama.cpp's queue would.

It stands in for a remote model server whose capacity is known, so that the stage's own concurrency (its
endpoint gates, retries and client) can be measured apart from any model's speed. Bench-only: the product
never starts it. ``python -m stage.bench.sim_endpoint --help``.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class SimServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int, slots: int, token_ms: float, tokens: int) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.slots = threading.BoundedSemaphore(slots)
        self.token_s = token_ms / 1000
        self.tokens = tokens
        self.lock = threading.Lock()
        self.busy = 0
        self.peak = 0
        self.served = 0


class _Handler(BaseHTTPRequestHandler):
    server: SimServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        return None

    def do_GET(self) -> None:
        s = self.server
        with s.lock:
            body = json.dumps({"busy": s.busy, "peak": s.peak, "served": s.served}).encode()
            if "reset=1" in self.path:
                s.peak = s.busy
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self) -> None:
        s = self.server
        length = int(self.headers.get("Content-Length") or 0)
        request = json.loads(self.rfile.read(length) or b"{}")
        n = min(int(request.get("max_tokens") or s.tokens), s.tokens)
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        with s.slots:
            with s.lock:
                s.busy += 1
                s.peak = max(s.peak, s.busy)
            try:
                for i in range(n):
                    time.sleep(s.token_s)
                    self._send({"delta": {"content": f"w{i} " if i < n - 1 else "end."}, "finish_reason": None})
                self._send({"delta": {}, "finish_reason": "length" if n >= s.tokens else "stop"})
                usage = {"prompt_tokens": 100, "completion_tokens": n, "total_tokens": 100 + n}
                self._event({"id": "sim", "object": "chat.completion.chunk", "model": "sim", "choices": [], "usage": usage})
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
            finally:
                with s.lock:
                    s.busy -= 1
                    s.served += 1

    def _send(self, choice: dict[str, Any]) -> None:
        self._event({"id": "sim", "object": "chat.completion.chunk", "model": "sim", "choices": [{"index": 0, **choice}]})

    def _event(self, data: dict[str, Any]) -> None:
        self.wfile.write(b"data: " + json.dumps(data).encode() + b"\n\n")
        self.wfile.flush()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m stage.bench.sim_endpoint", description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--slots", type=int, default=32, help="requests generating at once (default 32)")
    ap.add_argument("--token-ms", type=float, default=40.0, help="milliseconds per streamed token (default 40)")
    ap.add_argument("--tokens", type=int, default=12, help="tokens per reply at most (default 12)")
    args = ap.parse_args(argv)
    server = SimServer(args.port, args.slots, args.token_ms, args.tokens)
    print(f"simulated endpoint on http://127.0.0.1:{args.port}/v1 ({args.slots} slots)", flush=True)
    server.serve_forever()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
