"""Model faults and crashes: bounded retries, a clear error event, nothing lost, and the scene goes on."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stage.agents.retrieval import KeywordRetriever
from stage.errors import ModelUnavailable
from stage.llm.base import GenParams
from stage.llm.openai_compat import OpenAICompatModel
from stage.llm.wrappers import Retrying
from stage.scene import Scene, events_of
from stage.transcript import ErrorEvent, SceneEnd, Turn, read_events, turns
from tests.conftest import ROOT
from tests.fakes import flaky


def scene_on(story, url: str, path: Path) -> Scene:  # type: ignore[no-untyped-def]
    model = Retrying(OpenAICompatModel(url, "fake", "k", timeout=1.0), retries=2, backoff=0.01)
    return Scene.new(story, model, KeywordRetriever(story.lore), path, GenParams(max_tokens=40), seed=4)


@pytest.mark.parametrize("failure", ["500", "429", "stall", "drop", "garbage"])
def test_a_failing_endpoint_is_logged_and_the_scene_resumes_when_it_is_back(
    story, tmp_path: Path, failure: str
) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "t.jsonl"
    with flaky(*[failure] * 3, reply="Okay okay, I'm ready to sync in now.", stall_s=2.0) as server:
        sc = scene_on(story, server.base_url, path)
        before = (sc.state.turns_in_beat, sc.state.last_speaker)
        with pytest.raises(ModelUnavailable, match="gave up after 3 attempts"):
            events_of(sc.step())
        assert (sc.state.turns_in_beat, sc.state.last_speaker) == before  # nothing half-done
        errors = [e for e in sc.transcript.events if isinstance(e, ErrorEvent)]
        assert len(errors) == 1 and "gave up" in errors[0].message
        events = events_of(sc.step())  # the endpoint is back
    turn = next(e for e in events if isinstance(e, Turn))
    assert turn.text == "Okay okay, I'm ready to sync in now."
    assert read_events(path).problems == []


def test_one_transient_failure_is_invisible_to_the_scene(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    with flaky("500", reply="Band's green, Mum!") as server:
        sc = scene_on(story, server.base_url, tmp_path / "t.jsonl")
        turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert turn.attempts == 2 and not [e for e in sc.transcript.events if isinstance(e, ErrorEvent)]


def test_cli_play_reports_an_unreachable_model_in_one_line_and_resumes(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGE_")}
    env.update(
        STAGE_HOME=str(tmp_path),
        STAGE_BACKEND="openai",
        STAGE_BASE_URL="http://127.0.0.1:1/v1",
        STAGE_BACKOFF="0.01",
        STAGE_RETRIES="1",
    )
    out = tmp_path / "t.jsonl"
    run = subprocess.run(
        [sys.executable, "-m", "stage.cli", "play", "--turns", "3", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
    )
    assert run.returncode == 3
    assert "cannot reach the model at http://127.0.0.1:1/v1" in run.stderr and "Traceback" not in run.stderr
    assert any(isinstance(e, ErrorEvent) for e in read_events(out).events)
    env.update(STAGE_BACKEND="scripted")
    again = subprocess.run(
        [sys.executable, "-m", "stage.cli", "play", "--resume", str(out), "--turns", "2"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=180,
    )
    assert again.returncode == 0, again.stderr
    assert len(turns(read_events(out).events)) == 2


def test_twenty_kills_at_random_moments_lose_nothing(tmp_path: Path) -> None:
    """kill -9 of `stage play` 20 times: every turn on disk survives, the file always parses, --resume goes on."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGE_")}
    env.update(STAGE_HOME=str(tmp_path), STAGE_BACKEND="scripted", STAGE_SEED="8")
    out = tmp_path / "scene.jsonl"
    rng = random.Random(20)
    subprocess.run(
        [sys.executable, "-m", "stage.cli", "lore", "index"],
        env=env,
        cwd=ROOT,
        check=True,
        capture_output=True,
        timeout=300,
    )
    on_disk = 0
    total = 0
    for i in range(20):
        if out.exists() and isinstance(read_events(out).events[-1], SceneEnd):
            # a fast machine plays the whole story within the kills: carry on in a fresh transcript
            total += on_disk
            out, on_disk = tmp_path / f"scene-{i}.jsonl", 0
        args = ["--resume", str(out)] if out.exists() else ["--out", str(out)]
        proc = subprocess.Popen(
            [sys.executable, "-m", "stage.cli", "play", *args, "--turns", "100000"],
            env=env,
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        time.sleep(rng.uniform(1.0, 4.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        if not out.exists():
            continue
        result = read_events(out)
        assert not result.problems, (i, result.problems)
        count = len(turns(result.events))
        assert count >= on_disk, f"kill {i}: {on_disk} turns before, {count} after"
        on_disk = count
        seqs = [e.seq for e in result.events]
        assert seqs == list(range(1, len(seqs) + 1)), f"kill {i}: sequence broken"
    assert total + on_disk > 0
    ended = isinstance(read_events(out).events[-1], SceneEnd)
    final = subprocess.run(
        [sys.executable, "-m", "stage.cli", "play", "--resume", str(out), "--turns", "2"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert final.returncode == 0, final.stderr
    after = read_events(out)
    assert not after.problems
    if ended:  # the last run finished the story: resuming says so and appends nothing
        assert len(turns(after.events)) == on_disk
        assert "complete" in (final.stdout + final.stderr).lower()
    else:
        assert len(turns(after.events)) >= on_disk + 1
