"""The vocabulary of the stage: frozen values passed between its parts.

Pydantic lives only at the edges (files, settings); inside, everything is one of these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

EVERYONE = "everyone"


def frozen_map(m: Mapping[str, str] | None = None) -> Mapping[str, str]:
    return MappingProxyType(dict(m or {}))


@dataclass(frozen=True)
class Secret:
    text: str
    known_by: tuple[str, ...] = ()  # other character ids who also know it


@dataclass(frozen=True)
class Voice:
    style: str
    sentence_length: str
    vocabulary: str
    tics: tuple[str, ...]
    never_says: tuple[str, ...]
    examples: tuple[str, ...]


@dataclass(frozen=True)
class Persona:
    id: str
    name: str
    age: int | None  # None when the file does not say (an imported card rarely does)
    role: str
    description: str
    voice: Voice
    goals: tuple[str, ...]
    fears: tuple[str, ...]
    secrets: tuple[Secret, ...]
    relationships: Mapping[str, str]
    knows_at_start: tuple[str, ...]
    arc: Mapping[str, str]  # beat id -> who they are in that beat
    boundaries: tuple[str, ...]
    color: str
    avatar: str
    source: str = ""
    greetings: tuple[str, ...] = ()  # opening lines (a card's first_mes and alternate greetings)


@dataclass(frozen=True)
class ExitCondition:
    """A beat is done when, for every condition, some present speaker (or one of ``by``) said one of ``terms``."""

    description: str
    terms: tuple[str, ...]
    by: tuple[str, ...] = ()
    line: str = ""  # the moment as a character might say it: the director offers it when the beat runs late


@dataclass(frozen=True)
class Beat:
    id: str
    position: int  # 1-based
    title: str
    summary: str
    location: str
    present: tuple[str, ...]
    goals: Mapping[str, str]
    exit: tuple[ExitCondition, ...]
    unlocks: tuple[str, ...]
    turn_budget: int
    min_turns: int = 2


@dataclass(frozen=True)
class Plot:
    title: str
    beats: tuple[Beat, ...]
    source: str = ""
    setting: str = ""  # where and when the story happens, in a few words every character knows

    def beat(self, ref: str | int) -> Beat:
        """A beat by id or 1-based position; ``KeyError`` listing the valid ones otherwise."""
        text = str(ref).strip()
        for b in self.beats:
            if text == b.id or text == str(b.position):
                return b
        valid = ", ".join(f"{b.position}={b.id}" for b in self.beats)
        raise KeyError(f"unknown beat {text!r}; valid beats: {valid}")

    def next_beat(self, beat: Beat) -> Beat | None:
        return self.beats[beat.position] if beat.position < len(self.beats) else None


@dataclass(frozen=True)
class LoreSection:
    """One headed section of the world bible, with who may know it and from when."""

    id: str
    title: str
    heading_path: tuple[str, ...]
    text: str
    source: str
    line: int
    tags: tuple[str, ...]
    visible_to: tuple[str, ...]  # (EVERYONE,) or character ids
    from_beat: int  # 1-based position of the first beat at which it is true or known
    key_terms: tuple[str, ...] = ()

    def visible(self, character: str, beat_position: int) -> bool:
        who = EVERYONE in self.visible_to or character in self.visible_to
        return who and self.from_beat <= beat_position


@dataclass(frozen=True)
class LoreChunk:
    id: str  # section id, plus "#n" when a long section is split
    section_id: str
    text: str
    source: str
    heading: str
    tags: tuple[str, ...]
    visible_to: tuple[str, ...]
    from_beat: int
    key_terms: tuple[str, ...] = ()


@dataclass(frozen=True)
class LoreHit:
    chunk: LoreChunk
    score: float  # higher is better, in [0, 1]


@dataclass(frozen=True)
class Story:
    """Everything loaded from the data folders, cross-checked."""

    personas: Mapping[str, Persona]
    plot: Plot
    lore: tuple[LoreSection, ...]

    def persona(self, ref: str) -> Persona:
        key = ref.strip().lower()
        for p in self.personas.values():
            if key in (p.id, p.name.lower()):
                return p
        raise KeyError(f"unknown character {ref!r}; valid characters: {', '.join(self.personas)}")


@dataclass(frozen=True)
class Message:
    role: str  # "system" | "user" | "assistant"
    content: str


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float = 0.0
    latency_ms: float = 0.0
    attempts: int = 1

    def __add__(self, other: Usage) -> Usage:
        """Two calls as one: tokens, time and attempts add up; time to first token is the first call's."""
        return Usage(
            prompt_tokens=self.prompt_tokens + other.prompt_tokens,
            completion_tokens=self.completion_tokens + other.completion_tokens,
            ttft_ms=self.ttft_ms or other.ttft_ms,
            latency_ms=self.latency_ms + other.latency_ms,
            attempts=self.attempts + other.attempts,
        )


@dataclass(frozen=True)
class Completion:
    text: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = ""
