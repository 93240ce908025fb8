"""Sessions against a remote endpoint with known capacity (``sim_endpoint``): does the stage use it?

Each session plays turns as a character turn calls the model: ``candidates`` calls one after another, all
with the turn's ``since``, through the stage's own seam (``make_model``: the endpoint's gate, retries, the
LangChain client). The model's speed is fixed by the simulated server, so throughput across levels shows
the stage's concurrency alone: up to the endpoint's slots it should grow with the sessions, past them calls
queue (in the gate) and none fails. Scenes are left out on purpose: their CPU work (retrieval, scoring) on
2 cores is measured by the app and thread runs.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import threading
import time
from dataclasses import replace
from typing import Any

import httpx

from stage.errors import StageError
from stage.llm import complete, make_model
from stage.llm.base import GenParams
from stage.llm.local import free_port, stop_process
from stage.settings import Settings
from stage.types import Message

from .concurrency import run_level

MESSAGES = [Message("system", "You are a character in a story."), Message("user", "Say something.")]


class SimProcess:
    """The simulated endpoint in a process of its own (its streaming must not share this one's GIL)."""

    def __init__(self, slots: int, token_ms: float, tokens: int, startup_timeout: float = 30.0) -> None:
        self.port = free_port()
        cmd = [sys.executable, "-m", "stage.bench.sim_endpoint", "--port", str(self.port), "--slots", str(slots)]
        cmd += ["--token-ms", str(token_ms), "--tokens", str(tokens)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.root, timeout=1.0).status_code == 200:
                    return
            if self.proc.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        raise StageError(f"the simulated endpoint did not start on port {self.port}")

    @property
    def root(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stats(self, reset: bool = False) -> dict[str, Any]:
        """Requests served, and most at once since the last reset."""
        with contextlib.suppress(httpx.HTTPError, ValueError):
            return dict(httpx.get(self.root + ("/?reset=1" if reset else "/"), timeout=5.0).json())
        return {}

    def stop(self) -> None:
        stop_process(self.proc)


def remote_levels(
    levels: tuple[int, ...], turns: int, slots: int, token_ms: float = 40.0, tokens: int = 12, candidates: int = 4
) -> dict[str, Any]:
    """``levels`` of sessions with the stage's limit at the endpoint's ``slots``; then, as the baseline in the
    same run, the largest level up to 8 with a limit of 1 (one call at a time for everyone, as one lock gave)."""
    sim = SimProcess(slots, token_ms, tokens)
    try:
        out = _levels(sim, levels, turns, slots, tokens, candidates)
        base_n = max((n for n in levels if n <= 8), default=levels[0])
        baseline = _levels(sim, (base_n,), turns, 1, tokens, candidates)[0]
        one = next((lv["turns_per_min"] for lv in out if lv["sessions"] == 1), None)
        for lv in [*out, baseline]:
            if one and lv["turns_per_min"]:
                lv["speedup"] = round(lv["turns_per_min"] / one, 2)
                lv["ideal_speedup"] = min(lv["sessions"], slots if lv is not baseline else 1)
        at = max((n for n in levels if n <= slots), default=levels[0])
        got = next(lv for lv in out if lv["sessions"] == at)
        return {
            "mode": "remote (simulated endpoint)",
            "slots": slots,
            "token_ms": token_ms,
            "tokens": tokens,
            "candidates_per_turn": candidates,
            "turns_per_session": turns,
            "ideal_turn_ms": round(candidates * tokens * token_ms),
            "levels": out,
            "baseline_one_at_a_time": baseline,
            "served": sim.stats().get("served"),
            "target": f"at {at} sessions >= 0.8 x {at} x one session; 0 errors at every level",
            "ok": bool(
                one and got["turns_per_min"] >= 0.8 * at * one and all(lv["errors"] == 0 for lv in out)
            ),
        }
    finally:
        sim.stop()


def _levels(
    sim: SimProcess, levels: tuple[int, ...], turns: int, limit: int, tokens: int, candidates: int
) -> list[dict[str, Any]]:
    settings = Settings(
        backend="openai", base_url=f"{sim.root}/v1", model="sim", concurrency=limit, retries=2, timeout=60
    )
    model = make_model(settings)
    params = GenParams(max_tokens=tokens, temperature=0.0)
    out = []
    for n in levels:

        def work(i: int, barrier: threading.Barrier) -> tuple[list[float], int]:
            latencies: list[float] = []
            errors = 0
            barrier.wait(timeout=600)
            for _ in range(turns):
                start = time.perf_counter()
                since = time.monotonic()
                try:
                    for _ in range(candidates):
                        complete(model, MESSAGES, replace(params, since=since))
                    latencies.append((time.perf_counter() - start) * 1000)
                except StageError:
                    errors += 1
            return latencies, errors

        level = run_level(n, work)
        level["limit"] = limit
        level["server_peak_busy"] = sim.stats(reset=True).get("peak")
        out.append(level)
    return out
