"""A headless scene on the real embedded model and the real lore store: structure, not words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from stage.llm.base import GenParams
from stage.scene import Scene
from stage.transcript import BeatChange, Turn, read_events, turns
from stage.types import Plot
from tests.conftest import ROOT

pytestmark = pytest.mark.model


def test_three_beats_on_the_embedded_model(story, local_model, chroma_retriever, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    short = Plot(story.plot.title, tuple(replace(b, turn_budget=3, min_turns=2) for b in story.plot.beats))
    st = replace(story, plot=short)
    path = tmp_path / "scene.jsonl"
    sc = Scene.new(st, local_model, chroma_retriever, path, GenParams(max_tokens=50, temperature=0.7), seed=2)
    sc.say("Lyra, are you excited for tonight?", name="Sam")
    sc.run(12, until_beat=3)
    sc.transcript.close()
    result = read_events(path)
    assert result.problems == []
    entered = [e.beat for e in result.events if isinstance(e, BeatChange)]
    assert entered[:4] == [b.id for b in short.beats[:4]]
    present: set[str] = set()
    names = [p.name for p in st.personas.values()]
    for e in result.events:
        if isinstance(e, BeatChange):
            present = set(e.present)
        if isinstance(e, Turn):
            assert e.speaker in present, (e.speaker, e.beat)
            assert e.text.strip()
            others = [n for n in names if n != st.personas[e.speaker].name]
            assert not any(f"{n}:" in e.text for n in others), e.text
            assert e.model == "smollm2" and e.completion_tokens > 0 and e.prompt_tokens > 0
            assert e.ttft_ms > 0 and e.latency_ms >= e.ttft_ms
    first = turns(result.events)[0]
    assert first.speaker == "lyra" and "addressed" in first.reason
    assert any(t.lore_ids for t in turns(result.events))


def test_stage_ask_json(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGE_")}
    env["STAGE_HOME"] = str(tmp_path)
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "stage.cli",
            "ask",
            "max",
            "what do you dream about?",
            "--beat",
            "dream-meet",
            "--json",
        ],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=300,
    )
    assert out.returncode == 0, out.stderr
    reply = json.loads(out.stdout)
    assert set(reply) == {"speaker", "text", "beat", "lore_ids", "model", "tokens", "latency_ms"}
    assert reply["speaker"] == "max" and reply["beat"] == "dream-meet" and reply["text"].strip()
    assert reply["model"] == "smollm2" and reply["tokens"]["completion"] > 0
    bad = subprocess.run(
        [sys.executable, "-m", "stage.cli", "ask", "kyra", "hi", "--backend", "scripted"],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    assert bad.returncode == 2 and "unknown character 'kyra'" in bad.stderr and "lyra" in bad.stderr
