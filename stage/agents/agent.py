"""One character's turn: context -> model (through the seam) -> guards -> a ``Turn`` event, regenerating when needed."""

from __future__ import annotations

import logging
import random
import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from stage.agents import guards, safety
from stage.agents.context import TurnContext, build_messages, instructions_of
from stage.llm.base import ChatModel, GenParams, RetryCallback, TokenCallback
from stage.transcript import Turn
from stage.types import Completion

log = logging.getLogger(__name__)

MAX_REGENERATIONS = 2


@dataclass(frozen=True)
class Reply:
    turn: Turn
    rejected: tuple[str, ...]  # why earlier candidates were thrown away
    safety_category: str = ""  # set when the model's output was refused by the content policy


def stop_sequences(others: Sequence[str]) -> tuple[str, ...]:
    """Stop where the model starts a line for someone else (the guard still cuts any that slip through)."""
    stops = ["\n", "<|im_end|>"]  # a spoken turn is one line
    stops += [f"\n{n}:" for n in others][:8]
    return tuple(stops[:10])


def speak(
    model: ChatModel,
    ctx: TurnContext,
    all_names: Mapping[str, str],
    recent_texts: Sequence[str],
    params: GenParams,
    other_speakers: Sequence[str],
    rng: random.Random,
    absent: Sequence[str] = (),
    on_token: TokenCallback | None = None,
    on_retry: RetryCallback | None = None,
) -> Reply:
    """Generate, guard, and regenerate (bounded) until a reply may stand; fall back to the persona's own line."""
    p = ctx.persona
    messages = build_messages(ctx, all_names)
    instructions = instructions_of(ctx)
    params = replace(params, stop=params.stop or stop_sequences(other_speakers))
    rejected: list[str] = []
    gl = guards.GuardLog()
    totals = {"prompt": 0, "completion": 0, "latency": 0.0, "attempts": 0}
    first: Completion | None = None
    text = ""
    category = ""
    for attempt in range(MAX_REGENERATIONS + 1):
        if attempt:
            if on_retry is not None:
                on_retry(attempt, f"regenerating: {rejected[-1]}")
            params = replace(
                params,
                temperature=min(1.2, params.temperature + 0.15),
                seed=None if params.seed is None else params.seed + attempt,
            )
        completion = model.generate(messages, params, on_token, on_retry)
        first = first or completion
        totals["prompt"] += completion.usage.prompt_tokens
        totals["completion"] += completion.usage.completion_tokens
        totals["latency"] += completion.usage.latency_ms
        totals["attempts"] += completion.usage.attempts
        text = guards.clean(completion.text, p.name, other_speakers, gl)
        start = time.perf_counter()
        verdict = safety.check(text)
        gl.ms["safety"] = gl.ms.get("safety", 0.0) + (time.perf_counter() - start) * 1000
        if not verdict.allowed:
            category = verdict.category
            rejected.append(f"unsafe:{verdict.category}")
            continue
        start = time.perf_counter()
        reason = guards.reject_reason(text, p.name, recent_texts, instructions=instructions)
        gl.ms["reject"] = gl.ms.get("reject", 0.0) + (time.perf_counter() - start) * 1000
        if not reason:
            category = ""
            break
        rejected.append(reason)
    else:
        text = fallback_line(p.voice.examples, recent_texts, rng, absent)
        gl.flags.append("fallback")
    assert first is not None
    turn = Turn(
        beat=ctx.beat.id,
        speaker=p.id,
        text=text,
        model=first.model,
        prompt_tokens=int(totals["prompt"]),
        completion_tokens=int(totals["completion"]),
        ttft_ms=round(first.usage.ttft_ms, 1),
        latency_ms=round(float(totals["latency"]), 1),
        regenerations=len(rejected) if "fallback" not in gl.flags else MAX_REGENERATIONS + 1,
        attempts=int(totals["attempts"]),
        flags=tuple(dict.fromkeys(gl.flags + [f"rejected:{r}" for r in rejected])),
        guard_ms={k: round(v, 3) for k, v in gl.ms.items()},
        lore_ids=tuple(h.chunk.id for h in ctx.lore),
    )
    return Reply(turn, tuple(rejected), category)


def fallback_line(
    examples: Sequence[str], recent: Sequence[str], rng: random.Random, absent: Sequence[str] = ()
) -> str:
    """When every candidate was rejected, the character says one of its own lines: not one heard recently,
    and preferably not one that names someone who is not here."""
    fresh = [e for e in examples if all(guards.similarity(e, r) < 0.5 for r in recent)] or list(examples)
    fitting = [e for e in fresh if not any(re.search(rf"\b{re.escape(n)}\b", e) for n in absent)]
    return rng.choice(fitting or fresh)
