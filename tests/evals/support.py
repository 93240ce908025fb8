"""Hand-made transcripts for metric tests: typed events, numbered in order, as the scene would write them."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace

from stage.transcript import BeatChange, Direction, Event, Narration, SceneStart, Turn, UserLine
from stage.types import Story


class Script:
    """Builds a transcript: ``Script(story, "bedtime").turn("lyra", "...").events``."""

    def __init__(
        self, story: Story, beat: str, present: Sequence[str] | None = None, humans: Iterable[str] = ()
    ) -> None:
        self.story = story
        b = story.plot.beat(beat)
        cast = tuple(present) if present is not None else b.present
        self.beat = b.id
        self.events: list[Event] = [
            SceneStart(beat=b.id, present=b.present, humans=tuple(humans), backend="test")
        ]
        self.goto(b.id, cast, reason="the scene starts here")

    def _add(self, event: Event) -> Script:
        self.events.append(replace(event, seq=len(self.events) + 1))
        return self

    def goto(
        self, beat: str, present: Sequence[str] | None = None, reason: str = "the writer moved the scene"
    ) -> Script:
        b = self.story.plot.beat(beat)
        if len(self.events) > 1:
            self._add(Direction(beat=self.beat, action="goto", target=b.id))
        self.beat = b.id
        self._add(
            BeatChange(
                beat=b.id,
                reason=reason,
                present=tuple(present or b.present),
                position=b.position,
                title=b.title,
            )
        )
        return self._add(Narration(beat=b.id, text=b.summary))

    def turn(self, speaker: str, text: str, **kw: object) -> Script:
        return self._add(Turn(beat=self.beat, speaker=speaker, text=text, **kw))  # type: ignore[arg-type]

    def say(self, text: str, name: str = "Visitor", as_character: str = "") -> Script:
        return self._add(
            UserLine(beat=self.beat, name="" if as_character else name, as_character=as_character, text=text)
        )

    def direct(self, action: str, target: str = "", text: str = "") -> Script:
        return self._add(Direction(beat=self.beat, action=action, target=target, text=text))
