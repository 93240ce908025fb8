"""One character's turn: context -> model (through the seam) -> guards -> a ``Turn`` event, regenerating when needed.

``speak`` is a generator: text deltas and retries as they happen, then the ``Reply``."""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from functools import partial

from stage.agents import guards, safety
from stage.agents.context import TurnContext, build_messages, instructions_of, lore_lines
from stage.agents.facts import fact_sheet
from stage.agents.scorer import MODEL, MOMENT, RECALLED, Candidate, Scorer, Situation, best, relations_of
from stage.llm.base import ChatModel, Done, GenParams, Queued, Retry, TextDelta
from stage.transcript import Turn, UserLine, speaker_of
from stage.types import Completion, Usage

MAX_REGENERATIONS = 2


@dataclass(frozen=True)
class Reply:
    """The last thing ``speak`` yields."""

    turn: Turn
    safety_category: str = ""  # set when the model's output was refused by the content policy


SpeakProgress = TextDelta | Retry | Queued | Reply


def stop_sequences(others: Sequence[str]) -> tuple[str, ...]:
    """Stop where the model starts a line for someone else (the guard still cuts any that slip through)."""
    stops = ["\n", "<|im_end|>"]  # a spoken turn is one line
    stops += [f"\n{n}:" for n in others][:8]
    return tuple(stops[:10])


def speak(
    model: ChatModel, ctx: TurnContext, params: GenParams, *, rng: random.Random, scorer: Scorer | None = None
) -> Iterator[SpeakProgress]:
    """Sample ``params.candidates`` replies, guard each, let the scorer pick the best that may stand;
    sample again (bounded) when none may; else fall back to one of the persona's own lines."""
    p = ctx.persona
    messages = build_messages(ctx)
    instructions = instructions_of(ctx)
    # every call of this turn queues as one piece of work at the model's endpoint (limits.Gate)
    params = replace(params, stop=params.stop or stop_sequences(ctx.others), since=params.since or time.monotonic())
    n = max(1, params.candidates)
    situation = situation_of(ctx)
    gl = guards.GuardLog()
    usage: Usage | None = None
    first: Completion | None = None
    offered: list[Candidate] = []
    winner: Candidate | None = None
    category = ""
    rounds = 0
    for attempt in range(MAX_REGENERATIONS + 1):
        rounds += 1
        texts: list[str] = []
        rejects: list[str] = []
        for i in range(n):
            if offered or texts:
                why = offered[-1].reject if offered and not texts else ""
                yield Retry(len(offered) + len(texts), f"regenerating: {why}" if why else f"candidate {i + 1}/{n}")
            sample = _sample_params(params, attempt, i, n)
            completion: Completion | None = None
            for chunk in model.stream(messages, sample):
                if isinstance(chunk, Done):
                    completion = chunk.completion
                else:
                    yield chunk
            assert completion is not None, "a model stream ends with Done"
            first = first or completion
            usage = completion.usage if usage is None else usage + completion.usage
            text = guards.clean(completion.text, p.name, ctx.others, gl)
            if completion.finish_reason == "length":
                text = guards.drop_unfinished(text, gl)
            reason, unsafe = _judge(text, ctx, gl, instructions, situation.answering)
            category = category or unsafe
            texts.append(text)
            rejects.append(reason)
        sources = [MODEL] * len(texts)
        if attempt == 0:
            # lines the stage knows the character may say, offered once and judged like the rest (their words come
            # from the prompt, so only the prompt-echo check does not apply): what they know that answers the
            # question, and the beat's key moment as the plot file words it, when the director pushes for it
            for line, source in ((ctx.answer, RECALLED), (ctx.moment_line, MOMENT)):
                if line:
                    line = guards.clean(line, p.name, ctx.others, gl)
                    texts.append(line)
                    rejects.append(_judge(line, ctx, gl, "", situation.answering)[0])
                    sources.append(source)
        if scorer is not None:
            batch = gl.timed("score", partial(scorer.score, texts, situation, rejects, sources))
        else:
            batch = [Candidate(t, reject=r, source=s) for t, r, s in zip(texts, rejects, sources, strict=True)]
        offered += batch
        winner = best(batch)
        if winner is not None:
            break
    if winner is None:
        text = fallback_line(p.voice.examples, ctx.heard, rng, ctx.absent)
        gl.flags.append("fallback")
    else:
        text = winner.text
        category = ""
        if winner.source in (RECALLED, MOMENT):
            gl.flags.append(winner.source)
    assert first is not None and usage is not None
    rejected = [c.reject for c in offered if c.reject]
    turn = Turn(
        beat=ctx.beat.id,
        speaker=p.id,
        text=text,
        model=first.model,
        prompt_tokens=usage.prompt_tokens,
        completion_tokens=usage.completion_tokens,
        ttft_ms=round(first.usage.ttft_ms, 1),
        latency_ms=round(usage.latency_ms, 1),
        # rounds sampled again because no candidate could stand (candidates of one round are not regenerations)
        regenerations=rounds - 1 if winner is not None else rounds,
        attempts=usage.attempts,
        flags=tuple(dict.fromkeys(gl.flags + [f"rejected:{r}" for r in rejected])),
        guard_ms={k: round(v, 3) for k, v in gl.ms.items()},
        lore_ids=tuple(h.chunk.id for h in ctx.lore),
        candidates=tuple(c.as_record() for c in offered) if len(offered) > 1 else (),
        chosen=offered.index(winner) if winner is not None and len(offered) > 1 else -1,
    )
    yield Reply(turn, category)


