"""Deterministic metrics of a transcript against the story: no judge model, same transcript -> same numbers.

Per turn, flags a person can read (``leak``, ``hijack``, ``absent``, ``human``, ``off-role``, ``scaffold``,
``prompt-leak``, ``repetition``, ``fallback``, ``voice``) and a few numbers; per suite, character or beat, rates and percentiles
(``summarise``). Definitions are in evals/README.md; thresholds a suite can set are the keys of ``METRICS``.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from stage.agents import guards
from stage.agents.guards import ROLE_WORDS, SCAFFOLD
from stage.evals.knowledge import Knowledge
from stage.evals.voice import VoiceModel
from stage.evals.walk import Segment, TurnView, walk
from stage.lore.chunk import chunk_sections
from stage.text import content_words, words
from stage.transcript import Event
from stage.types import Story

REPEAT_AT = 0.5  # trigram Jaccard with an earlier own turn at or above this is a repetition (as the guard)
MIN_WORDS = 4  # shorter turns are not embedded for identifiability
# the flags that make a turn "not clean"; the others (prompt-leak, repetition, fallback, voice) are notes
ERRORS = ("leak", "hijack", "absent", "human", "off-role", "scaffold")

# metric -> True when higher is better, False when lower is better, None when neither
METRICS: dict[str, bool | None] = {
    "turns": None,
    "leaks": False,
    "leak_rate": False,
    "prompt_leak_rate": False,
    "attribution_errors": False,
    "break_character_rate": False,
    "scaffold_rate": False,
    "repetition_rate": False,
    "max_self_overlap": False,
    "distinct_1": True,
    "distinct_2": True,
    "identifiability": True,
    "grounding": True,
    "relevance": True,
    "relevance_lift": True,
    "fallback_rate": False,
    "regeneration_rate": False,
    "beats_visited": True,
    "beats_completed": True,
    "budget_used": None,
    "turn_balance": True,
    "ttft_p50_ms": False,
    "ttft_p95_ms": False,
    "latency_p50_ms": False,
    "latency_p95_ms": False,
    "prompt_tokens_p50": None,
    "prompt_tokens_p95": None,
    "completion_tokens_p50": None,
    "completion_tokens_p95": None,
}
Metrics = dict[str, float | None]


@dataclass(frozen=True)
class Flag:
    kind: str
    detail: str  # why, for a person reading the report

    @property
    def error(self) -> bool:
        return self.kind in ERRORS


@dataclass(frozen=True)
class TurnScore:
    seq: int
    beat: str
    speaker: str
    text: str
    words: int
    flags: tuple[Flag, ...]
    overlap: float  # max trigram Jaccard with the same speaker's earlier turns
    grounding: float | None  # share of the turn's content words found in the lore it was given
    voice: str | None  # the persona its embedding is closest to (None: too short, a fallback, or policy)
    latency_ms: float
    ttft_ms: float
    prompt_tokens: int
    completion_tokens: int
    regenerations: int
    prompted: bool  # its prompt was recorded (and checked for scope)
    fallback: bool
    policy: bool  # a content-policy refusal written by the stage, not by the model
    answering: str = ""  # the line it answers (said just before it by someone else in the beat), or ""
    relevance: float | None = None  # cosine of the turn to the line it answers
    shuffled: float | None = None  # its mean cosine to the lines the other turns answer: the chance level

    def has(self, kind: str) -> bool:
        return any(f.kind == kind for f in self.flags)

    @property
    def clean(self) -> bool:
        return not any(f.error for f in self.flags)


@dataclass
class Scorecard:
    turns: list[TurnScore]
    segments: list[Segment]
    metrics: Metrics = field(default_factory=dict)
    per_character: dict[str, Metrics] = field(default_factory=dict)
    per_beat: dict[str, Metrics] = field(default_factory=dict)


class Scorer:
    """Scores transcripts of one story; holds the caches (scopes, lore chunk words, persona centroids)."""

    def __init__(self, story: Story, voice: VoiceModel | None = None) -> None:
        self.story = story
        self.voice = voice
        self.knowledge = Knowledge(story)
        self.names = {cid: p.name for cid, p in story.personas.items()}
        self.chunk_words = {c.id: content_words(c.text) for c in chunk_sections(story.lore)}

    def score(self, events: Sequence[Event], prompts: Mapping[int, str] | None = None) -> Scorecard:
        """``prompts`` (turn seq -> prompt text), when recorded, are checked for scope like the turns."""
        views, segments = walk(events, self.story)
        scores = [self._turn(v, views[:i], (prompts or {}).get(v.turn.seq)) for i, v in enumerate(views)]
        scores = self._relevance(self._identify(scores))
        card = Scorecard(scores, segments)
        card.metrics = summarise(scores, segments)
        for cid in sorted({s.speaker for s in scores}):
            card.per_character[cid] = summarise([s for s in scores if s.speaker == cid], None)
        order = [b.id for b in self.story.plot.beats]
        for beat in sorted({g.beat for g in segments}, key=lambda b: order.index(b) if b in order else 99):
            card.per_beat[beat] = summarise(
                [s for s in scores if s.beat == beat], [g for g in segments if g.beat == beat]
            )
        return card

    def _turn(self, v: TurnView, before: Sequence[TurnView], prompt: str | None) -> TurnScore:
        t = v.turn
        flags: list[Flag] = []
        for leak in self.knowledge.leaks(t.text, t.speaker, v.position, v.heard):
            flags.append(Flag("leak", f"says '{leak.term}', but {leak.why}"))
        if prompt is not None:
            terms = self.knowledge.leaks(prompt, t.speaker, v.position, v.heard)
            if terms:
                said = ", ".join(f"'{x.term}' ({x.section})" for x in terms)
                flags.append(
                    Flag("prompt-leak", f"the prompt for this turn contained {said}, out of its scope")
                )
        name = self.names.get(t.speaker, t.speaker)
        if t.speaker not in v.present:
            here = ", ".join(self.names.get(c, c) for c in v.present) or "nobody"
            flags.append(Flag("absent", f"{name} is not in the scene at this point (present: {here})"))
        elif t.speaker in v.humans:
            flags.append(Flag("human", f"{name} is played by a person here, yet the model spoke for them"))
        others = [n for c, n in self.names.items() if c != t.speaker] + list(v.visitors) + list(ROLE_WORDS)
        for who in labels(t.text, others):
            flags.append(Flag("hijack", f"writes a line for {who} ('{who}:' label)"))
        m = guards.OFF_ROLE.search(t.text)
        if m:
            flags.append(Flag("off-role", f"breaks character: '{m.group(0)}'"))
        m = SCAFFOLD.search(t.text)
        if m:
            flags.append(
                Flag("scaffold", f"reads out its prompt: '{m.group(1)}:' is a section label of the prompt")
            )
        own = [b.turn for b in before if b.turn.speaker == t.speaker]
        overlap, like = 0.0, 0
        for earlier in own:
            sim = guards.similarity(t.text, earlier.text)
            if sim > overlap:
                overlap, like = sim, earlier.seq
        if overlap >= REPEAT_AT:
            flags.append(
                Flag("repetition", f"repeats {name}'s own turn #{like} ({overlap:.0%} trigram overlap)")
            )
        fallback = "fallback" in t.flags
        if fallback:
            flags.append(Flag("fallback", "every candidate was rejected; the character said a stock line"))
        return TurnScore(
            seq=t.seq,
            beat=t.beat,
            speaker=t.speaker,
            text=t.text,
            words=len(t.text.split()),
            flags=tuple(flags),
            overlap=round(overlap, 4),
            grounding=self._grounding(t.text, t.lore_ids),
            voice=None,
            latency_ms=t.latency_ms,
            ttft_ms=t.ttft_ms,
            prompt_tokens=t.prompt_tokens,
            completion_tokens=t.completion_tokens,
            regenerations=t.regenerations,
            prompted=prompt is not None,
            fallback=fallback,
            policy=t.model == "policy",
            answering=v.answering,
        )

    def _grounding(self, text: str, lore_ids: Iterable[str]) -> float | None:
        given: set[str] = set()
        for cid in lore_ids:
            given |= self.chunk_words.get(cid, self.chunk_words.get(cid.split("#")[0], set()))
        said = content_words(text)
        if not given or not said:
            return None
        return round(len(said & given) / len(said), 4)

    def _identify(self, scores: list[TurnScore]) -> list[TurnScore]:
        if self.voice is None:
            return scores
        idx = [
            i
            for i, s in enumerate(scores)
            if s.words >= MIN_WORDS and not s.fallback and not s.policy and s.speaker in self.names
        ]
        found = self.voice.identify([scores[i].text for i in idx])
        out = list(scores)
        for i, (who, sims) in zip(idx, found, strict=True):
            s = scores[i]
            flags = s.flags
            if who != s.speaker:
                detail = (
                    f"sounds more like {self.names.get(who, who)} ({sims[who]:.2f}) than "
                    f"{self.names[s.speaker]} ({sims[s.speaker]:.2f})"
                )
                flags = (*flags, Flag("voice", detail))
            out[i] = replace(s, voice=who, flags=flags)
        return out

    def _relevance(self, scores: list[TurnScore]) -> list[TurnScore]:
        """How near each reply is to the line it answers, against the same reply paired with the lines the other
        turns answer (a shuffled baseline: replies in one scene share its topic, so the lift is what answering
        adds beyond staying on the subject)."""
        if self.voice is None:
            return scores
        idx = [i for i, s in enumerate(scores) if s.answering and not s.fallback and not s.policy]
        if len(idx) < 2:
            return scores
        replies = np.asarray(self.voice.embed([scores[i].text for i in idx]), dtype=np.float32)
        lines = np.asarray(self.voice.embed([scores[i].answering for i in idx]), dtype=np.float32)
        sims = replies @ lines.T
        k = len(idx)
        out = list(scores)
        for row, i in enumerate(idx):
            shuffled = (float(sims[row].sum()) - float(sims[row, row])) / (k - 1)
            out[i] = replace(scores[i], relevance=round(float(sims[row, row]), 4), shuffled=round(shuffled, 4))
        return out


def labels(text: str, others: Sequence[str]) -> list[str]:
    """Names of others written as a speaker label ("Max:") in ``text``: the guard's cut, and any label it let
    through (the guard only looks at line and sentence starts; "...Lyra: ..." slips past it)."""
    log = guards.GuardLog()
    guards.cut_other_speakers(text, others, log)
    found = {f.rsplit(":", 1)[-1] for f in log.flags} | guards.labelled(text, others)
    shown = {n.lower(): n for n in others}
    return [shown.get(n, n) for n in sorted(found)]


def distinct(texts: Iterable[str], n: int) -> float | None:
    """Unique n-grams / all n-grams over the texts (n-grams do not cross turns)."""
    grams: list[tuple[str, ...]] = []
    for text in texts:
        ws = words(text)
        grams += [tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)]
    return round(len(set(grams)) / len(grams), 4) if grams else None


def entropy_balance(counts: Counter[str], agents: Iterable[str]) -> float | None:
    """Normalised entropy of turns over the characters who could speak (1 = perfectly even)."""
    k = len(set(agents))
    total = sum(counts.values())
    if k < 2 or total < 2:
        return None
    h = -sum((c / total) * math.log(c / total) for c in counts.values() if c)
    return round(h / math.log(k), 4)


def _pct(values: Sequence[float], q: float) -> float | None:
    return round(float(np.percentile(np.asarray(values, dtype=float), q)), 1) if values else None


def _rate(n: int, d: int) -> float | None:
    return round(n / d, 4) if d else None


def _mean(values: Sequence[float | None]) -> float | None:
    kept = [v for v in values if v is not None]
    return round(sum(kept) / len(kept), 4) if kept else None


def summarise(scores: Sequence[TurnScore], segments: Sequence[Segment] | None) -> Metrics:
    """The metrics of a set of turns; beat metrics only when ``segments`` are given (else omitted)."""
    n = len(scores)
    speakers = sorted({s.speaker for s in scores})
    judged = [s for s in scores if s.voice is not None]
    timed = [s for s in scores if not s.policy]
    m: Metrics = {
        "turns": n,
        "leaks": sum(s.has("leak") for s in scores),
        "leak_rate": _rate(sum(s.has("leak") for s in scores), n),
        "prompt_leak_rate": _rate(sum(s.has("prompt-leak") for s in scores), sum(s.prompted for s in scores)),
        "attribution_errors": sum(s.has("hijack") or s.has("absent") or s.has("human") for s in scores),
        "break_character_rate": _rate(sum(s.has("off-role") for s in scores), n),
        "scaffold_rate": _rate(sum(s.has("scaffold") for s in scores), n),
        "repetition_rate": _rate(sum(s.has("repetition") for s in scores), n),
        "max_self_overlap": max((s.overlap for s in scores), default=None),
        "distinct_1": _mean([distinct((s.text for s in scores if s.speaker == c), 1) for c in speakers]),
        "distinct_2": _mean([distinct((s.text for s in scores if s.speaker == c), 2) for c in speakers]),
        "identifiability": _rate(sum(s.voice == s.speaker for s in judged), len(judged)),
        "grounding": _mean([s.grounding for s in scores]),
        "relevance": _mean([s.relevance for s in scores]),
        "relevance_lift": _mean(
            [s.relevance - s.shuffled for s in scores if s.relevance is not None and s.shuffled is not None]
        ),
        "fallback_rate": _rate(sum(s.fallback for s in scores), n),
        "regeneration_rate": _rate(sum(s.regenerations > 0 for s in scores), n),
    }
    for key, attr in (("ttft", "ttft_ms"), ("latency", "latency_ms")):
        values = [float(getattr(s, attr)) for s in timed]
        m[f"{key}_p50_ms"], m[f"{key}_p95_ms"] = _pct(values, 50), _pct(values, 95)
    for key in ("prompt_tokens", "completion_tokens"):
        values = [float(getattr(s, key)) for s in timed]
        m[f"{key}_p50"], m[f"{key}_p95"] = _pct(values, 50), _pct(values, 95)
    if segments is not None:
        closed = [g for g in segments if g.outcome != "open"]
        m["beats_visited"] = len({g.beat for g in segments})
        m["beats_completed"] = len({g.beat for g in segments if g.outcome == "exit"})
        m["budget_used"] = _mean([min(1.0, g.utterances / g.budget) for g in closed])
        m["turn_balance"] = _mean([entropy_balance(g.turns, g.agents) for g in segments])
    return m


def outcomes(segments: Sequence[Segment]) -> dict[str, int]:
    return dict(Counter(g.outcome for g in segments))
