"""One benchmark run: servers up, lockstep turns, profile, sessions, retrieval; results as a dict."""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import httpx
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from stage import runtime
from stage.errors import StageError
from stage.llm import local as local_llm
from stage.llm.base import GenParams
from stage.llm.limits import Limited, gate_for
from stage.llm.local import LocalModel, LocalServer
from stage.llm.wrappers import Retrying
from stage.scene import Scene
from stage.settings import Settings
from stage.types import Story

from . import alternating, concurrency, machine, profiling, remote, retrieval, turns
from .instrument import Recording, TimedRetriever
from .naive import NaiveLoop
from .plan import Plan
from .serverlog import ServerLog

log = logging.getLogger(__name__)


def long_story(story: Story) -> Story:
    """Every beat runs its whole turn budget (no early exit), so a 100-turn scene is a long one."""
    beats = tuple(replace(b, min_turns=b.turn_budget) for b in story.plot.beats)
    return replace(story, plot=replace(story.plot, beats=beats))


@contextmanager
def server_env(plan: Plan) -> Iterator[None]:
    """``OMP_WAIT_POLICY`` for servers started inside (they copy this process's environment).

    llama.cpp's OpenMP threads spin at every barrier by default; when another process wants the same two cores
    (another server, tests, evals) each token waits for time slices and calls get 10-30 times slower
    (bench/README.md). PASSIVE makes waiting threads sleep, so a shared machine gives usable numbers."""
    old = os.environ.get("OMP_WAIT_POLICY")
    if plan.omp_wait_policy:
        os.environ["OMP_WAIT_POLICY"] = plan.omp_wait_policy
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("OMP_WAIT_POLICY", None)
        else:
            os.environ["OMP_WAIT_POLICY"] = old


def _server(home: Path, name: str, settings: Settings, cache_mb: int | None) -> LocalServer:
    """A server as ``stage.llm.local`` starts it (``settings.slots`` slots), optionally with another RAM prompt
    cache size."""
    server = LocalServer(
        home / name,
        n_threads=settings.n_threads,
        n_ctx=settings.n_ctx,
        slots=settings.slots,
        cache_mib=local_llm.CACHE_MIB if cache_mb is None else cache_mb,
    )
    server.ensure()
    return server


def _model(server: LocalServer, settings: Settings) -> Retrying:
    """The stage's own stack (``stage.llm.make_model``), pointed at one of the bench's servers."""
    limited = Limited(LocalModel(server, settings.timeout), gate_for(f"bench server {server.home}", server.slots))
    return Retrying(limited, retries=settings.retries, backoff=settings.backoff)


@contextmanager
def phase(results: dict[str, Any], name: str) -> Iterator[None]:
    """Record how long a phase took and the machine's load around it (others share these cores)."""
    start, load = time.perf_counter(), _load()
    try:
        yield
    finally:
        results.setdefault("phases", []).append(
            {"phase": name, "seconds": round(time.perf_counter() - start, 1), "load_1m": [load, _load()]}
        )


def _load() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except OSError:
        return None


def run_plan(plan: Plan, settings: Settings, console: Console | None = None, seed: int = 7) -> dict[str, Any]:
    """Run ``plan`` and return the results (JSON-ready). Servers and stores live in a temporary folder."""
    console = console or Console(stderr=True)
    started = time.time()
    results: dict[str, Any] = {
        "schema": 1,
        "mode": plan.name,
        "machine": machine.describe(),
        "plan": asdict(plan),
        "settings": {
            "max_tokens": plan.max_tokens,
            "temperature": 0.0,
            "seed": seed,
            "n_ctx": settings.n_ctx,
            "n_threads": settings.n_threads,
            "server_cache_mb": plan.server_cache_mb or local_llm.CACHE_MIB,
            "server_slots": settings.slots,
            "server_omp_wait_policy": plan.omp_wait_policy or "default (active spin)",
        },
    }
    story = runtime.story(settings)
    with tempfile.TemporaryDirectory(prefix="stage-bench-") as tmp:
        home = Path(tmp)
        local = settings.model_copy(update={"home": home, "chroma_url": ""})
        console.print("[bold]stage bench[/]: starting three llama.cpp servers and indexing the lore…")
        servers = {
            name: _server(home, name, settings, plan.server_cache_mb) for name in ("stage", "raw", "naive")
        }
        try:
            store = runtime.retriever(local, story)
            with phase(results, "turns and profile"):
                _turns_and_profile(plan, settings, story, servers, store, results, console, seed)
            memory: dict[str, Any] = {
                f"model_server_{n}_peak_rss_mb": machine.peak_rss_mb(s.proc.pid)
                for n, s in servers.items()
                if s.proc
            }
            for name in ("raw", "naive"):
                servers[name].stop()
            with phase(results, "concurrency"):
                _concurrency(plan, settings, story, servers["stage"], store, home, results, memory, console)
            results["memory"] = memory
            if plan.alternating_rounds:
                console.print(f"five characters alternating: {plan.alternating_rounds} rounds, "
                              f"{settings.slots} slots against one…")
                with phase(results, "alternating characters"):
                    results["alternating"] = alternating.alternating(
                        story, settings, home, plan.alternating_rounds, plan.levels, 3, plan.max_tokens
                    )
        finally:
            for s in servers.values():
                s.stop()
        if plan.remote_levels:
            console.print(
                f"remote: {', '.join(map(str, plan.remote_levels))} sessions against a simulated endpoint "
                f"with {plan.remote_slots} slots…"
            )
            with phase(results, "remote endpoint"):
                results["remote"] = remote.remote_levels(plan.remote_levels, plan.session_turns, plan.remote_slots)
        if plan.retrieval_sizes:
            console.print(
                f"retrieval: synthetic lore at {', '.join(f'{n:,}' for n in plan.retrieval_sizes)} chunks…"
            )
            with phase(results, "retrieval"):
                measured = retrieval.measure(
                    story, plan.retrieval_sizes, plan.queries, seed, note=console.log
                )
            results["retrieval"] = {**measured, **retrieval.verdict(measured)}
            size = min(plan.retrieval_sizes)
            console.print(f"retrieval: the same at {size:,} chunks in a `chroma run` server…")
            with phase(results, "retrieval (chroma run)"):
                try:
                    results["retrieval_server"] = retrieval.measure_server(story, size, plan.queries, seed)
                except (OSError, RuntimeError) as exc:
                    results["retrieval_server"] = {"error": str(exc)}
    results["duration_s"] = round(time.time() - started, 1)
    return results


