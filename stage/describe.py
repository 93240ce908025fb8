"""What an event says, for people: the one description that the page, the Markdown export, the terminal and
the eval report all show. Each renderer adds only its own dress (colours, avatars, markup); who said a line
and what it says come from ``describe``.

Refused content never appears here: a ``SafetyEvent`` carries only who and why, and so does its ``Line``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import assert_never

from stage.transcript import (
    CHANGES,
    Action,
    Arrival,
    BeatChange,
    Choose,
    Delete,
    Direction,
    Edit,
    ErrorEvent,
    Event,
    Narration,
    Rate,
    Rename,
    Rewind,
    SafetyEvent,
    SceneEnd,
    SceneStart,
    Source,
    Speaker,
    Swipe,
    Turn,
    UserLine,
    speaker_of,
    visitor,
)

WRITER = "writer"
DIRECTOR = "director"
NARRATOR = "narrator"
POLICY = "content policy"
PLAYED = "played by a person"
# the key a visitor is known by (``Speaker.key``), derived from ``Speaker`` rather than spelled again here
_VISITOR_KEY = visitor("").key


@dataclass(frozen=True)
class Line:
    """One event as a person reads it."""

    kind: str  # the event's kind ("turn", "user", "beat", ...)
    label: str  # who, as a person reads it: "Lyra", "Sam (a visitor)", "Theo (played by a person)", "writer", ...
    text: str  # what a person reads: the line, the narration, "moved the scene to beat …", the safety notice
    speaker: Speaker | None = None  # who said it, for a spoken line (a character's turn or a person's line)
    reason: str = ""  # the director's reason: why this speaker, why this beat, why the scene ended
    detail: str = ""  # small print: a beat's location, what a person's line had changed, where an error was,
    # a safety notice's category, the model and seed of a scene
    action: Action | None = None  # for a writer's direction
    quiet: bool = False  # the next event says it again (an injected event is followed by its narration)

    @property
    def name(self) -> str:
        """The speaker's own name (without "(a visitor)"), or the label for lines nobody speaks."""
        return self.speaker.name if self.speaker is not None else self.label

    @property
    def mark(self) -> str:
        """What the label says beyond the speaker's name: "(a visitor)", "(played by a person)", or ""."""
        if self.speaker is None or not self.label.startswith(self.speaker.name):
            return ""
        return self.label[len(self.speaker.name) :].strip()


def label_of(speaker: Speaker) -> str:
    """How people read who said a line: a visitor is marked as one, a person playing a character as that."""
    if speaker.source is Source.PLAYER:
        return f"{speaker.label} ({PLAYED})"
    return speaker.label


def speaker_by_key(key: str, names: Mapping[str, str], person: bool = False) -> Speaker:
    """The speaker that ``Speaker.key`` ``key`` names (a character id, or a visitor's key); ``person`` says a
    character id stands for a person playing it."""
    if key.startswith(_VISITOR_KEY):
        return visitor(key.removeprefix(_VISITOR_KEY))
    return Speaker(Source.PLAYER if person else Source.CHARACTER, key, names.get(key, key))


def describe(event: Event, names: Mapping[str, str]) -> Line | None:
    """``event`` for people (``names``: character id -> display name); ``None`` for an unknown kind of event."""
    e = event
    who = speaker_of(e, names)
    if isinstance(e, Turn) and who is not None:
        return Line(e.kind, label_of(who), e.text, speaker=who, reason=e.reason)
    if isinstance(e, UserLine) and who is not None:
        return Line(e.kind, label_of(who), e.text, speaker=who, detail=e.notice)
    if isinstance(e, Narration):
        return Line(e.kind, WRITER if e.source == WRITER else NARRATOR, e.text)
    if isinstance(e, BeatChange):
        return Line(e.kind, DIRECTOR, f"Beat {e.position} · {e.title}", reason=e.reason, detail=e.location)
    if isinstance(e, Direction):
        text, quiet = _direction(e, names)
        return Line(e.kind, WRITER, text, action=e.action, quiet=quiet)
    if isinstance(e, Arrival):  # quiet: the "add" direction after it says it on the page
        name = str(e.persona.get("name") or e.persona.get("id") or "someone")
        return Line(e.kind, WRITER, f"{name} came in from a card ({e.source or 'dropped on the page'})", quiet=True)
    if isinstance(e, ErrorEvent):
        return Line(e.kind, "error", e.message, detail=e.where)
    if isinstance(e, SafetyEvent):
        side = "a message" if e.direction == "input" else "a reply"
        whose = label_of(speaker_by_key(e.who, names, person=e.direction == "input")) if e.who else "someone"
        return Line(e.kind, POLICY, f"stopped {side} from {whose}", detail=e.category)
    if isinstance(e, SceneEnd):
        return Line(e.kind, DIRECTOR, "The end", reason=e.reason)
    if isinstance(e, SceneStart):
        model = f"model {e.model} · " if e.model else ""
        return Line(e.kind, "scene", e.title, detail=f"{model}seed {e.seed}")
    if isinstance(e, CHANGES):
        # quiet: the page, the Markdown and ``stage replay`` read the line, where the change shows in the
        # line it changed (stage.timeline); this says it for a reader of the raw log
        return Line(e.kind, WRITER, _change(e), quiet=True)
    return None


def _change(e: Event) -> str:
    match e:
        case Swipe():
            return f"another reply for line #{e.of}: “{e.text}”"
        case Choose():
            return f"chose alternative {e.index + 1} of line #{e.of}"
        case Edit():
            return f"corrected line #{e.of}: “{e.text}”"
        case Delete():
            return f"deleted line #{e.of}"
        case Rewind():
            return f"went back to #{e.to}"
        case Rename():
            return f"named the scene “{e.title}”"
        case Rate():
            return f"{'took back the thumbs on' if not e.value else e.value + 'd'} line #{e.of}"
    return e.kind


def _direction(d: Direction, names: Mapping[str, str]) -> tuple[str, bool]:
    who = names.get(d.target, d.target)
    match d.action:
        case Action.GOTO:
            return f"moved the scene to beat {d.target}", False
        case Action.FORCE:
            return f"{who} speaks next", False
        case Action.INJECT:
            return f"added an event: “{d.text}”", True
        case Action.WHISPER:
            return f"whispered to {who}: “{d.text}”", False
        case Action.ADD:
            return f"{who} enters the scene", False
        case Action.REMOVE:
            return f"{who} leaves the scene", False
        case Action.PERSONA:
            return f"edited {who}: {_edits(d)} (from the next turn)", False
        case Action.TAKE:
            return f"a person now plays {who}; the director will not pick them", False
        case Action.RELEASE:
            return f"{who} is back in the director's hands", False
        case _:
            assert_never(d.action)


def _edits(d: Direction) -> str:
    try:
        edits = d.persona_edits()
    except (ValueError, AttributeError):  # an old transcript's payload that is not a JSON object
        return d.text
    return ", ".join(f"{k} → {v[:80]}" for k, v in edits.items()) or "nothing"
