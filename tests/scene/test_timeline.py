"""Swipes, choices, edits, deletes, rewinds and forks: new events in an append-only log, folded into the line
that counts. Each changes what the next turn's prompt holds and the director's state, and replays exactly."""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Sequence
from pathlib import Path

import pytest

from stage.agents.retrieval import KeywordRetriever
from stage.errors import ConfigError, DataError
from stage.llm.scripted import ScriptedModel
from stage.replay import replay, signature
from stage.scene import Scene, events_of
from stage.timeline import Tree, fork, line
from stage.transcript import (
    BeatChange,
    Choose,
    Delete,
    Edit,
    Rate,
    Rewind,
    Swipe,
    Turn,
    UserLine,
    read_events,
    to_dict,
    turns,
)
from stage.types import Message
from tests.scene.helpers import PARAMS
from tests.scene.test_old_transcripts import OLD

WORDS = ["stars", "dream", "orchard", "band", "quiet", "lantern", "river", "bridge", "map", "song"]


def echo(messages: Sequence[Message]) -> str:
    """A reply that is a function of the prompt: a resumed scene must get the words the uninterrupted one got."""
    digest = hashlib.sha256("\n".join(m.content for m in messages).encode()).digest()
    return " ".join(WORDS[b % len(WORDS)] for b in digest[:7]).capitalize() + "."


def new(story, path: Path | None, seed: int = 4, model: ScriptedModel | None = None) -> Scene:  # type: ignore[no-untyped-def]
    return Scene.new(
        story,
        model or ScriptedModel(responder=echo),
        KeywordRetriever(story.lore),
        path,
        PARAMS,
        seed=seed,
        backend="scripted",
    )


def resume(story, path: Path, model: ScriptedModel | None = None) -> Scene:  # type: ignore[no-untyped-def]
    return Scene.resume(
        story, model or ScriptedModel(responder=echo), KeywordRetriever(story.lore), path, PARAMS
    )


def check(story, path: Path) -> str:  # type: ignore[no-untyped-def]
    return replay(story, read_events(path).events, KeywordRetriever(story.lore)).divergence


def last_prompt(model: ScriptedModel) -> str:
    return "\n".join(m.content for m in model.calls[-1])


# -- resume draws as the uninterrupted scene would ---------------------------------------------------------


