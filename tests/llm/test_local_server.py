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


def test_in_process_token_count_matches_the_server(local_server: LocalServer) -> None:
    """Prompt tokens are counted in this process from the GGUF vocabulary; the server must agree."""
    import httpx

    from stage.llm.local import _TOKENIZER, chatml

    url = local_server.ensure().removesuffix("/v1") + "/extras/tokenize/count"
    for text in (chatml(MSGS), "Lyra: <|im_start|>system\nhi", "ünïcödé 2085 ✨ " * 40, ""):
        local = _TOKENIZER.count(text)
        served = httpx.post(url, json={"input": text}, timeout=10).json()["count"]
        assert local == served, text[:40]


def test_the_server_launcher_turns_weight_repacking_off() -> None:
    """The repacked AMX kernel crashes on AMX Xeons at the first decode; the launcher must switch it off."""
    code = (
        "import llama_cpp.llama_cpp as b; from stage.llm.serve_llama import _no_repack;"
        "assert b.llama_model_default_params().use_extra_bufts; _no_repack();"
        "assert not b.llama_model_default_params().use_extra_bufts; print('off')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert out.stdout.strip() == "off"
