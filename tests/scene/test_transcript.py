"""The transcript: append-only JSONL, flushed per event, tolerant of crashes; resume, fork and replay."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stage.agents.retrieval import KeywordRetriever
from stage.llm.scripted import ScriptedModel
from stage.replay import replay
from stage.scene import Scene
from stage.timeline import fork
from stage.transcript import SceneStart, Transcript, Turn, read_events, to_dict, turns
from tests.conftest import ROOT
from tests.scene.helpers import PARAMS, scene


def test_events_are_typed_numbered_and_flushed(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.jsonl"
    sc, _ = scene(story, path)
    sc.say("Hello Lyra!", name="Sam")
    sc.run(3)
    lines = path.read_text().splitlines()  # readable before close: every event was flushed as written
    rows = [json.loads(line) for line in lines]
    assert [r["seq"] for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0]["kind"] == "scene" and {"beat", "narration", "user", "turn"} <= {r["kind"] for r in rows}
    turn = next(r for r in rows if r["kind"] == "turn")
    for field in (
        "speaker",
        "text",
        "beat",
        "lore_ids",
        "model",
        "prompt_tokens",
        "completion_tokens",
        "ttft_ms",
        "latency_ms",
        "regenerations",
        "reason",
        "ts",
    ):
        assert field in turn


def test_partial_last_line_is_ignored_and_corrupt_lines_reported(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.jsonl"
    sc, _ = scene(story, path)
    sc.run(4)
    sc.transcript.close()
    good = path.read_text().splitlines()
    broken = [*good[:3], "{this is not json", *good[3:]]
    path.write_text("\n".join(broken) + "\n" + '{"kind": "turn", "speak')  # a crash mid-write
    result = read_events(path)
    assert len(result.events) == len(good)
    assert len(result.problems) == 1 and f"{path}:4: skipped a corrupt line" in result.problems[0]


def test_resume_continues_numbering_and_state(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.jsonl"
    sc, _ = scene(story, path)
    sc.run(5)
    state_before = (sc.state.beat.id, sc.state.turns_in_beat, dict(sc.state.spoken), sc.state.last_speaker)
    n = len(sc.transcript.events)
    sc.transcript.close()
    with open(path, "a") as fh:
        fh.write('{"kind": "turn", "seq": 99, "spea')  # a crash mid-write
    again = Scene.resume(story, ScriptedModel(seed=9), KeywordRetriever(story.lore), path, PARAMS)
    assert (
        again.state.beat.id,
        again.state.turns_in_beat,
        dict(again.state.spoken),
        again.state.last_speaker,
    ) == state_before
    again.run(2)
    again.transcript.close()
    rows = [json.loads(line) for line in path.read_text().splitlines()]
    assert [r["seq"] for r in rows] == list(range(1, n + 3))


def test_fork_from_an_event(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story, tmp_path / "a.jsonl")
    sc.run(6)
    fork_at = turns(sc.transcript.events)[2].seq
    forked = fork(sc.transcript.events, fork_at, tmp_path / "b.jsonl")
    forked.close()
    resumed = Scene.resume(
        story, ScriptedModel(seed=1), KeywordRetriever(story.lore), tmp_path / "b.jsonl", PARAMS
    )
    assert len(turns(resumed.transcript.events)) == 3
    resumed.run(1)
    assert len(turns(resumed.transcript.events)) == 4
    assert len(turns(read_events(tmp_path / "a.jsonl").events)) == 6


def test_replay_reproduces_the_scene_event_for_event(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story, tmp_path / "a.jsonl", seed=11)
    sc.run(4)
    sc.say("Zara, is the band safe?", name="Sam")
    sc.run(2)
    sc.direct("goto", "dream-meet")
    sc.direct("whisper", "max", "Tell her about the Edge.")
    sc.run(14)
    result = replay(story, read_events(tmp_path / "a.jsonl").events, KeywordRetriever(story.lore))
    assert result.divergence == ""
    tampered = list(read_events(tmp_path / "a.jsonl").events)
    idx = next(i for i, e in enumerate(tampered) if isinstance(e, Turn))
    from dataclasses import replace

    tampered[idx] = replace(tampered[idx], speaker="camille")  # type: ignore[arg-type]
    assert "differs" in replay(story, tampered, KeywordRetriever(story.lore)).divergence


def test_to_dict_round_trip() -> None:
    t = Transcript(None)
    e = t.append(SceneStart(beat="bedtime", present=("lyra",)))
    from stage.transcript import from_dict

    assert from_dict(json.loads(json.dumps(to_dict(e)))) == e


def play(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGE_")}
    env.update(STAGE_HOME=str(home), STAGE_BACKEND="scripted", STAGE_SEED="5")
    return subprocess.Popen(
        [sys.executable, "-m", "stage.cli", "play", *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_kill_mid_scene_loses_no_completed_turn_and_resume_continues(tmp_path: Path) -> None:
    out = tmp_path / "scene.jsonl"
    proc = play(tmp_path, "--turns", "100000", "--out", str(out))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not out.exists() or out.read_text().count('"kind": "turn"') < 30):
        time.sleep(0.05)
    seen = out.read_text().count('"kind": "turn"')
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert seen >= 30, proc.stderr.read() if proc.stderr else ""
    result = read_events(out)
    assert result.problems == []
    assert len(turns(result.events)) >= seen  # every turn seen on disk before the kill is still there
    resumed = play(tmp_path, "--resume", str(out), "--turns", "3")
    assert resumed.wait(timeout=120) == 0, resumed.stderr.read() if resumed.stderr else ""
    after = read_events(out)
    assert after.problems == [] and len(turns(after.events)) >= len(turns(result.events)) + 3 - 1
    seqs = [e.seq for e in after.events]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)


@pytest.mark.parametrize("bad", ["{", '{"kind": "dance"}', '{"kind": "turn", "nonsense": 1}'])
def test_bad_lines_never_stop_a_read(tmp_path: Path, bad: str) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(json.dumps(to_dict(SceneStart(seq=1, beat="bedtime"))) + "\n" + bad + "\n")
    result = read_events(path)
    assert len(result.events) == 1 and len(result.problems) == 1
