"""Synthetic ``TurnRecord``s with known timings, for the bench's summaries, table and plot."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from stage.bench.turns import TurnRecord

BASE = TurnRecord(
    turn=1,
    speaker="lyra",
    beat="bedtime",
    cold=False,
    stage_ms=1000.0,
    stage_ttft_ms=500.0,
    model_ttft_ms=450.0,
    stage_prompt_tokens=800,
    stage_tokens=20,
    calls=1,
    rejected=(),
    seam_ms=980.0,
    retrieval_ms=15.0,
    raw_ms=950.0,
    raw_ttft_ms=430.0,
    raw_tokens=20,
    stage_evaluated_tokens=200,
    naive_prompt_tokens=500,
    naive_evaluated_tokens=120,
    naive_ttft_ms=400.0,
    naive_ms=900.0,
    naive_overflow=False,
)


def record(turn: int, **fields: Any) -> TurnRecord:
    return replace(BASE, turn=turn, **fields)


def overflowed(turn: int, **fields: Any) -> TurnRecord:
    """A turn after the naive loop ran out of context (as ``lockstep`` records it)."""
    return record(
        turn,
        naive_prompt_tokens=0,
        naive_evaluated_tokens=-1,
        naive_ttft_ms=None,
        naive_ms=None,
        naive_overflow=True,
        **fields,
    )


def results(records: list[TurnRecord], **parts: Any) -> dict[str, Any]:
    """A results dict as ``run_plan`` returns it, from the parts given (the rest left out or empty)."""
    out: dict[str, Any] = {
        "mode": "synthetic",
        "settings": {"max_tokens": 24, "temperature": 0.0, "seed": 7, "n_ctx": 4096},
        "turns": [r.__dict__ for r in records],
    }
    out.update(parts)
    return out
