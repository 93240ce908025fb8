"""Re-drive a recorded scene: the same inputs (people's lines, directions, the recorded replies) through the
same director must give the same events. This is what makes transcripts reproducible evidence."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from stage.agents.agent import Reply
from stage.agents.retrieval import Retriever
from stage.errors import ConfigError
from stage.llm.base import GenParams
from stage.llm.scripted import ScriptedModel
from stage.scene import Scene, events_of
from stage.transcript import (
    Arrival,
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
    SceneStart,
    Swipe,
    Turn,
    UserLine,
)
from stage.types import Story


@dataclass(frozen=True)
class ReplayResult:
    scene: Scene
    divergence: str  # "" when the replay matches the recording event for event


def signature(e: Event) -> tuple[str, ...]:
    """What must match between a recording and its replay (not timings, tokens or model names)."""
    if isinstance(e, Turn):
        return (e.kind, e.beat, e.speaker, e.text, e.reason)
    if isinstance(e, UserLine):
        return (e.kind, e.beat, e.name, e.as_character, e.text)
    if isinstance(e, Direction):
        edits = tuple(sorted(e.persona_edits().items()))
        text = "" if edits else e.text  # old transcripts carry persona edits as JSON in ``text``
        return (e.kind, e.beat, e.action, e.target, text, *(f"{k}={v}" for k, v in edits))
    if isinstance(e, Narration):
        return (e.kind, e.beat, e.source, e.text)
    if isinstance(e, Arrival):
        return (e.kind, e.beat, str(e.persona.get("id", "")), e.source)
    if isinstance(e, Swipe):
        return (e.kind, e.beat, str(e.of), e.text, e.source)
    if isinstance(e, Choose):
        return (e.kind, e.beat, str(e.of), str(e.index))
    if isinstance(e, Edit):
        return (e.kind, e.beat, str(e.of), e.text)
    if isinstance(e, Delete):
        return (e.kind, e.beat, str(e.of))
    if isinstance(e, Rewind):
        return (e.kind, e.beat, str(e.to))
    if isinstance(e, Rename):
        return (e.kind, e.title)
    if isinstance(e, Rate):
        return (e.kind, str(e.of), e.value)
    return (e.kind, e.beat)


def _output_note(events: Sequence[Event], n: int, who: str) -> str:
    """The category of the output safety note right after event ``n``, if there is one for ``who``."""
    after = events[n + 1] if n + 1 < len(events) else None
    if isinstance(after, SafetyEvent) and after.direction == "output" and after.who == who:
        return after.category
    return ""


def replay(
    story: Story, events: Sequence[Event], retriever: Retriever, path: Path | None = None
) -> ReplayResult:
    start = next((e for e in events if isinstance(e, SceneStart)), None)
    if start is None:
        raise ConfigError("a transcript must begin with a 'scene' event to be replayed")
    scene = Scene.new(
        story,
        ScriptedModel(),  # never asked: every reply comes from the recording
        retriever,
        path,
        GenParams(),
        from_beat=start.beat,
        seed=start.seed,
        humans=start.humans,
        backend="replay",
        draws=start.draws,
    )
    # the recording's seqs -> the replay's: changes name events by seq, and a fork's log has gaps
    seqs = {r.seq: m.seq for r, m in zip(events, scene.transcript.events, strict=False)}  # the opening events

    def mapped(seq: int) -> int:
        return seqs.get(seq, -1)  # -1: an event the replay did not make, which the change then cannot name

    for n, e in enumerate(events):
        before = len(scene.transcript.events)
        if isinstance(e, UserLine):
            scene.say(e.text, name=e.name or "Visitor", as_character=e.as_character)
        elif isinstance(e, Direction):
            scene.direct(e.action, target=e.target, text=e.text, edits=e.persona_edits())
        elif isinstance(e, Turn) and e.model != "policy":
            events_of(scene.step(recorded=Reply(e, _output_note(events, n, e.speaker))))
        elif isinstance(e, ErrorEvent):
            scene.log_error(e.message, e.where)
        elif isinstance(e, Arrival):
            scene.admit(e.persona, source=e.source)
        elif isinstance(e, Swipe):
            who = next((t.speaker for t in events if isinstance(t, Turn) and t.seq == e.of), "")
            events_of(scene.swipe(mapped(e.of), recorded=e, category=_output_note(events, n, who)))
        elif isinstance(e, Choose):
            scene.choose(mapped(e.of), e.index)
        elif isinstance(e, Edit):
            scene.edit(mapped(e.of), e.text)
        elif isinstance(e, Delete):
            scene.delete(mapped(e.of))
        elif isinstance(e, Rewind):
            scene.rewind(mapped(e.to))
        elif isinstance(e, Rename):
            scene.rename(e.title)
        elif isinstance(e, Rate):
            scene.rate(mapped(e.of), e.value)
        # the events this one caused sit right after it in both logs: pair their seqs in order
        made = scene.transcript.events[before:]
        for r, m in zip(events[n : n + len(made)], made, strict=False):
            seqs.setdefault(r.seq, m.seq)
    recorded = [signature(e) for e in events]
    replayed = [signature(e) for e in scene.transcript.events]
    for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
        if a != b:
            return ReplayResult(scene, f"event {i + 1} differs: recorded {a}, replayed {b}")
    if len(recorded) != len(replayed):
        return ReplayResult(scene, f"recorded {len(recorded)} events, replayed {len(replayed)}")
    return ReplayResult(scene, "")
