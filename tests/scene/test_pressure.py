"""The director makes the key moments happen: growing pressure on the character a beat waits on, exit
conditions met by meaning (recorded on the turn, folded like terms), and replays that follow the recording."""

from __future__ import annotations

from pathlib import Path

from stage.director.policy import pressure
from stage.replay import replay
from stage.scene import events_of
from stage.transcript import Turn, read_events
from tests.scene.helpers import scene


def test_no_push_early_then_the_goal_then_the_moment(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story)
    beat = story.plot.beat(1)
    lyra_waits = next(i for i, c in enumerate(beat.exit) if "lyra" in c.by)
    assert pressure(sc.state, "lyra", sc.names) is None  # the beat has only begun
    sc.state.turns_in_beat = int(beat.turn_budget * 0.3)
    goal = pressure(sc.state, "lyra", sc.names)
    assert goal is not None and goal.level == 1 and goal.note == beat.goals["lyra"]
    sc.state.turns_in_beat = int(beat.turn_budget * 0.6)
    moment = pressure(sc.state, "lyra", sc.names)
    assert moment is not None and moment.level == 2 and moment.note == beat.exit[lyra_waits].description
    assert "waits on Lyra" in moment.reason
    sc.state.satisfied.add(lyra_waits)
    assert pressure(sc.state, "lyra", sc.names) is None  # her moment happened: nothing more to push
    assert pressure(sc.state, "max", sc.names) is None  # the beat waits on nothing Max can do


def test_the_pushed_character_is_told_the_moment_and_the_turn_says_why(story) -> None:  # type: ignore[no-untyped-def]
    sc, model = scene(story, responder=lambda messages: "Mm, the kettle is warm tonight.")
    beat = story.plot.beat(1)
    while sc.state.turns_in_beat < beat.turn_budget // 2:  # the last turns before the moment is pushed
        events_of(sc.step())
    sc.direct("force", "lyra")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    user = model.calls[-1][-1].content
    assert "Now is the moment: You say you are ready to sync in to the Network" in user
    assert turn.cue.startswith("You say you are ready") and "waits on Lyra" in turn.cue_reason
    assert "Now is the moment" not in model.calls[-1][0].content  # a private push, never in the stable prefix


def test_best_of_n_favours_the_candidate_that_brings_the_moment_about(story) -> None:  # type: ignore[no-untyped-def]
    from stage.llm.base import GenParams

    sc, model = scene(story)
    sc.params = GenParams(max_tokens=40, candidates=2, seed=3)
    beat = story.plot.beat(1)
    model.enqueue("Band at ninety-eight per cent.", "The stars are out above the Spire.")
    sc.direct("force", "zara")
    events_of(sc.step())
    # Lyra's moment (she is ready to sync in) is open: of two equally plain lines, the one that says it wins
    model.enqueue("The lemon tree on the balcony looks sad.", "Okay okay okay, I'm ready to sync in!")
    sc.direct("force", "lyra")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert turn.text.startswith("Okay okay okay"), turn.candidates
    assert [c["parts"]["fulfils"] for c in turn.candidates] == [0.0, 1.0]
    assert any("lyra" in c.by for c in beat.exit)


def test_a_replay_takes_each_recorded_line_as_it_was(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    """A line recorded before a guard existed still replays: the replay re-drives the director, not the agent."""
    path = tmp_path / "old.jsonl"
    sc, _ = scene(story, path=path, replies=["Okay okay okay, sync time!", "Night, kiddo.", "Band green."] * 4)
    sc.run(6)
    events = read_events(path).events
    # as if written by an older stage: one line that today's detectors would reject
    first = next(i for i, e in enumerate(events) if isinstance(e, Turn))
    from dataclasses import replace

    events[first] = replace(events[first], text="You are Zara, a 50 year old.")  # type: ignore[arg-type]
    result = replay(story, events, sc.retriever)
    assert result.divergence == ""
    assert result.scene.transcript.events[first].text == "You are Zara, a 50 year old."  # type: ignore[attr-defined]


def test_late_in_the_beat_the_plot_line_for_the_moment_is_a_candidate_and_meets_it(story) -> None:  # type: ignore[no-untyped-def]
    from stage.llm.base import GenParams

    sc, _model = scene(story, responder=lambda messages: "The lemon tree on the balcony looks sad.")
    sc.params = GenParams(max_tokens=40, candidates=2, seed=3)
    beat = story.plot.beat(1)
    lyra_waits = next(i for i, c in enumerate(beat.exit) if "lyra" in c.by)
    line = beat.exit[lyra_waits].line
    assert line, "the shipped plot words Lyra's moment as a line"
    early = None
    while sc.state.turns_in_beat < beat.turn_budget // 2:
        turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
        early = early or (turn if turn.speaker == "lyra" else None)
    assert early is not None and all(c.get("source") != "moment" for c in early.candidates)  # not before it is late
    if lyra_waits in sc.state.satisfied:  # a sampled line met it already: nothing to offer
        return
    sc.direct("force", "lyra")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    offered = [c for c in turn.candidates if c.get("source") == "moment"]
    assert len(offered) == 1 and offered[0]["text"] == line
    assert turn.text == line and "moment" in turn.flags  # plainer lines lose to the one that brings it about
    assert lyra_waits in sc.state.satisfied