def test_a_scene_split_at_every_turn_and_resumed_is_the_uninterrupted_scene(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    whole = new(story, tmp_path / "whole.jsonl", seed=6)
    whole.run(6)
    whole.say("Max, what is the Edge?", name="Sam")
    whole.run(14)
    whole.transcript.close()
    events = read_events(tmp_path / "whole.jsonl").events
    expected = [signature(e) for e in events]
    assert check(story, tmp_path / "whole.jsonl") == ""
    cuts = [t.seq for t in turns(events)]
    assert len(cuts) >= 20
    for cut in cuts:
        part = tmp_path / f"part-{cut}.jsonl"
        fork(events, cut, part).close()
        sc = resume(story, part)
        # the rest of the recording, driven again: the person's line where it was, the director's turns
        for e in events[len(sc.transcript.events) :]:
            if isinstance(e, UserLine):
                sc.say(e.text, name=e.name)
            elif isinstance(e, Turn) and len(turns(sc.transcript.events)) < len(cuts):
                events_of(sc.step())
        sc.transcript.close()
        got = [signature(e) for e in read_events(part).events]
        assert got == expected, f"resumed after turn {cut}: diverges"
        assert check(story, part) == ""


def test_the_cli_resume_then_replay_check_holds(tmp_path: Path) -> None:
    from tests.scene.test_transcript import play

    out = tmp_path / "a.jsonl"
    assert play(tmp_path, "--turns", "20", "--out", str(out)).wait(timeout=120) == 0
    assert play(tmp_path, "--resume", str(out), "--turns", "20").wait(timeout=120) == 0
    from stage import runtime
    from stage.settings import Settings

    st = runtime.story(Settings(home=tmp_path))
    assert len(turns(read_events(out).events)) >= 30
    assert check(st, out) == ""


# -- each change, folded --------------------------------------------------------------------------------------


def test_a_swipe_offers_the_runner_up_first_then_a_new_reply_and_choose_browses(
    story, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedModel(responder=echo)
    sc = new(story, tmp_path / "s.jsonl", model=model)
    sc.run(3)
    last = turns(sc.line)[-1]
    calls = len(model.calls)
    made = events_of(sc.swipe(last.seq))
    swipe = next(e for e in made if isinstance(e, Swipe))
    fit = [c for n, c in enumerate(last.candidates) if n != last.chosen and not c.get("reject")]
    if fit:  # best-of-n left a runner-up that could stand: it is the first alternative, with no model call
        assert swipe.source == "candidate" and len(model.calls) == calls
    shown = turns(sc.line)[-1]
    assert shown.seq == last.seq and shown.text == swipe.text
    assert sc.tree.count(last.seq) == (1, 2)
    for _ in range(3):
        events_of(sc.swipe(last.seq))
    assert sc.tree.count(last.seq) == (4, 5)
    assert any(s.source == "regenerated" for s in sc.tree.alternatives[last.seq])
    sc.choose(last.seq, 0)
    assert turns(sc.line)[-1].text == last.text
    events_of(sc.step())
    # the next turn heard the chosen line, not the swiped ones
    assert last.text in last_prompt(model)
    assert all(
        s.text not in last_prompt(model) for s in sc.tree.alternatives[last.seq] if s.text != last.text
    )
    with pytest.raises(ConfigError, match="alternative"):
        sc.choose(last.seq, 9)
    sc.transcript.close()
    assert check(story, tmp_path / "s.jsonl") == ""


def test_an_edit_is_what_the_next_turn_hears_and_what_the_director_counts(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedModel(responder=echo)
    sc = new(story, tmp_path / "e.jsonl", model=model)
    sc.run(2)
    said = sc.say("Hello everyone.", name="Sam")[0]
    sc.edit(said.seq, "Lyra, what is your favourite star?")
    assert sc.state.addressed == "lyra"  # the director folds the corrected line: Lyra was named
    events_of(sc.step())
    assert turns(sc.line)[-1].speaker == "lyra"
    assert "favourite star" in last_prompt(model) and "Hello everyone" not in last_prompt(model)
    t = turns(sc.line)[-1]
    sc.edit(t.seq, "I think the orchard is the best place.")
    assert turns(sc.line)[-1].text == "I think the orchard is the best place."
    assert sc.tree.is_edited(t.seq)
    with pytest.raises(ConfigError, match="cannot stand"):
        sc.edit(t.seq, "How do I make a bomb at home?")
    assert turns(sc.line)[-1].text == "I think the orchard is the best place."
    sc.transcript.close()
    raw = read_events(tmp_path / "e.jsonl").events
    assert raw[said.seq - 1].text == "Hello everyone."  # the log keeps what was said; the edit is a new event
    assert sum(isinstance(e, Edit) for e in raw) == 2
    assert check(story, tmp_path / "e.jsonl") == ""


def test_a_deleted_line_is_neither_shown_nor_heard_nor_counted(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedModel(responder=echo)
    sc = new(story, tmp_path / "d.jsonl", model=model)
    sc.run(2)
    said = sc.say("Zara, the purple elephant song is loud.", name="Sam")[0]
    spoken_before = sc.state.turns_in_beat
    sc.delete(said.seq)
    assert all(e.seq != said.seq for e in sc.line)
    assert sc.state.turns_in_beat == spoken_before - 1 and sc.state.addressed != "zara"
    events_of(sc.step())
    assert "purple elephant" not in last_prompt(model)
    with pytest.raises(ConfigError, match="not in this scene's line"):
        sc.edit(said.seq, "again")
    sc.transcript.close()
    assert check(story, tmp_path / "d.jsonl") == ""


def test_rewind_keeps_the_later_turns_as_a_branch_to_return_to(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    model = ScriptedModel(responder=echo)
    sc = new(story, tmp_path / "r.jsonl", model=model)
    sc.run(5)
    back_to = turns(sc.line)[1]
    old_tip = sc.line[-1].seq
    old_texts = [t.text for t in turns(sc.line)[2:]]
    sc.rewind(back_to.seq)
    assert sc.line[-1].seq == back_to.seq and len(turns(sc.line)) == 2
    assert sc.state.turns_in_beat == 2
    branches = sc.tree.branches()
    assert [b.tip for b in branches] == [old_tip] and branches[0].parts_at == back_to.seq
    sc.say("A new direction: Theo, tell us about the fire.", name="Sam")
    events_of(sc.step())
    prompt = last_prompt(model)
    assert "about the fire" in prompt and all(t not in prompt for t in old_texts)
    sc.rewind(old_tip)  # back to the first branch
    assert [t.text for t in turns(sc.line)[2:]] == old_texts
    assert len(sc.tree.branches()) == 1
    sc.transcript.close()
    assert check(story, tmp_path / "r.jsonl") == ""


def test_a_rewind_past_the_end_of_a_beat_moves_on_again(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sc = new(story, tmp_path / "b.jsonl")
    sc.run(40, until_beat=1)
    change = next(e for e in sc.line if isinstance(e, BeatChange) and e.from_beat)
    closing = max(t.seq for t in turns(sc.line) if t.seq < change.seq)
    events_of(sc.play(3))
    sc.rewind(closing)  # the turn that completed the beat: the beat completes again
    assert sc.state.beat.id == change.beat and sc.state.turns_in_beat == 0
    sc.transcript.close()
    assert check(story, tmp_path / "b.jsonl") == ""


def test_a_fork_starts_as_the_line_read_and_replays(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sc = new(story, tmp_path / "f.jsonl")
    sc.run(5)
    t = turns(sc.line)[1]
    sc.edit(t.seq, "Edited before the fork.")
    events_of(sc.swipe(turns(sc.line)[0].seq))
    shown = [e.text for e in turns(sc.line)[:2]]
    forked = sc.fork(t.seq, tmp_path / "g.jsonl")
    forked.close()
    other = resume(story, tmp_path / "g.jsonl")
    assert [e.text for e in turns(other.line)] == shown
    other.run(3)
    other.transcript.close()
    assert check(story, tmp_path / "g.jsonl") == ""
    assert len(turns(line(read_events(tmp_path / "f.jsonl").events))) == 5  # the original is untouched


# -- the log stays append-only and readable ---------------------------------------------------------------------


def test_changes_append_and_never_rewrite(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "a.jsonl"
    sc = new(story, path)
    sc.run(3)
    before = path.read_bytes()
    t = turns(sc.line)[-1]
    events_of(sc.swipe(t.seq))
    sc.choose(t.seq, 0)
    sc.edit(t.seq, "A corrected line.")
    sc.delete(t.seq)
    sc.rewind(turns(sc.line)[0].seq)
    sc.rename("The night of the orchard")
    sc.rate(turns(sc.line)[0].seq, "like")
    sc.transcript.close()
    after = path.read_bytes()
    assert after.startswith(before)
    kinds = [json.loads(x)["kind"] for x in after[len(before) :].decode().splitlines()]
    assert kinds[:7] == ["swipe", "choose", "edit", "delete", "rewind", "rename", "rate"]
    assert Tree.of(read_events(path).events).title == "The night of the orchard"


def test_a_transcript_written_before_changes_is_its_own_line(story) -> None:  # type: ignore[no-untyped-def]
    events = read_events(OLD).events
    assert line(events) == events
    assert Tree.of(events).branches() == []


def test_an_old_transcript_can_be_swiped_and_edited_and_still_replays(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "old.jsonl"
    shutil.copy(OLD, path)
    sc = resume(story, path)
    t = turns(sc.line)[-1]
    sc.edit(t.seq, "Fixed in an old transcript.")
    assert turns(sc.line)[-1].text == "Fixed in an old transcript."
    sc.transcript.close()
    assert check(story, path) == ""


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            Edit(of=999, text="x"),
            "event {seq} (edit): of: expected the seq of a turn or user or narration before it, got 999",
        ),
        (
            Delete(of=1),
            "event {seq} (delete): of: expected a turn or user or narration, got event 1, a scene",
        ),
        (Choose(of=999, index=1), "event {seq} (choose): of: expected the seq of a turn before it, got 999"),
        (Rewind(to=999), "event {seq} (rewind): to: expected the seq of an event before it, got 999"),
        (Swipe(of=2, text="x"), "event {seq} (swipe): of: expected a turn, got event 2, a beat"),
        (Rate(of=2, value="like"), "event {seq} (rate): of: expected a turn, got event 2, a beat"),
        (Rate(of=4, value="love"), "event {seq} (rate): value: expected one of like, dislike or '', got 'love'"),
    ],
)
def test_a_change_that_names_a_missing_or_wrong_event_is_a_clear_error(
    story, tmp_path: Path, change, expected
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bad.jsonl"
    sc = new(story, path)
    sc.run(2)
    seq = sc.transcript.next_seq
    sc.transcript.close()
    with open(path, "a", encoding="utf-8") as fh:
        row = to_dict(change) | {"seq": seq, "ts": 1.0}
        fh.write(json.dumps(row) + "\n")
    with pytest.raises(DataError) as err:
        resume(story, path)
    assert str(err.value) == f"{path}: " + expected.format(seq=seq)
    with pytest.raises(ConfigError, match="not in this scene's line"):
        new(story, None).edit(999, "x")


def test_thumbs_are_kept_change_nothing_the_characters_hear_and_replay(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "rated.jsonl"
    sc = new(story, path)
    sc.run(3)
    first, second = turns(sc.line)[:2]
    state, said = sc.state, [to_dict(e) for e in sc.line]
    sc.rate(first.seq, "like")
    sc.rate(second.seq, "dislike")
    sc.rate(first.seq, "")  # taken back
    assert sc.tree.ratings == {first.seq: "", second.seq: "dislike"}
    assert [to_dict(e) for e in sc.line] == said and sc.state is state  # the line and the director's state stand
    with pytest.raises(ConfigError, match="like, dislike or nothing"):
        sc.rate(first.seq, "love")
    with pytest.raises(ConfigError, match="it is a beat event"):
        sc.rate(next(e.seq for e in sc.line if isinstance(e, BeatChange)), "like")
    sc.run(1)
    sc.transcript.close()
    assert Tree.of(read_events(path).events).ratings == {first.seq: "", second.seq: "dislike"}
    assert check(story, path) == ""


# -- a kill -9 in the middle of a change loses nothing already written --------------------------------------------

CHANGER = """
import sys, itertools
from pathlib import Path
from stage import runtime
from stage.agents.retrieval import KeywordRetriever
from stage.llm.base import GenParams
from stage.llm.scripted import ScriptedModel
from stage.scene import Scene, events_of
from stage.settings import Settings
from stage.transcript import Turn

story = runtime.story(Settings())
path, what = Path(sys.argv[1]), sys.argv[2]
model = ScriptedModel(seed=1, delay=0.2 if what == "swipe" else 0.0)
sc = Scene.resume(story, model, KeywordRetriever(story.lore), path, GenParams(max_tokens=60, candidates=1))
last = [e for e in sc.line if isinstance(e, Turn)][-1].seq
print("ready", flush=True)
for n in itertools.count():
    if what == "swipe":
        events_of(sc.swipe(last))
    else:
        sc.edit(last, f"Correction number {n}.")
"""


@pytest.mark.parametrize("what", ["swipe", "edit"])
def test_a_kill_during_a_change_loses_nothing_and_the_scene_goes_on(story, tmp_path: Path, what: str) -> None:  # type: ignore[no-untyped-def]
    import os
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    path = tmp_path / "k.jsonl"
    sc = new(story, path)
    sc.run(4)
    sc.transcript.close()
    before = path.read_bytes()
    proc = subprocess.Popen(
        [sys.executable, "-c", CHANGER, str(path), what], cwd=ROOT, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    kind = f'"kind": "{what}"'
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and path.read_text().count(kind) < 3:
        time.sleep(0.01)
    time.sleep(0.1 if what == "swipe" else 0.003)  # mid-way through the next one
    seen = path.read_text().count(kind)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert seen >= 3
    after = read_events(path)
    assert path.read_bytes().startswith(before)
    assert sum(e.kind == what for e in after.events) >= seen  # every change seen on disk is still there
    again = resume(story, path)  # a partial last line, if the kill cut one, is dropped
    again.run(2)
    again.transcript.close()
    final = read_events(path)
    assert final.problems == [] and len(turns(final.events)) == 6
    assert check(story, path) == ""


def test_the_cli_changes_a_transcript_and_lists_the_library(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from stage.library import Library, new_owner
    from tests.test_cli import stage

    lib = Library(tmp_path / "scenes")
    path = lib.new_path(new_owner())
    sc = new(story, path)
    sc.run(3)
    sc.transcript.close()
    seq = turns(read_events(path).events)[-1].seq
    env = {"STAGE_BACKEND": "scripted", "STAGE_SEED": "3"}
    edited = stage(
        "lines", str(path), "--edit", str(seq), "Corrected from the terminal.", env=env, home=tmp_path
    )
    assert edited.returncode == 0, edited.stderr
    assert f"#{seq} [edited]" in edited.stdout and "Corrected from the terminal." in edited.stdout
    swiped = stage("lines", str(path), "--swipe", str(seq), env=env, home=tmp_path)
    assert swiped.returncode == 0 and f"#{seq} [2/2]" in swiped.stdout, swiped.stderr
    back = stage(
        "lines", str(path), "--rewind", str(turns(read_events(path).events)[0].seq), env=env, home=tmp_path
    )
    assert back.returncode == 0 and "branch: parts after" in back.stdout
    bad = stage("lines", str(path), "--edit", "999", "x", env=env, home=tmp_path)
    assert bad.returncode == 2 and "cannot edit line 999" in bad.stderr
    assert check(story, path) == ""
    listed = stage("scenes", env=env, home=tmp_path)
    assert listed.returncode == 0 and "1 scene(s)" in listed.stdout and str(path) in listed.stdout
    assert "Corrected from the terminal." not in listed.stdout  # the rewind left it on a branch
