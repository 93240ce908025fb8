"""Replay a transcript with the director's own fold, to know at every turn who was present and what the
speaker had heard; and cut it into stays in a beat (segments) with how each one ended."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from stage.director.state import SceneState, apply, fold
from stage.transcript import (
    Action,
    BeatChange,
    Direction,
    Event,
    Narration,
    SceneEnd,
    SceneStart,
    Turn,
    UserLine,
)
from stage.types import Story


@dataclass(frozen=True)
class TurnView:
    """One character turn and what was true just before it."""

    turn: Turn
    position: int  # 1-based position of the turn's beat
    present: tuple[str, ...]
    humans: frozenset[str]
    heard: str  # everything said or narrated in the speaker's presence so far, lower-cased
    visitors: tuple[str, ...]  # visitor names seen so far
    answering: str = ""  # the line just before it in this beat, when someone else said it ("" otherwise)


@dataclass
class Segment:
    """One stay in a beat, from its ``beat`` event to the next (or the end of the transcript)."""

    beat: str
    position: int
    budget: int
    exits: int
    satisfied: int = 0
    utterances: int = 0  # character turns and people's lines, as the director counts them
    turns: Counter[str] = field(default_factory=Counter)  # character turns by speaker
    agents: set[str] = field(default_factory=set)  # characters present and not played by a person
    outcome: str = "open"  # exit | budget | writer | open


def _close(seg: Segment, state: SceneState, by_writer: bool) -> None:
    """Record how a stay ended: moved on by the writer, its exit conditions met, its budget spent, or open."""
    seg.satisfied = len(state.satisfied)
    seg.utterances = state.turns_in_beat
    if by_writer:
        seg.outcome = "writer"
    elif seg.satisfied == seg.exits:
        seg.outcome = "exit"
    elif seg.utterances >= seg.budget:
        seg.outcome = "budget"
    else:
        seg.outcome = "open"


def walk(events: Sequence[Event], story: Story) -> tuple[list[TurnView], list[Segment]]:
    """Every turn with its context, and the beat segments; ``events`` must start with a ``scene`` event."""
    names = {cid: p.name for cid, p in story.personas.items()}
    start = next((e for e in events if isinstance(e, SceneStart)), None)
    if start is None:
        raise ValueError("a transcript must begin with a 'scene' event")
    state = fold(story.plot, names, [start])
    heard: dict[str, list[str]] = {}
    visitors: list[str] = []
    views: list[TurnView] = []
    segments: list[Segment] = []
    seg: Segment | None = None
    previous: Event | None = None
    last_line: tuple[str, str] = ("", "")  # (who, text) of the beat's latest utterance

    def hear(who: Sequence[str], text: str, but: str = "") -> None:
        for cid in who:
            if cid != but:
                heard.setdefault(cid, []).append(text.lower())

    for event in events:
        if isinstance(event, SceneStart):
            previous = event
            continue
        if isinstance(event, BeatChange):
            if seg is not None:
                by_writer = isinstance(previous, Direction) and previous.action is Action.GOTO
                _close(seg, state, by_writer)
            apply(state, story.plot, names, event)
            beat = state.beat
            seg = Segment(beat.id, beat.position, beat.turn_budget, len(beat.exit))
            last_line = ("", "")
            segments.append(seg)
            hear(state.present, f"{event.title}\n{event.location}")  # the scene header everyone sees
        elif isinstance(event, Turn):
            views.append(
                TurnView(
                    turn=event,
                    position=_position(story, event.beat, state.beat.position),
                    present=tuple(state.present),
                    humans=frozenset(state.humans),
                    heard="\n".join(heard.get(event.speaker, [])),
                    visitors=tuple(visitors),
                    answering=last_line[1] if last_line[0] != event.speaker else "",
                )
            )
            apply(state, story.plot, names, event)
            hear(state.present, event.text, but=event.speaker)
            last_line = (event.speaker, event.text)
            if seg is not None:
                seg.turns[event.speaker] += 1
        elif isinstance(event, UserLine):
            if event.name and not event.as_character and event.name not in visitors:
                visitors.append(event.name)
            apply(state, story.plot, names, event)
            hear(state.present, event.text, but=event.as_character)
            last_line = (event.as_character or f"person:{event.name}", event.text)
        elif isinstance(event, Narration):
            hear(state.present, event.text)
        elif isinstance(event, Direction):
            apply(state, story.plot, names, event)
            if event.action is Action.WHISPER and event.target:
                hear([event.target], event.text)
            elif event.action is Action.PERSONA and event.target:
                hear([event.target], "\n".join(event.persona_edits().values()))
        elif isinstance(event, SceneEnd):
            if seg is not None:
                _close(seg, state, by_writer=False)
                seg = None
            apply(state, story.plot, names, event)
        if seg is not None:
            seg.agents.update(c for c in state.present if c not in state.humans)
        previous = event
    if seg is not None:
        _close(seg, state, by_writer=False)
    return views, segments


def _position(story: Story, beat_id: str, default: int) -> int:
    try:
        return story.plot.beat(beat_id).position
    except KeyError:
        return default
