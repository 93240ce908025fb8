"""The scene's state, derived by folding transcript events: resume and replay are the same fold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

from stage.director.addressing import addressee
from stage.text import says_any
from stage.transcript import (
    Action,
    BeatChange,
    Direction,
    Event,
    SceneEnd,
    SceneStart,
    Turn,
    UserLine,
    speaker_of,
)
from stage.types import Beat, Plot


@dataclass
class SceneState:
    beat: Beat
    present: list[str]
    humans: set[str] = field(default_factory=set)
    turns_in_beat: int = 0
    spoken: Counter[str] = field(default_factory=Counter)
    last_speaker: str = ""
    last_spoke_at: dict[str, int] = field(default_factory=dict)  # speaker -> utterance index in the beat
    satisfied: set[int] = field(default_factory=set)  # indices of the beat's exit conditions met so far
    forced: str = ""
    whispers: dict[str, list[str]] = field(default_factory=dict)
    persona_edits: dict[str, dict[str, str]] = field(default_factory=dict)  # character -> field -> value
    addressed: str = ""  # a character named by the last utterance, who should answer next
    ended: bool = False

    def enter(self, beat: Beat, present: list[str]) -> None:
        self.beat = beat
        self.present = list(present)
        self.turns_in_beat = 0
        self.spoken = Counter()
        self.last_spoke_at = {}
        self.satisfied = set()
        self.forced = ""
        self.whispers = {}
        self.addressed = ""

    def note_utterance(self, speaker: str, text: str, addressed: str) -> None:
        self.turns_in_beat += 1
        self.spoken[speaker] += 1
        self.last_speaker = speaker
        self.last_spoke_at[speaker] = self.turns_in_beat
        for i, cond in enumerate(self.beat.exit):
            if i in self.satisfied or (cond.by and speaker not in cond.by):
                continue
            if says_any(text, cond.terms):
                self.satisfied.add(i)
        self.addressed = addressed


def fold(plot: Plot, names: Mapping[str, str], events: list[Event]) -> SceneState:
    """Rebuild the state a scene had after ``events`` (they must start with a ``SceneStart``)."""
    start = next((e for e in events if isinstance(e, SceneStart)), None)
    if start is None:
        raise ValueError("a transcript must begin with a 'scene' event")
    state = SceneState(beat=plot.beat(start.beat), present=list(start.present), humans=set(start.humans))
    for event in events:
        apply(state, plot, names, event)
    return state


def apply(state: SceneState, plot: Plot, names: Mapping[str, str], event: Event) -> None:
    """Update ``state`` with one event; ``names`` maps character ids to display names (for addressing)."""
    if isinstance(event, BeatChange):
        state.enter(plot.beat(event.beat), list(event.present))
    elif isinstance(event, Turn):
        state.note_utterance(
            event.speaker,
            event.text,
            addressee(event.text, state.present, names, event.speaker, vocative=True),
        )
        if state.forced == event.speaker:
            state.forced = ""
        state.whispers.pop(event.speaker, None)
    elif isinstance(event, UserLine):
        who = speaker_of(event, names)
        assert who is not None
        speaker = who.key
        state.note_utterance(
            speaker, event.text, addressee(event.text, state.present, names, speaker, vocative=False)
        )
    elif isinstance(event, Direction):
        _direct(state, event)
    elif isinstance(event, SceneEnd):
        state.ended = True


def _direct(state: SceneState, d: Direction) -> None:
    match d.action:
        case Action.FORCE:
            state.forced = d.target
        case Action.WHISPER:
            state.whispers.setdefault(d.target, []).append(d.text)
        case Action.ADD if d.target not in state.present:
            state.present.append(d.target)
        case Action.REMOVE if d.target in state.present:
            state.present.remove(d.target)
            if state.forced == d.target:
                state.forced = ""
        case Action.PERSONA:
            state.persona_edits.setdefault(d.target, {}).update(d.persona_edits())
        case Action.TAKE:
            state.humans.add(d.target)
        case Action.RELEASE:
            state.humans.discard(d.target)
        case _:  # goto and inject act through the events that follow them
            pass
