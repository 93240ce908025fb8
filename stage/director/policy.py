"""Who speaks next and when a beat is done: plain rules, no model call to parse, every decision explained."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass

from stage.director.state import SceneState


@dataclass(frozen=True)
class Decision:
    speaker: str
    reason: str


def choose_speaker(state: SceneState, names: Mapping[str, str], rng: random.Random) -> Decision | None:
    """The next character to speak, or ``None`` when no character (not played by a person) is present.

    Order: a writer's forced choice; a character addressed by name; otherwise the fewest turns in this beat,
    favouring those an open exit condition waits on, then whoever has waited longest. Nobody speaks twice in
    a row unless they are the only character here.
    """
    agents = [c for c in state.present if c not in state.humans]
    if not agents:
        return None
    if state.forced and state.forced in agents:
        return Decision(
            state.forced, f"the writer chose {names.get(state.forced, state.forced)} to speak next"
        )
    last = state.last_speaker
    if state.addressed in agents:
        who = "a person" if last not in names or last in state.humans else names[last]
        return Decision(
            state.addressed, f"{names.get(state.addressed, state.addressed)} was addressed by name by {who}"
        )
    if len(agents) == 1:
        only = agents[0]
        return Decision(only, f"{names.get(only, only)} is the only character here")
    candidates = [c for c in agents if c != last]
    open_by = {c for i, cond in enumerate(state.beat.exit) if i not in state.satisfied for c in cond.by}

    def score(c: str) -> tuple[float, int]:
        weight = state.spoken[c] - (0.5 if c in open_by else 0.0)
        return (weight, state.last_spoke_at.get(c, -1))

    ranked = sorted(candidates, key=score)
    best = score(ranked[0])
    tied = [c for c in ranked if score(c) == best]
    pick = tied[0] if len(tied) == 1 else rng.choice(sorted(tied))
    parts = [f"{state.spoken[pick]} turn(s) so far in this beat, the fewest"]
    if pick in open_by:
        parts.append("the beat is waiting on them")
    if len(tied) > 1:
        parts.append(f"tie with {', '.join(names.get(c, c) for c in tied if c != pick)} broken by the seed")
    return Decision(pick, f"{names.get(pick, pick)}: " + "; ".join(parts))


def beat_done(state: SceneState) -> str:
    """Why the current beat is complete, or "" while it goes on."""
    beat = state.beat
    if state.turns_in_beat >= beat.turn_budget:
        met = len(state.satisfied)
        return f"turn budget of {beat.turn_budget} reached ({met}/{len(beat.exit)} exit conditions met)"
    if state.turns_in_beat >= beat.min_turns and len(state.satisfied) == len(beat.exit):
        return "exit conditions met: " + "; ".join(c.description for c in beat.exit)
    return ""


@dataclass(frozen=True)
class Pressure:
    """A private push toward the beat's key moment, for a character an open exit condition waits on."""

    level: int  # 1: keep your beat goal in mind; 2: the moment itself, now
    conditions: tuple[int, ...]  # indices of the beat's open exit conditions this character can meet
    note: str  # what the character is told (their goal, or the moment as the plot file words it)
    reason: str  # why, for the turn details
    line: str = ""  # at level 2, the moment as the plot file words it for a character to say ("" if it doesn't)


# Share of the beat's turn budget used before the director pushes: gently, then with the moment itself.
GOAL_AT = 0.25
MOMENT_AT = 0.5


def pressure(state: SceneState, speaker: str, names: Mapping[str, str]) -> Pressure | None:
    """Growing pressure on ``speaker`` as the beat's turns run out while a moment they can bring about has
    not happened yet: first their beat goal, then the exit condition's own description."""
    beat = state.beat
    open_ = tuple(
        i
        for i, cond in enumerate(beat.exit)
        if i not in state.satisfied and (not cond.by or speaker in cond.by)
    )
    if not open_ or beat.turn_budget <= 0:
        return None
    used = state.turns_in_beat / beat.turn_budget
    name = names.get(speaker, speaker)
    if used >= MOMENT_AT:
        cond = beat.exit[open_[0]]
        why = f"{state.turns_in_beat}/{beat.turn_budget} turns of {beat.title} gone; the beat waits on {name}: {cond.description}"
        return Pressure(2, open_, cond.description, why, cond.line)
    if used >= GOAL_AT and beat.goals.get(speaker):
        why = f"{state.turns_in_beat}/{beat.turn_budget} turns of {beat.title} gone; {name} has a moment to bring about"
        return Pressure(1, open_, beat.goals[speaker], why)
    return None
