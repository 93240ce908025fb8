"""The real embedded server: started on demand, answers as an OpenAI-compatible endpoint, restarted, stopped."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from stage.llm.base import Done, GenParams, TextDelta, complete
from stage.llm.local import LocalModel, LocalServer, model_path
from stage.llm.openai_compat import OpenAICompatModel
from stage.types import Message

pytestmark = pytest.mark.model
MSGS = [
    Message("system", "You are Lyra, a cheerful ten-year-old."),
    Message("user", "Say hello to your friend Max."),
]


def test_model_file_is_packaged() -> None:
    path = model_path()
    assert path.name.endswith(".gguf") and path.stat().st_size > 50_000_000


def test_openai_backend_streams_from_the_embedded_server(local_server: LocalServer) -> None:
    model = OpenAICompatModel(local_server.base_url, "smollm2", "", timeout=60)
    got = list(model.stream(MSGS, GenParams(max_tokens=24, temperature=0.2)))
    tokens = [c.text for c in got if isinstance(c, TextDelta)]
    assert isinstance(got[-1], Done)
    result = got[-1].completion
    assert result.text.strip()
    assert len(tokens) >= 2 and "".join(tokens) == result.text
    assert 0 < result.usage.completion_tokens <= 26  # the max_tokens catch: llama.cpp honours it
    assert result.usage.ttft_ms > 0


def test_local_model_counts_prompt_tokens_and_restarts_a_dead_server(tmp_path: Path) -> None:
    server = LocalServer(tmp_path)
    model = LocalModel(server, timeout=60)
    try:
        first = complete(model, MSGS, GenParams(max_tokens=8))
        assert first.usage.prompt_tokens > 10
        pid = server.proc.pid  # type: ignore[union-attr]
        os.kill(pid, signal.SIGKILL)
        server.proc.wait()  # type: ignore[union-attr]
        second = complete(model, MSGS, GenParams(max_tokens=8))
        assert second.text.strip()
        assert server.starts == 2 and server.proc.pid != pid  # type: ignore[union-attr]
    finally:
        server.stop()
    assert not server.alive()
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_server_stops_when_the_app_exits(tmp_path: Path) -> None:
    code = (
        "from pathlib import Path; from stage.llm.local import shared_server;"
        f"s = shared_server(Path({str(tmp_path)!r}), 2, 2048); s.ensure(); print(s.proc.pid, flush=True)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True
    )
    pid = int(out.stdout.split()[0])
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE


def test_server_dies_with_a_killed_parent(tmp_path: Path) -> None:
    code = (
        "import time; from pathlib import Path; from stage.llm.local import shared_server;"
        f"s = shared_server(Path({str(tmp_path)!r}), 2, 2048); s.ensure(); print(s.proc.pid, flush=True); time.sleep(60)"
    )
    parent = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    pid = int(parent.stdout.readline())
    parent.kill()
    parent.wait()
    child = psutil.Process(pid) if psutil.pid_exists(pid) else None
    if child is not None:
        try:
            child.wait(timeout=15)
        except psutil.TimeoutExpired:
            child.kill()
            pytest.fail("the llama.cpp server outlived its killed parent")


def test_a_server_started_from_a_short_lived_thread_outlives_it(tmp_path: Path) -> None:
    """PR_SET_PDEATHSIG follows the forking thread; the server must not die when a worker thread ends."""
    import threading
    import time

    server = LocalServer(tmp_path)
    try:
        worker = threading.Thread(target=server.ensure)
        worker.start()
        worker.join()
        pid = server.proc.pid  # type: ignore[union-attr]
        time.sleep(2.0)
        assert server.alive() and server.proc.pid == pid  # type: ignore[union-attr]
    finally:
        server.stop()


def test_prompt_tokens_come_with_the_stream_and_agree_with_the_tokenizer(local_server: LocalServer) -> None:
    """llama-server reports usage at the end of the stream; its /tokenize counts the same prompt alike."""
    from stage.llm.local import chatml

    done = complete(LocalModel(local_server, timeout=60), MSGS, GenParams(max_tokens=4))
    counted = local_server.count_tokens(chatml(MSGS))
    assert done.usage.prompt_tokens > 10 and counted > 10
    assert abs(done.usage.prompt_tokens - counted) <= 2  # the template may add or drop a BOS or newline
    assert local_server.count_tokens("") <= 1


def test_the_server_serves_its_slots_at_once_and_only_on_loopback(local_server: LocalServer) -> None:
    """Parallel sequences are what lets several sessions' turns share the model (one batch, not a queue)."""
    import threading

    import httpx

    cmd = local_server.command()
    assert cmd[cmd.index("--host") + 1] == "127.0.0.1"
    assert "--no-repack" in cmd  # llama.cpp's AMX kernel for these weights crashes at the first decode
    props = httpx.get(f"{local_server.root_url}/props", timeout=10).json()
    assert props["total_slots"] == local_server.slots >= 2
    model = LocalModel(local_server, timeout=120)
    results: list[str] = []
    busy_seen: list[int] = []

    def call() -> None:
        results.append(complete(model, MSGS, GenParams(max_tokens=48, temperature=0.0)).text)

    workers = [threading.Thread(target=call) for _ in range(local_server.slots)]
    for w in workers:
        w.start()
    while any(w.is_alive() for w in workers):
        slots = httpx.get(f"{local_server.root_url}/slots", timeout=10).json()
        busy_seen.append(sum(1 for s in slots if s.get("is_processing")))
    for w in workers:
        w.join()
    assert len(results) == local_server.slots and all(r.strip() for r in results)
    assert max(busy_seen) >= 2, f"the slots never worked at once: {busy_seen}"
