"""How big a run is: the full benchmark, ``--quick`` (a couple of minutes), and ``tiny`` (the smoke test)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Plan:
    name: str
    turns: int  # lockstep turns: stage, raw replay, naive loop
    checkpoints: tuple[int, ...]  # turns at which growth is reported
    window: int  # turns ending at a checkpoint whose median is reported
    retrieval_sizes: tuple[int, ...]  # synthetic chunks
    queries: int  # timed searches per size
    levels: tuple[int, ...]  # simultaneous sessions
    session_turns: int  # turns each session plays per level
    profile_turns: int
    max_tokens: int = 24  # the prompt side is what grows; short replies keep the run short
    server_cache_mb: int | None = 256  # llama.cpp RAM prompt cache per bench server; None = the stage's own
    omp_wait_policy: str | None = (
        "PASSIVE"  # for the bench's llama.cpp servers; None = OpenMP's default (spin)
    )
    concurrency: str = "both"  # "app", "threads", "both", or "auto" (the app if it works, else threads)
    remote_levels: tuple[int, ...] = (1, 8, 32, 64)  # sessions against the simulated remote endpoint
    remote_slots: int = 32  # what that endpoint serves at once (and the stage's concurrency setting for it)
    alternating_rounds: int = 4  # rounds of the five characters' prompts: per-slot caches vs one slot


FULL = Plan("full", 100, (5, 25, 100), 5, (1000, 10000), 200, (1, 4, 8), 3, 6, concurrency="both")
# sessions play three turns each: one is too few to compare levels (the first turn of a level warms caches)
QUICK = Plan(
    "quick", 8, (5, 8), 3, (200,), 30, (1, 4), 3, 2, concurrency="threads", remote_levels=(1, 8, 32),
    alternating_rounds=2,
)  # fmt: skip
TINY = Plan(
    "tiny", 3, (1, 3), 2, (24,), 4, (1, 2), 1, 1, max_tokens=8, concurrency="threads", remote_levels=(1, 4),
    remote_slots=2, alternating_rounds=1,
)  # fmt: skip
PLANS = {p.name: p for p in (FULL, QUICK, TINY)}
