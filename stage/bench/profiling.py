"""Where a stage turn's time goes: cProfile over a few turns, folded into the parts of the pipeline.

cProfile slows pure-Python code (LangChain, guards) more than it slows waiting, so read the parts as a map of
where time goes; the unprofiled lockstep numbers are the measurement.
"""

from __future__ import annotations

import cProfile
import pstats
import time
from typing import Any

from stage.scene import Scene, events_of
from stage.transcript import Action

# (label, file suffix, function name): cumulative time of each, summed over matches
PARTS: tuple[tuple[str, str, str], ...] = (
    ("model call through the seam", "stage/llm/openai_compat.py", "generate"),
    ("token counting (after streaming)", "stage/llm/local.py", "count_tokens"),
    ("server health check (ensure)", "stage/llm/local.py", "ensure"),
    ("context: history, retrieval, people", "stage/scene.py", "_context"),
    ("retrieval (lore store search)", "stage/lore/store.py", "search"),
    ("query embedding (MiniLM)", "stage/lore/embed.py", "__call__"),
    ("lore snapshot: scope, cosine, BM25, top-k", "stage/lore/snapshot.py", "rank"),
    ("prompt rendering (Jinja)", "stage/agents/context.py", "build_messages"),
    ("guards: clean", "stage/agents/guards.py", "clean"),
    ("guards: reject_reason", "stage/agents/guards.py", "reject_reason"),
    ("safety check", "stage/agents/safety.py", "check"),
    ("director: choose speaker", "stage/director/policy.py", "choose_speaker"),
    ("director: fold event into state", "stage/director/state.py", "apply"),
    ("transcript append", "stage/transcript.py", "append"),
)
WAITS = ("recv", "recv_into", "poll", "select", "read")  # blocking on a socket: time spent in llama.cpp


def _is_wait(file: str, name: str) -> bool:
    return file == "~" and any(f"'{w}'" in name for w in WAITS) and ("socket" in name or "select" in name)


def profile_turns(scene: Scene, turns: int, top: int = 15) -> dict[str, Any]:
    """Profile ``turns`` calls of ``scene.step``; per-turn milliseconds by part, and the top functions."""
    prof = cProfile.Profile()
    done = 0
    start = time.perf_counter()
    prof.enable()
    try:
        for _ in range(turns):
            if scene.ended:
                scene.direct(Action.GOTO, target="1")
            events_of(scene.step())
            done += 1
    finally:
        prof.disable()
    wall = time.perf_counter() - start
    stats: dict[tuple[str, int, str], tuple[int, int, float, float, Any]] = pstats.Stats(prof).stats  # type: ignore[attr-defined]
    per = 1000 / max(1, done)
    parts: dict[str, float] = {}
    for label, suffix, name in PARTS:
        total = sum(
            ct for (f, _l, fn), (_cc, _nc, _tt, ct, _c) in stats.items() if fn == name and f.endswith(suffix)
        )
        parts[label] = round(total * per, 2)
    waiting = sum(tt for (f, _l, fn), (_cc, _nc, tt, _ct, _c) in stats.items() if _is_wait(f, fn))
    rows = sorted(
        (
            (tt, ct, nc, f, ln, fn)
            for (f, ln, fn), (_cc, nc, tt, ct, _c) in stats.items()
            if not _is_wait(f, fn)
        ),
        reverse=True,
    )[:top]
    return {
        "turns": done,
        "wall_ms_per_turn": round(wall * per, 1),
        "waiting_on_model_server_ms_per_turn": round(waiting * per, 1),
        "stage_cpu_ms_per_turn": round((wall - waiting) * per, 1),
        "seam_cpu_ms_per_turn": round(
            max(0.0, parts[PARTS[0][0]] - waiting * per), 1
        ),  # LangChain, openai, httpx
        "parts_ms_per_turn": parts,
        "top_self_time": [
            {
                "function": f"{_short(f)}:{ln}:{fn}",
                "self_ms_per_turn": round(tt * per, 2),
                "cum_ms_per_turn": round(ct * per, 2),
                "calls_per_turn": round(nc / max(1, done), 1),
            }
            for tt, ct, nc, f, ln, fn in rows
        ],
    }


def _short(path: str) -> str:
    for marker in ("site-packages/", "/stage/"):
        if marker in path:
            head = "" if marker == "site-packages/" else "stage/"
            return head + path.split(marker, 1)[1]
    return path
