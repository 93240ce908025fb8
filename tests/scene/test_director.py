"""The director with the scripted backend: addressing, balance, presence, beat transitions, overrides."""

from __future__ import annotations

import itertools
import re

import pytest

from stage.errors import ConfigError
from stage.scene import events_of
from stage.transcript import BeatChange, Direction, Narration, SceneEnd, Turn, turns
from tests.scene.helpers import scene, system_of


def test_a_character_addressed_by_a_person_answers(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story)
    for name, cid in (("Theo", "theo"), ("Zara", "zara"), ("Lyra", "lyra")):
        sc.say(f"{name}, what happens at Sync Hour?", name="Sam")
        turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
        assert turn.speaker == cid
        assert "addressed by name" in turn.reason


def test_a_vocative_between_characters_hands_over_the_floor(story) -> None:  # type: ignore[no-untyped-def]
    sc, _model = scene(story, replies=["Dad, are you coming home tonight?"])
    sc.direct("force", "lyra")
    first = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert first.speaker == "lyra"
    second = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    # "Dad" is not a name; the line names no one, so balance decides, but never Lyra twice in a row
    assert second.speaker != "lyra"
    sc2, _ = scene(story, replies=["Okay okay okay, Theo, look at my band!"])
    sc2.direct("force", "lyra")
    events_of(sc2.step())
    assert next(e for e in events_of(sc2.step()) if isinstance(e, Turn)).speaker == "theo"


def test_turns_are_balanced_and_nobody_speaks_twice_in_a_row(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story)
    sc.run(6)  # within the beat's first half (later, the plot's lines for its moments may end it)
    spoken = [t.speaker for t in turns(sc.transcript.events) if t.beat == "bedtime"]
    assert len(spoken) == 6
    assert all(a != b for a, b in itertools.pairwise(spoken))
    counts = {c: spoken.count(c) for c in ("lyra", "zara", "theo")}
    assert max(counts.values()) - min(counts.values()) <= 1, counts
    assert all(t.reason for t in turns(sc.transcript.events))


def test_absent_characters_never_speak(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story)
    sc.direct("remove", "theo")
    sc.say("Theo, are you there?", name="Sam")
    sc.run(6)
    speakers = {t.speaker for t in turns(sc.transcript.events)}
    assert "theo" not in speakers and speakers <= {"lyra", "zara"}
    with pytest.raises(ConfigError, match="not in this scene"):
        sc.direct("force", "theo")
    sc.direct("add", "camille")
    sc.say("Camille, hello!", name="Sam")
    assert next(e for e in events_of(sc.step()) if isinstance(e, Turn)).speaker == "camille"


def test_alone_with_a_person_a_character_may_answer_again(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story, from_beat="dream-meet", humans=("max",))
    sc.say("hi Lyra", as_character="max")
    events_of(sc.step())
    sc.say("and again?", as_character="max")
    speakers = [t.speaker for t in turns(sc.transcript.events)]
    assert speakers == ["lyra"]
    assert next(e for e in events_of(sc.step()) if isinstance(e, Turn)).speaker == "lyra"
    assert "only character" in turns(sc.transcript.events)[-1].reason


def test_exit_conditions_complete_a_beat_with_a_reason(story) -> None:  # type: ignore[no-untyped-def]
    beat = story.plot.beat(1)
    words = {c.by[0] if c.by else "": c.terms[0] for c in beat.exit}

    fresh = iter(
        ["moon", "kettle", "rain", "ladder", "violin", "pepper", "comet", "harbour", "maple", "tiger"] * 3
    )

    def responder(messages):  # type: ignore[no-untyped-def]
        system = system_of(messages)
        for cid, term in words.items():
            if cid and re.match(rf"You are {story.personas[cid].name}\b", system):
                return f"Well, {term}, that is what I say about the {next(fresh)} tonight."
        return f"Hmm, {next(iter(words.values()))} and the {next(fresh)} for sure."

    sc, _ = scene(story, responder=responder)
    sc.run(beat.turn_budget)
    change = next(
        e for e in sc.transcript.events if isinstance(e, BeatChange) and e.beat == story.plot.beat(2).id
    )
    assert "exit conditions met" in change.reason
    in_beat = [t for t in turns(sc.transcript.events) if t.beat == beat.id]
    assert beat.min_turns <= len(in_beat) < beat.turn_budget
    narration = [
        e for e in sc.transcript.events if isinstance(e, Narration) and e.beat == story.plot.beat(2).id
    ]
    assert narration and narration[0].text == story.plot.beat(2).summary