def _turns_and_profile(
    plan: Plan,
    settings: Settings,
    story: Story,
    servers: dict[str, LocalServer],
    store: Any,
    results: dict[str, Any],
    console: Console,
    seed: int,
) -> None:
    params = GenParams(max_tokens=plan.max_tokens, temperature=0.0, seed=seed)
    recorder = Recording(_model(servers["stage"], settings))
    timed = TimedRetriever(store)
    scene = Scene.new(long_story(story), recorder, timed, None, params, seed=seed, backend="local")
    with httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0)) as client:
        naive = NaiveLoop(story, servers["naive"], client, params, settings.n_ctx)
        columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        with Progress(*columns, console=console, transient=True) as bar:
            task = bar.add_task("turns: stage / raw / naive", total=plan.turns)
            logs = (ServerLog(servers["stage"].log_path), ServerLog(servers["naive"].log_path))
            records = turns.lockstep(
                scene, recorder, timed, client, servers["raw"].base_url, naive, plan.turns, logs,
                progress=lambda n: bar.update(task, completed=n),
            )  # fmt: skip
    results["turns"] = [asdict(r) for r in records]
    results["overhead"] = turns.overhead(records)
    results["growth"] = turns.growth(records, plan.checkpoints, plan.window)
    if plan.profile_turns:
        console.print(f"profile: {plan.profile_turns} stage turns under cProfile…")
        results["profile"] = profiling.profile_turns(scene, plan.profile_turns)


def _concurrency(
    plan: Plan,
    settings: Settings,
    story: Story,
    server: LocalServer,
    store: Any,
    home: Path,
    results: dict[str, Any],
    memory: dict[str, Any],
    console: Console,
) -> None:
    """Sessions through the app and/or as scene threads; ``results["concurrency"]`` lists each run."""
    runs: list[dict[str, Any]] = results.setdefault("concurrency", [])
    if not plan.levels:
        return
    app_ok = False
    if plan.concurrency in ("app", "auto", "both"):
        runs.append(_through_app(plan, story, home, memory, console))
        app_ok = not runs[-1].get("error")
        if not app_ok and plan.concurrency == "auto":
            console.print(
                f"[yellow]concurrency: the app path failed ({runs[-1]['error']}); using scene threads[/]"
            )
    if plan.concurrency in ("threads", "both") or (plan.concurrency == "auto" and not app_ok):
        console.print(f"concurrency: {', '.join(map(str, plan.levels))} scene threads sharing one model…")
        me = os.getpid()
        machine.reset_peak_rss(me)
        params = GenParams(max_tokens=plan.max_tokens, temperature=settings.temperature)
        levels = concurrency.scene_threads(
            story, _model(server, settings), store, params, plan.levels, plan.session_turns, seed=11
        )
        runs.append(
            {
                "mode": "scene-threads",
                "note": "Scene objects on threads sharing one model through its endpoint's gate (as the app); "
                "a stand-in for the app that leaves out Gradio and the app's server handling",
                "turns_per_session": plan.session_turns,
                "levels": levels,
            }
        )
        memory["bench_process_hosting_sessions_peak_rss_mb"] = machine.peak_rss_mb(me)
        if server.proc is not None:
            memory["model_server_stage_peak_rss_mb"] = machine.peak_rss_mb(server.proc.pid)


def _through_app(
    plan: Plan, story: Story, home: Path, memory: dict[str, Any], console: Console
) -> dict[str, Any]:
    console.print(f"concurrency: launching `stage serve`, then {', '.join(map(str, plan.levels))} sessions…")
    app: concurrency.AppProcess | None = None
    try:
        with server_env(plan):
            app = concurrency.AppProcess(home / "app", plan.max_tokens)
        levels = concurrency.through_app(app, story.plot.beats[0].id, plan.levels, plan.session_turns)
        memory.update(app.memory())
        run: dict[str, Any] = {"mode": "app", "turns_per_session": plan.session_turns, "levels": levels}
        if not any(lv["turns"] for lv in levels):
            run["error"] = f"no turn succeeded through the app; see {app.log_path}"
        run["app_log_warnings"] = _warnings(app.log_path)
        return run
    except (StageError, OSError, ImportError) as exc:
        return {"mode": "app", "error": str(exc), "levels": []}
    finally:
        if app is not None:
            app.stop()


def _warnings(path: Path, limit: int = 12) -> list[str]:
    """The app's WARNING/ERROR lines (distinct), which explain errors and slow turns."""
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found = [ln.strip() for ln in lines if ln.startswith(("WARNING", "ERROR"))]
    return list(dict.fromkeys(found))[:limit]
