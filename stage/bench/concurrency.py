"""Simultaneous sessions: turns per minute, latency and errors at 1, 4 and 8 sessions.

The real path launches ``stage serve`` on a free port and drives each session with its own ``gradio_client``
(one Gradio session each, as browser tabs are). When the app cannot be started, the same load runs as
``Scene`` objects on threads sharing one model and a one-turn-at-a-time lock, as the app's sessions do; the
result says which path produced it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from stage.agents.retrieval import Retriever
from stage.errors import StageError
from stage.llm.base import ChatModel, GenParams
from stage.llm.local import free_port, stop_process
from stage.scene import Scene, events_of
from stage.types import Story

from .machine import Watch
from .stats import summary

log = logging.getLogger(__name__)

STEP_API = "/step"  # one character turn in the caller's session (stage/ui/app.py)
EVENTS_API = "/events"  # the session's transcript events, as dicts


def run_level(
    sessions: int, work: Callable[[int, threading.Barrier], tuple[list[float], int]]
) -> dict[str, Any]:
    """Run ``work(i, barrier)`` on ``sessions`` threads released together; gather latencies and errors."""
    barrier = threading.Barrier(sessions + 1)
    results: list[tuple[list[float], int]] = [([], 0)] * sessions

    def run(i: int) -> None:
        try:
            results[i] = work(i, barrier)
        except threading.BrokenBarrierError:
            results[i] = ([], 1)

    threads = [threading.Thread(target=run, args=(i,), daemon=True) for i in range(sessions)]
    for t in threads:
        t.start()
    barrier.wait(timeout=600)
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    latencies = [x for lat, _ in results for x in lat]
    errors = sum(e for _, e in results)
    return {
        "sessions": sessions,
        "turns": len(latencies),
        "errors": errors,
        "wall_s": round(wall, 2),
        "turns_per_min": round(len(latencies) / wall * 60, 2) if wall > 0 else None,
        "latency_ms": summary(latencies, 1),
    }


# -- through the running app ------------------------------------------------------------------------------


class AppProcess:
    """``stage serve`` on a free port with its own STAGE_HOME (its model server is its child)."""

    def __init__(self, home: Path, max_tokens: int, startup_timeout: float = 300.0) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/"
        env = {k: v for k, v in os.environ.items() if not k.startswith("STAGE_")}
        env.update(
            STAGE_HOME=str(home),
            STAGE_BACKEND="local",
            STAGE_MAX_TOKENS=str(max_tokens),
            GRADIO_ANALYTICS_ENABLED="False",
            HF_HUB_OFFLINE="1",
            TRANSFORMERS_OFFLINE="1",
        )
        home.mkdir(parents=True, exist_ok=True)
        self.log_path = home / "app.log"
        with open(self.log_path, "ab") as logf:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "stage.cli", "serve", "--port", str(self.port)],
                stdout=logf,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=env,
            )
        self.watch = Watch(self.proc.pid)
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise StageError(
                    f"stage serve exited at start (code {self.proc.returncode}); see {self.log_path}"
                )
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(self.url, timeout=2.0).status_code == 200:
                    return
            time.sleep(0.5)
        self.stop()
        raise StageError(f"stage serve did not answer within {startup_timeout:.0f} s; see {self.log_path}")

    def memory(self) -> dict[str, float | int | None]:
        """Peak RSS of the app and of its model server; how many server processes it started (restarts)."""
        self.watch.sample()
        return {
            "app_peak_rss_mb": self.watch.root_mb or None,
            "app_model_server_peak_rss_mb": self.watch.child_mb or None,
            "app_model_server_processes": len(self.watch.child_pids),
        }

    def stop(self) -> None:
        self.watch.stop()
        stop_process(self.proc, timeout=20)


WARM_TURNS = 4  # untimed turns through the app before the levels: every character of the first beat speaks


def _turn_count(client: Any) -> int:
    events = client.predict(api_name=EVENTS_API)
    return sum(1 for e in events if isinstance(e, dict) and e.get("kind") == "turn")


def through_app(app: AppProcess, beat: str, levels: tuple[int, ...], turns: int) -> list[dict[str, Any]]:
    """Each session: its own ``gradio_client.Client``; a turn is one ``/step`` call, checked in ``/events``."""
    from gradio_client import Client

    # warm the app's fresh model server first (an untimed session): the first turn of each character evaluates
    # its whole persona prefix, which later turns take from llama.cpp's prompt cache; the thread sessions run
    # on a server the lockstep scene has already warmed, so without this the two modes are not comparable
    warm = Client(app.url, verbose=False)
    for _ in range(WARM_TURNS):
        with contextlib.suppress(Exception):
            warm.predict(beat, api_name=STEP_API)
    with contextlib.suppress(Exception):
        warm.close()
    out = []
    for n in levels:
        clients = [Client(app.url, verbose=False) for _ in range(n)]

        def work(i: int, barrier: threading.Barrier, clients: list[Any] = clients) -> tuple[list[float], int]:
            client = clients[i]
            latencies: list[float] = []
            errors = 0
            barrier.wait(timeout=600)
            for _ in range(turns):
                try:
                    before = _turn_count(client)
                    start = time.perf_counter()
                    client.predict(beat, api_name=STEP_API)
                    elapsed = (time.perf_counter() - start) * 1000
                    if _turn_count(client) > before:
                        latencies.append(elapsed)
                    else:
                        errors += 1
                except Exception as exc:
                    log.warning("session %d: a turn through the app failed: %s", i, exc)
                    errors += 1
            return latencies, errors

        out.append(run_level(n, work))
        for c in clients:
            with contextlib.suppress(Exception):
                c.close()
    return out


# -- stand-in: scenes on threads --------------------------------------------------------------------------


def scene_threads(
    story: Story,
    model: ChatModel,
    retriever: Retriever,
    params: GenParams,
    levels: tuple[int, ...],
    turns: int,
    seed: int,
) -> list[dict[str, Any]]:
    """Sessions as ``Scene`` objects on threads, sharing the model (and its endpoint's gate) and retriever."""
    out = []
    for n in levels:
        scenes = [Scene.new(story, model, retriever, None, params, seed=seed + i) for i in range(n)]

        def work(i: int, barrier: threading.Barrier, scenes: list[Scene] = scenes) -> tuple[list[float], int]:
            latencies: list[float] = []
            errors = 0
            barrier.wait(timeout=600)
            for _ in range(turns):
                start = time.perf_counter()
                try:
                    events_of(scenes[i].step())
                    latencies.append((time.perf_counter() - start) * 1000)
                except StageError as exc:
                    log.warning("session %d: a turn failed: %s", i, exc)
                    errors += 1
            return latencies, errors

        out.append(run_level(n, work))
    return out
