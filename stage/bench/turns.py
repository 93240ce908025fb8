"""Overhead and growth, measured in lockstep on one scene.

Three identical llama.cpp servers: the stage plays its scene on the first; every model call it made is replayed
raw (httpx, same messages and parameters) on the second; the naive loop plays the same speakers on the third.
The first two see the same requests in the same order, so their prompt caches hold the same states and the
comparison is fair; the phases alternate order from turn to turn so the machine's noise falls on all of them.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import httpx

from stage.llm.base import TextDelta
from stage.scene import Scene, Wrote
from stage.transcript import Action, Event, Turn

from .instrument import Recording, TimedRetriever
from .naive import NaiveLoop, NaiveTurn
from .raw import RawResult, stream_chat
from .serverlog import ServerLog
from .stats import median, percentile, ratio, rounded

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TurnRecord:
    turn: int
    speaker: str
    beat: str
    cold: bool  # the speaker's first turn: its persona prefix was not in the prompt cache yet
    stage_ms: float  # Scene.step wall time: director, retrieval, prompt, model (all attempts), guards, log
    stage_ttft_ms: float  # Scene.step start -> first streamed token
    model_ttft_ms: float  # first model call: request -> first token
    stage_prompt_tokens: int  # prompt of the first call
    stage_tokens: int  # completion tokens over all calls
    calls: int  # 1 + regenerations
    rejected: tuple[str, ...]  # why the guards threw candidates away
    seam_ms: float  # model calls through the seam (LangChain client, wrappers, token counting)
    retrieval_ms: float
    raw_ms: float  # the same calls replayed raw
    raw_ttft_ms: float
    raw_tokens: int
    stage_evaluated_tokens: int  # prompt tokens llama.cpp evaluated for the first call (not from its cache)
    naive_prompt_tokens: int
    naive_evaluated_tokens: int
    naive_ttft_ms: float | None
    naive_ms: float | None
    naive_overflow: bool


def lockstep(
    scene: Scene,
    recorder: Recording,
    retrieval: TimedRetriever,
    raw_client: httpx.Client,
    raw_url: str,
    naive: NaiveLoop,
    turns: int,
    logs: tuple[ServerLog, ServerLog] | None = None,
    settle_s: float = 0.05,
    progress: Callable[[int], None] | None = None,
) -> list[TurnRecord]:
    """Play ``turns`` stage turns; after each, its raw replay and one naive turn (orders alternate)."""
    records: list[TurnRecord] = []
    seen: set[str] = set()
    for n in range(1, turns + 1):
        if scene.ended:  # a long run wraps around rather than stopping short
            scene.direct(Action.GOTO, target="1")
        p: dict[str, Any] = {}
        phases: dict[str, Callable[[], None]] = {
            "stage": partial(_stage_phase, scene, recorder, retrieval, p),
            "raw": partial(_raw_phase, raw_client, raw_url, recorder, p),
            "naive": partial(_naive_phase, naive, scene, p),
        }
        # stage and raw alternate A/B turn after turn; the naive turn (it needs the stage's speaker) sits
        # after both or between them
        for name in ("stage", "raw", "naive") if n % 2 else ("stage", "naive", "raw"):
            phases[name]()
            time.sleep(settle_s)  # let the last server's threads go idle before the next one starts
        if logs is not None:  # read after the settle pause: the server has written its timings by then
            p["stage_evals"], p["naive_evals"] = logs[0].new(), logs[1].new()
        records.append(_record(n, p, recorder, seen))
        if progress is not None:
            progress(n)
    return records


def _stage_phase(scene: Scene, recorder: Recording, retrieval: TimedRetriever, p: dict[str, Any]) -> None:
    recorder.calls.clear()
    retrieval.ms.clear()
    first: list[float] = []
    events: list[Event] = []
    start = time.perf_counter()
    for item in scene.step():
        if isinstance(item, TextDelta) and not first:
            first.append(time.perf_counter())
        elif isinstance(item, Wrote):
            events.append(item.event)
    end = time.perf_counter()
    p["stage_ms"] = (end - start) * 1000
    p["stage_ttft_ms"] = ((first[0] if first else end) - start) * 1000
    p["turn"] = next(e for e in events if isinstance(e, Turn))
    p["retrieval_ms"] = sum(retrieval.ms)


def _raw_phase(client: httpx.Client, url: str, recorder: Recording, p: dict[str, Any]) -> None:
    p["raw"] = [stream_chat(client, url, c.messages, c.params) for c in recorder.calls]


def _naive_phase(naive: NaiveLoop, scene: Scene, p: dict[str, Any]) -> None:
    turn: Turn = p["turn"]
    p["naive"] = naive.turn(turn.speaker, scene.story.plot.beat(turn.beat))


def _record(n: int, p: dict[str, Any], recorder: Recording, seen: set[str]) -> TurnRecord:
    turn: Turn = p["turn"]
    raw: list[RawResult] = p["raw"]
    naive: NaiveTurn = p["naive"]
    calls = recorder.calls
    cold = turn.speaker not in seen
    seen.add(turn.speaker)
    return TurnRecord(
        turn=n,
        speaker=turn.speaker,
        beat=turn.beat,
        cold=cold,
        stage_ms=round(p["stage_ms"], 2),
        stage_ttft_ms=round(p["stage_ttft_ms"], 2),
        model_ttft_ms=round(calls[0].completion.usage.ttft_ms, 2) if calls else 0.0,
        stage_prompt_tokens=calls[0].completion.usage.prompt_tokens if calls else 0,
        stage_tokens=sum(c.completion.usage.completion_tokens for c in calls),
        calls=len(calls),
        rejected=tuple(f.split(":", 1)[1] for f in turn.flags if f.startswith("rejected:")),
        seam_ms=round(sum(c.ms for c in calls), 2),
        retrieval_ms=round(p["retrieval_ms"], 2),
        raw_ms=round(sum(r.latency_ms for r in raw), 2),
        raw_ttft_ms=round(raw[0].ttft_ms, 2) if raw else 0.0,
        raw_tokens=sum(r.tokens for r in raw),
        stage_evaluated_tokens=p["stage_evals"][0].tokens if p.get("stage_evals") else -1,
        naive_prompt_tokens=naive.prompt_tokens,
        naive_evaluated_tokens=p["naive_evals"][0].tokens if p.get("naive_evals") else -1,
        naive_ttft_ms=None if naive.overflow else round(naive.ttft_ms, 2),
        naive_ms=None if naive.overflow else round(naive.latency_ms, 2),
        naive_overflow=naive.overflow,
    )


def overhead(records: list[TurnRecord], target: float = 1.10) -> dict[str, Any]:
    """Stage turn vs the raw replay of the same calls: per turn, per token, per call; where the extra goes."""
    rs = [r for r in records if r.raw_ms > 0 and r.calls]
    per_turn = [r.stage_ms / r.raw_ms for r in rs]
    per_token = [
        (r.stage_ms / r.stage_tokens) / (r.raw_ms / r.raw_tokens)
        for r in rs
        if r.stage_tokens and r.raw_tokens
    ]
    per_call = [r.seam_ms / r.raw_ms for r in rs]
    ratio_turn = median(per_turn)
    return {
        "turns": len(rs),
        "target": target,
        "ok": ratio_turn is not None and ratio_turn <= target,
        "per_turn_ratio": rounded(ratio_turn, 3),
        "per_turn_ratio_p95": rounded(percentile(per_turn, 95), 3),
        "per_token_ratio": rounded(median(per_token), 3),
        "seam_call_ratio": rounded(median(per_call), 3),
        "ratio_of_medians": rounded(ratio(median(r.stage_ms for r in rs), median(r.raw_ms for r in rs)), 3),
        "stage_turn_ms": rounded(median(r.stage_ms for r in rs)),
        "raw_turn_ms": rounded(median(r.raw_ms for r in rs)),
        "model_calls_per_turn": rounded(sum(r.calls for r in rs) / len(rs), 2) if rs else None,
        "rejections": dict(Counter(x.split(":")[0] for r in rs for x in r.rejected).most_common()),
        "same_token_count": rounded(
            sum(1 for r in rs if r.stage_tokens == r.raw_tokens) / len(rs) if rs else None, 3
        ),
        "extra_ms": {  # medians of what the stage spends beyond the raw calls, by part
            "total": rounded(median(r.stage_ms - r.raw_ms for r in rs)),
            "retrieval": rounded(median(r.retrieval_ms for r in rs)),
            "client_and_wrappers": rounded(median(r.seam_ms - r.raw_ms for r in rs)),
            "director_prompt_guards_log": rounded(
                median(r.stage_ms - r.seam_ms - r.retrieval_ms for r in rs)
            ),
        },
    }


def growth(
    records: list[TurnRecord], checkpoints: tuple[int, ...], window: int, target: float = 1.3
) -> dict[str, Any]:
    """TTFT and prompt tokens at each checkpoint: medians of the ``window`` turns ending there (cold turns,
    where a character speaks for the first time and its persona is not cached yet, left out)."""
    by_turn = {r.turn: r for r in records}
    points: dict[str, dict[str, Any]] = {}
    for c in checkpoints:
        if c not in by_turn:
            continue
        span = [by_turn[t] for t in range(max(1, c - window + 1), c + 1) if t in by_turn]
        warm = [r for r in span if not r.cold] or span
        naive = [r for r in warm if not r.naive_overflow]
        points[str(c)] = {
            "turns": [r.turn for r in warm],
            "stage_evaluated_tokens": rounded(median(r.stage_evaluated_tokens for r in warm), 1),
            "naive_evaluated_tokens": rounded(median(r.naive_evaluated_tokens for r in naive), 1)
            if naive
            else None,
            "stage_ttft_ms": rounded(median(r.stage_ttft_ms for r in warm)),
            "stage_model_ttft_ms": rounded(median(r.model_ttft_ms for r in warm)),
            "stage_prompt_tokens": rounded(median(r.stage_prompt_tokens for r in warm), 1),
            "naive_ttft_ms": rounded(median(r.naive_ttft_ms or 0.0 for r in naive)) if naive else None,
            "naive_prompt_tokens": by_turn[c].naive_prompt_tokens or None,
            "naive_overflowed": by_turn[c].naive_overflow,
        }
    done = [k for k in points if points[k]["stage_ttft_ms"]]
    first, last = (points[done[0]], points[done[-1]]) if done else ({}, {})
    stage_ratio = ratio(last.get("stage_ttft_ms"), first.get("stage_ttft_ms")) if len(done) > 1 else None
    overflow = next((r.turn for r in records if r.naive_overflow), None)
    return {
        "checkpoints": points,
        "window": window,
        "target": target,
        "stage_ttft_ratio_last_to_first": rounded(stage_ratio, 3),
        "ok": stage_ratio is not None and stage_ratio <= target,
        "stage_prompt_tokens_max": max((r.stage_prompt_tokens for r in records), default=0),
        "naive_prompt_tokens_max": max((r.naive_prompt_tokens for r in records), default=0),
        "naive_overflow_turn": overflow,
    }
