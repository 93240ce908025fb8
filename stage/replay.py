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
from stage.transcript import Direction, ErrorEvent, Event, Narration, SafetyEvent, SceneStart, Turn, UserLine
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
    return (e.kind, e.beat)


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
    )
    for n, e in enumerate(events):
        if isinstance(e, UserLine):
            scene.say(e.text, name=e.name or "Visitor", as_character=e.as_character)
        elif isinstance(e, Direction):
            scene.direct(e.action, target=e.target, text=e.text, edits=e.persona_edits())
        elif isinstance(e, Turn) and e.model != "policy":
            after = events[n + 1] if n + 1 < len(events) else None
            unsafe = isinstance(after, SafetyEvent) and after.direction == "output" and after.who == e.speaker
            reply = Reply(e, after.category if unsafe and isinstance(after, SafetyEvent) else "")
            events_of(scene.step(recorded=reply))
    recorded = [signature(e) for e in events if not isinstance(e, ErrorEvent)]
    replayed = [signature(e) for e in scene.transcript.events if not isinstance(e, ErrorEvent)]
    for i, (a, b) in enumerate(zip(recorded, replayed, strict=False)):
        if a != b:
            return ReplayResult(scene, f"event {i + 1} differs: recorded {a}, replayed {b}")
    if len(recorded) != len(replayed):
        return ReplayResult(scene, f"recorded {len(recorded)} events, replayed {len(replayed)}")
    return ReplayResult(scene, "")