def _judge(
    text: str, ctx: TurnContext, gl: guards.GuardLog, instructions: str, answering: str = ""
) -> tuple[str, str]:
    """Why ``text`` may not stand ("" if it may), and the content policy's category when that is the reason.
    ``answering`` is the line it replies to: after a line that reads as harmful, the reply is judged harder."""
    verdict = gl.timed("safety", partial(safety.check, text, ctx.persona, answering=answering))
    if not verdict.allowed:
        # "boundary" when only the character's own boundaries rule it out (the policy for everyone would allow
        # it); "echo" when it is refused because of the harmful-reading line it answers
        by = verdict.by
        kind = "boundary" if by is safety.By.BOUNDARY else "echo" if by is safety.By.CONTEXT else "unsafe"
        return f"{kind}:{verdict.category}", verdict.category
    reason = gl.timed(
        "reject",
        partial(
            guards.reject_reason,
            text,
            ctx.persona.name,
            ctx.heard,
            instructions=instructions,
            people=[*ctx.others, *ctx.names.values()],
        ),
    )
    return reason, ""


def _sample_params(params: GenParams, attempt: int, i: int, n: int) -> GenParams:
    """The i-th candidate of a round: distinct seeds; later rounds run a little hotter (they follow rejections)."""
    k = attempt * n + i
    return replace(
        params,
        temperature=min(1.2, params.temperature + 0.15 * attempt),
        seed=None if params.seed is None else params.seed + k,
    )


def situation_of(ctx: TurnContext) -> Situation:
    """What the scorer judges a turn's candidates against."""
    last = ctx.recent[-1] if ctx.recent else None
    who = speaker_of(last, ctx.names) if last is not None else None
    answering = last.text if isinstance(last, Turn | UserLine) and who and who.id != ctx.persona.id else ""
    sheet = fact_sheet(ctx.persona, ctx.names, ctx.setting)
    return Situation(
        speaker=ctx.persona.id,
        answering=answering,
        facts=(*ctx.hints, *sheet, *lore_lines(ctx.lore)),
        relations=relations_of(sheet),
        asker=who.id if who is not None and not who.is_person else "",
        hints=ctx.hints,
        heard=ctx.heard,
        moments=ctx.moments,
    )


def fallback_line(
    examples: Sequence[str], recent: Sequence[str], rng: random.Random, absent: Sequence[str] = ()
) -> str:
    """When every candidate was rejected, the character says one of its own lines: not one heard recently,
    and preferably not one that names someone who is not here."""
    fresh = [e for e in examples if all(guards.similarity(e, r) < 0.5 for r in recent)] or list(examples)
    fitting = [e for e in fresh if not any(re.search(rf"\b{re.escape(n)}\b", e) for n in absent)]
    return rng.choice(fitting or fresh)
