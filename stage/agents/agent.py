"""One character's turn: context -> model (through the seam) -> guards -> a ``Turn`` event, regenerating when needed.

``speak`` is a generator: text deltas and retries as they happen, then the ``Reply``."""

from __future__ import annotations

import random
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

from stage.agents import guards, safety
from stage.agents.context import TurnContext, build_messages, instructions_of
from stage.llm.base import ChatModel, Done, GenParams, Retry, TextDelta
from stage.transcript import Turn
from stage.types import Completion, Usage

MAX_REGENERATIONS = 2


@dataclass(frozen=True)
class Reply:
    """The last thing ``speak`` yields."""

    turn: Turn
    safety_category: str = ""  # set when the model's output was refused by the content policy


SpeakProgress = TextDelta | Retry | Reply


def stop_sequences(others: Sequence[str]) -> tuple[str, ...]:
    """Stop where the model starts a line for someone else (the guard still cuts any that slip through)."""
    stops = ["\n", "<|im_end|>"]  # a spoken turn is one line
    stops += [f"\n{n}:" for n in others][:8]
    return tuple(stops[:10])


def speak(model: ChatModel, ctx: TurnContext, params: GenParams, *, rng: random.Random) -> Iterator[SpeakProgress]:
    """Generate, guard, and regenerate (bounded) until a reply may stand; fall back to the persona's own line."""
    p = ctx.persona
    messages = build_messages(ctx)
    instructions = instructions_of(ctx)
    params = replace(params, stop=params.stop or stop_sequences(ctx.others))
    rejected: list[str] = []
    gl = guards.GuardLog()
    usage: Usage | None = None
    first: Completion | None = None
    text = ""
    category = ""
    for attempt in range(MAX_REGENERATIONS + 1):
        if attempt:
            yield Retry(attempt, f"regenerating: {rejected[-1]}")
            params = replace(
                params,
                temperature=min(1.2, params.temperature + 0.15),
                seed=None if params.seed is None else params.seed + attempt,
            )
        completion: Completion | None = None
        for chunk in model.stream(messages, params):
            if isinstance(chunk, Done):
                completion = chunk.completion
            else:
                yield chunk
        assert completion is not None, "a model stream ends with Done"
        first = first or completion
        usage = completion.usage if usage is None else usage + completion.usage
        text = guards.clean(completion.text, p.name, ctx.others, gl)
        verdict = gl.timed("safety", partial(safety.check, text))
        if not verdict.allowed:
            category = verdict.category
            rejected.append(f"unsafe:{verdict.category}")
            continue
        reason = gl.timed(
            "reject", partial(guards.reject_reason, text, p.name, ctx.heard, instructions=instructions)
        )
        if not reason:
            category = ""
            break
        rejected.append(reason)
    else:
        text = fallback_line(p.voice.examples, ctx.heard, rng, ctx.absent)
        gl.flags.append("fallback")
    assert first is not None and usage is not None
    turn = Turn(
        beat=ctx.beat.id,
        speaker=p.id,
        text=text,
        model=first.model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        ttft_ms=round(first.usage.ttft_ms, 1),
        latency_ms=round(usage.latency_ms, 1),
        regenerations=len(rejected) if "fallback" not in gl.flags else MAX_REGENERATIONS + 1,
        attempts=usage.attempts,
        flags=tuple(dict.fromkeys(gl.flags + [f"rejected:{r}" for r in rejected])),
        guard_ms={k: round(v, 3) for k, v in gl.ms.items()},
        lore_ids=tuple(h.chunk.id for h in ctx.lore),
    )
    yield Reply(turn, category)


def fallback_line(
    examples: Sequence[str], recent: Sequence[str], rng: random.Random, absent: Sequence[str] = ()
) -> str:
    """When every candidate was rejected, the character says one of its own lines: not one heard recently,
    and preferably not one that names someone who is not here."""
    fresh = [e for e in examples if all(guards.similarity(e, r) < 0.5 for r in recent)] or list(examples)
    fitting = [e for e in fresh if not any(re.search(rf"\b{re.escape(n)}\b", e) for n in absent)]
    return rng.choice(fitting or fresh)
