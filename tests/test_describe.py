"""``describe``: every kind of event and every direction reads as something, the same in every renderer.

The samples are built from ``EVENT_TYPES`` and ``Action`` themselves, so a new event kind or action that
``describe`` does not know fails here."""

from __future__ import annotations

import re

import pytest
from rich.console import Console

from stage.describe import Line, describe, speaker_by_key
from stage.evals.report import _row
from stage.play import Printer
from stage.transcript import (
    EVENT_TYPES,
    Action,
    Direction,
    Event,
    SafetyEvent,
    Source,
    Speaker,
    Turn,
    UserLine,
    visitor,
)
from stage.types import Story
from stage.ui.chat import ChatView
from stage.ui.export import markdown
from stage.ui.render import Renderer
from tests.ui.test_chat import Seen

NAMES = {"lyra": "Lyra", "theo": "Theo", "max": "Max"}


def sample(cls: type[Event], action: Action = Action.FORCE) -> Event:
    """An event of ``cls`` with something in each field a person reads."""
    if cls is Direction:
        return Direction(
            seq=2, beat="bedtime", action=action, target="max", text="psst", edits={"style": "gruff"}
        )
    values = {"seq": 2, "beat": "bedtime"}
    for name, value in {
        "speaker": "lyra",
        "text": "Hello.",
        "reason": "because",
        "name": "Sam",
        "title": "Sync Hour",
        "location": "Lyra's room",
        "position": 1,
        "message": "timed out",
        "where": "turn of lyra",
        "direction": "output",
        "category": "violence",
        "who": "lyra",
    }.items():
        if name in cls.__dataclass_fields__:
            values[name] = value
    return cls(**values)  # type: ignore[arg-type]


SAMPLES = [sample(cls) for cls in EVENT_TYPES.values() if cls is not Direction]
SAMPLES += [sample(Direction, action) for action in Action]


def test_every_event_kind_and_every_action_is_sampled() -> None:
    assert {e.kind for e in SAMPLES} == set(EVENT_TYPES)
    assert {e.action for e in SAMPLES if isinstance(e, Direction)} == set(Action)


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: getattr(e, "action", e.kind))
def test_every_event_reads_as_something(event: Event) -> None:
    line = describe(event, NAMES)
    assert isinstance(line, Line) and line.kind == event.kind
    assert line.label and line.text
    if isinstance(event, Turn | UserLine):
        assert line.speaker is not None and line.text == event.text
    else:
        assert line.speaker is None
    if isinstance(event, Direction):
        assert line.action is event.action and line.label == "writer"
        assert line.quiet == (event.action is Action.INJECT)  # the narration that follows says it


@pytest.mark.parametrize("event", SAMPLES, ids=lambda e: getattr(e, "action", e.kind))
def test_every_renderer_shows_every_event(story: Story, event: Event) -> None:
    line = describe(event, NAMES)
    assert line is not None
    messages = ChatView(Renderer(story)).chat([event], None, None).messages
    md = markdown(story, [event])
    console = Console(record=True, width=300, color_system=None)
    Printer(story, console)(event)
    printed = console.export_text()
    row = _row(event, NAMES, {}, {})
    if line.quiet:
        assert messages == [] and md == "" and printed == ""
        return
    page = " ".join(Seen(m["content"]).text for m in messages)  # what a browser shows
    script = re.sub(r"\\(.)", r"\1", md)  # what Markdown shows
    for out in (page, script, printed):
        assert line.text in out, out
    assert line.text in (row["text"], row["title"])


def test_who_said_it() -> None:
    turn = describe(Turn(speaker="lyra", text="Hi."), NAMES)
    visiting = describe(UserLine(name="Sam", text="Hi."), NAMES)
    playing = describe(UserLine(as_character="theo", text="Hi."), NAMES)
    assert turn is not None and visiting is not None and playing is not None
    assert (turn.label, turn.name, turn.mark) == ("Lyra", "Lyra", "")
    assert (visiting.label, visiting.name, visiting.mark) == ("Sam (a visitor)", "Sam", "(a visitor)")
    assert visiting.label == visitor("Sam").label and visiting.speaker == visitor("Sam")
    assert (playing.label, playing.mark) == ("Theo (played by a person)", "(played by a person)")
    assert playing.speaker == Speaker(Source.PLAYER, "theo", "Theo")


def test_a_safety_notice_names_whose_line_was_stopped_never_the_line() -> None:
    stopped = describe(SafetyEvent(direction="input", category="self-harm", who=visitor("Sam").key), NAMES)
    assert stopped is not None and stopped.text == "stopped a message from Sam (a visitor)"
    assert stopped.label == "content policy" and stopped.detail == "self-harm"
    played = describe(SafetyEvent(direction="input", category="violence", who="theo"), NAMES)
    assert played is not None and played.text == "stopped a message from Theo (played by a person)"
    reply = describe(SafetyEvent(direction="output", category="violence", who="lyra"), NAMES)
    assert reply is not None and reply.text == "stopped a reply from Lyra"
    assert speaker_by_key(visitor("Sam").key, NAMES) == visitor("Sam")
    assert speaker_by_key("lyra", NAMES) == Speaker(Source.CHARACTER, "lyra", "Lyra")


def test_persona_edits_read_the_same_from_either_encoding() -> None:
    new = describe(Direction(action=Action.PERSONA, target="max", edits={"style": "gruff"}), NAMES)
    old = describe(Direction(action=Action.PERSONA, target="max", text='{"style": "gruff"}'), NAMES)
    assert new is not None and old is not None
    assert new.text == old.text == "edited Max: style → gruff (from the next turn)"
    broken = describe(Direction(action=Action.PERSONA, target="max", text="not json"), NAMES)
    assert broken is not None and broken.text == "edited Max: not json (from the next turn)"