def test_turn_budget_is_the_backstop_and_the_story_ends(story) -> None:  # type: ignore[no-untyped-def]
    from dataclasses import replace

    # without the plot's lines for the moments (they would meet the conditions), only the budget ends the beat
    beats = tuple(replace(b, exit=tuple(replace(c, line="") for c in b.exit)) for b in story.plot.beats)
    story = replace(story, plot=replace(story.plot, beats=beats))
    last = story.plot.beats[-1]
    sc, _ = scene(story, responder=lambda m: "Mm. Quiet night.", from_beat=last.id)
    sc.run(last.turn_budget + 5)
    assert sc.ended
    end = sc.transcript.events[-1]
    assert isinstance(end, SceneEnd) and "turn budget" in end.reason
    assert events_of(sc.step()) == []


def test_goto_inject_whisper_and_persona_edits(story) -> None:  # type: ignore[no-untyped-def]
    sc, model = scene(story)
    events = sc.direct("goto", "nightmares")
    assert isinstance(events[0], Direction) and isinstance(events[1], BeatChange)
    assert sc.state.beat.id == "nightmares" and set(sc.state.present) == {"lyra", "theo"}
    sc.direct("inject", text="A siren wails far below the window.")
    sc.direct("whisper", "theo", "You are hiding how scared you were at work today.")
    sc.direct("persona", "theo", edits={"style": "Speaks only in rhymes."})
    sc.direct("force", "theo")
    events_of(sc.step())
    theo_prompt = system_of(model.calls[-1])
    assert "You are hiding how scared you were at work today." in theo_prompt
    assert "Speaks only in rhymes." in theo_prompt
    assert "siren wails" in "\n".join(m.content for m in model.calls[-1])
    sc.direct("force", "lyra")
    events_of(sc.step())
    lyra_prompt = system_of(model.calls[-1])
    assert "hiding how scared" not in lyra_prompt and "rhymes" not in lyra_prompt
    sc.direct("force", "theo")
    events_of(sc.step())
    assert "hiding how scared" not in system_of(model.calls[-1]), "a whisper is delivered once"
    kinds = [e.action for e in sc.transcript.events if isinstance(e, Direction)]
    assert kinds == ["goto", "inject", "whisper", "persona", "force", "force", "force"]


def test_bad_directions_are_clear_errors(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story)
    with pytest.raises(ConfigError, match="unknown beat 'chapter-9'; valid beats: 1=bedtime"):
        sc.direct("goto", "chapter-9")
    with pytest.raises(ConfigError, match="unknown character 'kyra'"):
        sc.direct("whisper", "kyra", "hi")
    with pytest.raises(ConfigError, match="cannot edit secrets"):
        sc.direct("persona", "lyra", edits={"secrets": "none"})
    with pytest.raises(ConfigError, match="unknown direction"):
        sc.direct("explode")


def test_secrets_stay_in_their_owners_prompts(story) -> None:  # type: ignore[no-untyped-def]
    sc, model = scene(story, from_beat="reunion")
    sc.run(10)
    for call in model.calls:
        system = system_of(call)
        speaker = next(p for p in story.personas.values() if re.match(rf"You are {p.name}\b", system))
        for other in story.personas.values():
            if other.id == speaker.id:
                continue
            for secret in other.secrets:
                if speaker.id not in secret.known_by:
                    assert secret.text not in system, (speaker.id, other.id)


def test_lore_in_prompts_is_in_scope(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story)
    sc.run(30)
    by_id = {s.id: s for s in story.lore}
    beats = {b.id: b.position for b in story.plot.beats}
    used = [(t.speaker, beats[t.beat], lid) for t in turns(sc.transcript.events) for lid in t.lore_ids]
    assert used
    assert all(by_id[lid].visible(who, pos) for who, pos, lid in used)
