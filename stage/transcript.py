"""The transcript is the product: an append-only JSONL log of typed events, flushed as each is written.

UI, CLI and evals only read it. A partial last line (a crash mid-write) is ignored on read; a corrupt line
elsewhere is reported and skipped, never fatal.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from enum import StrEnum
from pathlib import Path
from typing import Any, ClassVar

from stage.errors import DataError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    kind: ClassVar[str] = "event"
    seq: int = 0
    ts: float = 0.0
    beat: str = ""


@dataclass(frozen=True)
class SceneStart(Event):
    """The setup a scene was started with; the first event of every transcript."""

    kind: ClassVar[str] = "scene"
    title: str = ""
    present: tuple[str, ...] = ()
    backend: str = ""
    model: str = ""
    seed: int = 0
    humans: tuple[str, ...] = ()  # characters played by people in this scene
    # how the director's tie-breaks and fallback draws are seeded: "per-event" (from the seed and the number
    # of events before the turn, so a resumed scene draws as the uninterrupted one would); "" in transcripts
    # written before it, which drew from one stream for the whole scene
    draws: str = ""


@dataclass(frozen=True)
class Turn(Event):
    kind: ClassVar[str] = "turn"
    speaker: str = ""
    text: str = ""
    reason: str = ""  # the director's reason for picking this speaker
    lore_ids: tuple[str, ...] = ()
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    ttft_ms: float = 0.0
    latency_ms: float = 0.0
    regenerations: int = 0
    attempts: int = 1
    flags: tuple[str, ...] = ()  # what the guards did (e.g. "cut:speaker", "fallback")
    guard_ms: dict[str, float] = field(default_factory=dict)
    # best-of-n: every candidate offered (text, score, parts, why it was rejected) and which one was chosen
    candidates: tuple[dict[str, Any], ...] = ()
    chosen: int = -1
    cue: str = ""  # the director's private push toward the beat's key moment, if it gave one
    cue_reason: str = ""


@dataclass(frozen=True)
class UserLine(Event):
    """Something a person said, as a visitor (``name``) or playing a character (``as_character``)."""

    kind: ClassVar[str] = "user"
    name: str = ""
    as_character: str = ""
    text: str = ""
    notice: str = ""  # what was changed on the way in (trimmed, truncated, ...)


@dataclass(frozen=True)
class Narration(Event):
    kind: ClassVar[str] = "narration"
    text: str = ""
    source: str = "director"  # "director" or "writer"


@dataclass(frozen=True)
class BeatChange(Event):
    kind: ClassVar[str] = "beat"
    from_beat: str = ""
    reason: str = ""
    present: tuple[str, ...] = ()
    position: int = 0
    title: str = ""
    location: str = ""


class Action(StrEnum):
    """What a writer can do to a running scene."""

    GOTO = "goto"  # move to a beat (target: beat id)
    FORCE = "force"  # this character speaks next
    INJECT = "inject"  # a line of narration (text)
    WHISPER = "whisper"  # a private note for one character's next turn (text)
    ADD = "add"  # bring a character into the scene
    REMOVE = "remove"  # send one out
    PERSONA = "persona"  # edit a character's persona for this scene (edits)
    TAKE = "take"  # a person plays this character from now on
    RELEASE = "release"  # ... and hands it back to the model


EDITABLE = ("role", "description", "style", "sentence_length", "vocabulary", "goals", "fears", "examples")


@dataclass(frozen=True)
class Direction(Event):
    """A writer's override. ``edits`` (field -> new value) is set for ``persona``; transcripts written before
    it existed carry the edits as JSON in ``text``, which ``persona_edits`` still reads."""

    kind: ClassVar[str] = "direction"
    action: Action = Action.INJECT
    target: str = ""
    text: str = ""
    edits: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "action", Action(self.action))
        except ValueError:
            valid = ", ".join(a.value for a in Action)
            raise ValueError(f"unknown direction {self.action!r}; expected one of {valid}") from None
        object.__setattr__(self, "edits", dict(self.edits))

    def persona_edits(self) -> dict[str, str]:
        if self.edits:
            return dict(self.edits)
        if self.action is Action.PERSONA and self.text:
            old = json.loads(self.text)  # the pre-``edits`` encoding
            return {str(k): str(v) for k, v in old.items()}
        return {}


@dataclass(frozen=True)
class Arrival(Event):
    """A character who joined this scene from a card: their whole persona (the persona file's fields), so the
    transcript alone brings them back on a reload, a replay or another machine."""

    kind: ClassVar[str] = "arrival"
    persona: Mapping[str, Any] = field(default_factory=dict)
    source: str = ""  # the card's file name

    def __post_init__(self) -> None:
        object.__setattr__(self, "persona", dict(self.persona))


@dataclass(frozen=True)
class ErrorEvent(Event):
    kind: ClassVar[str] = "error"
    message: str = ""
    where: str = ""


@dataclass(frozen=True)
class SafetyEvent(Event):
    """The content policy stepped in; ``text`` is never the refused content itself."""

    kind: ClassVar[str] = "safety"
    direction: str = ""  # "input" or "output"
    category: str = ""
    who: str = ""


@dataclass(frozen=True)
class SceneEnd(Event):
    kind: ClassVar[str] = "end"
    reason: str = ""


# Changes to lines already written. The log stays append-only: each of these names an earlier event by its
# ``seq`` and ``stage.timeline`` folds them into the line of events that counts (what the page shows, what
# characters remember, what the director's state is folded from).


@dataclass(frozen=True)
class Swipe(Event):
    """Another reply for the character turn ``of``, kept beside it; it is the one shown and heard until
    another is chosen. ``source``: "candidate" (a runner-up of the turn's best-of-n) or "regenerated"."""

    kind: ClassVar[str] = "swipe"
    of: int = 0
    text: str = ""
    source: str = "regenerated"
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0
    flags: tuple[str, ...] = ()
    candidates: tuple[dict[str, Any], ...] = ()
    chosen: int = -1


@dataclass(frozen=True)
class Choose(Event):
    """Which alternative of turn ``of`` stands: 0 is the turn as first written, k its k-th swipe."""

    kind: ClassVar[str] = "choose"
    of: int = 0
    index: int = 0


@dataclass(frozen=True)
class Edit(Event):
    """A writer's correction of line ``of`` (a character's turn, a person's line or a narration)."""

    kind: ClassVar[str] = "edit"
    of: int = 0
    text: str = ""


@dataclass(frozen=True)
class Delete(Event):
    """Line ``of`` no longer counts: not shown, not remembered, not folded into the director's state."""

    kind: ClassVar[str] = "delete"
    of: int = 0


@dataclass(frozen=True)
class Rewind(Event):
    """The scene goes back to event ``to``, which becomes the last one that counts; what came after it is
    kept as a branch that another rewind (to its last event) returns to."""

    kind: ClassVar[str] = "rewind"
    to: int = 0


@dataclass(frozen=True)
class Rename(Event):
    """The scene's title in the library."""

    kind: ClassVar[str] = "rename"
    title: str = ""


@dataclass(frozen=True)
class Rate(Event):
    """A reader's thumbs on character turn ``of`` ("like", "dislike", or "" to take them back): it changes
    nothing in the line, and is kept as a preference for tuning (which of a turn's alternatives people liked)."""

    kind: ClassVar[str] = "rate"
    of: int = 0
    value: str = ""


RATINGS = ("like", "dislike", "")

# what a swipe carries of the turn it stands in for (its own text and how it was made)
ALTERNATIVE_FIELDS = ("text", "model", "prompt_tokens", "completion_tokens", "latency_ms", "flags", "candidates", "chosen")
CHANGES = (Swipe, Choose, Edit, Delete, Rewind, Rename, Rate)
Change = Swipe | Choose | Edit | Delete | Rewind | Rename | Rate

EVENT_TYPES: dict[str, type[Event]] = {
    t.kind: t
    for t in (
        SceneStart,
        Turn,
        UserLine,
        Narration,
        BeatChange,
        Direction,
        Arrival,
        ErrorEvent,
        SafetyEvent,
        SceneEnd,
        *CHANGES,
    )
}


def to_dict(event: Event) -> dict[str, Any]:
    data = asdict(event)
    return {"kind": event.kind, **data}


def from_dict(data: dict[str, Any]) -> Event:
    kind = data.get("kind")
    cls = EVENT_TYPES.get(str(kind))
    if cls is None:
        raise ValueError(f"unknown event kind {kind!r}; expected one of {', '.join(EVENT_TYPES)}")
    names = {f.name: f for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key == "kind":
            continue
        if key not in names:
            raise ValueError(f"unknown field {key!r} for a {kind} event")
        values[key] = tuple(value) if isinstance(value, list) else value
    return cls(**values)


@dataclass
class ReadResult:
    events: list[Event]
    problems: list[str]


def read_events(path: Path) -> ReadResult:
    """All valid events of a transcript; problems (corrupt lines) are listed, not raised."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot read the transcript: {exc.strerror}") from exc
    events: list[Event] = []
    problems: list[str] = []
    lines = raw.split(b"\n")
    partial_tail = not raw.endswith(b"\n") and bool(lines[-1].strip())
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            events.append(from_dict(json.loads(line.decode("utf-8"))))
        except (ValueError, TypeError, UnicodeDecodeError) as exc:
            if partial_tail and n == len(lines):
                log.warning("%s: ignoring a partial last line (the writer stopped mid-line)", path)
                continue
            problems.append(f"{path}:{n}: skipped a corrupt line: {exc}")
    for p in problems:
        log.warning(p)
    return ReadResult(events, problems)


class Transcript:
    """Append-only; every event gets the next ``seq`` and a timestamp and is flushed to disk as written."""

    def __init__(self, path: Path | None, events: Iterable[Event] = ()) -> None:
        self.path = path
        self.events: list[Event] = list(events)
        self._lock = threading.Lock()
        self._fh = None
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._repair_tail(path)
            self._fh = open(path, "a", encoding="utf-8")  # noqa: SIM115 - kept open for appends

    @staticmethod
    def _repair_tail(path: Path) -> None:
        """Drop a partial last line left by a crash so the next append starts on a fresh line."""
        if not path.exists() or path.stat().st_size == 0:
            return
        with open(path, "rb+") as fh:
            data = fh.read()
            if data.endswith(b"\n"):
                return
            cut = data.rfind(b"\n") + 1
            fh.truncate(cut)
            log.warning("%s: removed a partial last line left by an interrupted write", path)

    @classmethod
    def open(cls, path: Path) -> Transcript:
        """Continue an existing transcript (its events are loaded; corrupt lines skipped)."""
        result = read_events(path) if path.exists() else ReadResult([], [])
        return cls(path, result.events)

    @property
    def next_seq(self) -> int:
        return (self.events[-1].seq + 1) if self.events else 1

    def append(self, event: Event) -> Event:
        with self._lock:
            stamped = replace(event, seq=self.next_seq, ts=round(time.time(), 3))
            if self._fh is not None:
                self._fh.write(json.dumps(to_dict(stamped), ensure_ascii=False) + "\n")
                self._fh.flush()
                os.fsync(self._fh.fileno())
            self.events.append(stamped)
            return stamped

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None

    def __iter__(self) -> Iterator[Event]:
        return iter(list(self.events))

    @classmethod
    def written(cls, path: Path | None, events: Iterable[Event]) -> Transcript:
        """A new transcript at ``path`` holding ``events`` as they are (seqs kept), open for appends."""
        kept = list(events)
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            with open(path, "w", encoding="utf-8") as fh:
                for e in kept:
                    fh.write(json.dumps(to_dict(e), ensure_ascii=False) + "\n")
        return cls(path, kept)


def turns(events: Iterable[Event]) -> list[Turn]:
    return [e for e in events if isinstance(e, Turn)]


class Source(StrEnum):
    """Who a line is from."""

    CHARACTER = "character"  # a character the model plays
    PLAYER = "player"  # a person playing a character
    VISITOR = "visitor"  # a person speaking as themselves


@dataclass(frozen=True)
class Speaker:
    """The one place that says who said a line: its source, the character id (if any) and a display name."""

    source: Source
    id: str  # character id; "" for a visitor
    name: str  # display name

    @property
    def key(self) -> str:
        """A stable identity for bookkeeping (turn counts, who spoke last): a character's id, or
        ``visitor:<name>``; a person playing a character counts as that character."""
        return self.id or f"visitor:{self.name}"

    @property
    def is_person(self) -> bool:
        return self.source is not Source.CHARACTER

    @property
    def label(self) -> str:
        """How people and prompts name the speaker: a visitor is marked as one, a character is its name."""
        return f"{self.name} (a visitor)" if self.source is Source.VISITOR else self.name


def visitor(name: str) -> Speaker:
    return Speaker(Source.VISITOR, "", name)


def speaker_of(event: Event, names: Mapping[str, str]) -> Speaker | None:
    """Who said ``event`` (a ``Turn`` or ``UserLine``), or ``None`` for events nobody says."""
    if isinstance(event, Turn):
        return Speaker(Source.CHARACTER, event.speaker, names.get(event.speaker, event.speaker))
    if isinstance(event, UserLine):
        if event.as_character:
            return Speaker(Source.PLAYER, event.as_character, names.get(event.as_character, event.as_character))
        return visitor(event.name)
    return None
