"""``stage eval`` as a person runs it: every suite on the scripted backend, the report, --compare, failures."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT


@dataclass(frozen=True)
class Run:
    out: subprocess.CompletedProcess[str]
    report: Path

    @property
    def results(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.report / "results.json").read_text(encoding="utf-8"))
        return data

    @property
    def html(self) -> str:
        return (self.report / "report.html").read_text(encoding="utf-8")


def stage_eval(home: Path, report: Path, *args: str) -> Run:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGE_")}
    env["STAGE_HOME"] = str(home)
    out = subprocess.run(
        [sys.executable, "-m", "stage.cli", "eval", "--report", str(report), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=600,
    )
    return Run(out, report)


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("eval-home")  # one lore index for the module's runs


@pytest.fixture(scope="module")
def full(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Run:
    return stage_eval(home, tmp_path_factory.mktemp("full"), "--backend", "scripted")


def test_every_suite_passes_on_the_scripted_backend(full: Run) -> None:
    assert full.out.returncode == 0, full.out.stdout + full.out.stderr
    results = full.results
    suites = results["suites"]
    assert len(suites) == len(list((ROOT / "evals" / "suites").glob("*.yaml"))) >= 15
    assert all(s["passed"] for s in suites) and results["failures"] == []
    assert results["totals"]["coverage"]["characters"] == ["camille", "lyra", "max", "theo", "zara"]
    assert len(results["totals"]["coverage"]["beats"]) == 12
    for s in suites:
        transcript = full.report / s["transcript"]
        assert transcript.is_file() and transcript.parent == full.report / "transcripts"
        assert s["backend"] == "scripted" and s["metrics"]["turns"] == len(s["turns"]) > 0
        assert s["metrics"]["prompt_leak_rate"] is not None  # every model call's prompt was recorded
    assert "results.json" in full.out.stdout and "report.html" in full.out.stdout


def test_the_report_is_self_contained_with_plots_tables_and_transcripts(full: Run) -> None:
    html = full.html
    assert html.count('src="data:image/png;base64,') == 3  # per character, per beat, latency
    assert "<link" not in html and "<script" not in html and "http://" not in html
    for text in ("Metrics per character", "Metrics per beat", "Latency and tokens", "bedtime-sync-hour"):
        assert text in html
    assert html.count('class="ev turn') == full.results["totals"]["metrics"]["turns"]


def test_compare_shows_the_difference_to_an_earlier_run(full: Run, home: Path, tmp_path: Path) -> None:
    old = full.report / "results.json"
    run = stage_eval(
        home, tmp_path / "again", "--backend", "scripted", "story-first-act", "--compare", str(old)
    )
    assert run.out.returncode == 0, run.out.stdout + run.out.stderr
    assert f"compared with {old}" in run.out.stdout
    deltas = run.results["compare"]
    turns = next(r for r in deltas["totals"] if r["metric"] == "turns")
    assert turns["old"] > turns["new"] == 26 and turns["delta"] == 26 - turns["old"]
    assert [s["name"] for s in deltas["suites"]] == ["story-first-act"] and "reunion-lamplight" in deltas[
        "removed"
    ]
    assert 'id="compare"' in run.html and "before" in run.html


def test_a_failing_expectation_exits_1_with_one_line_per_failure(home: Path, tmp_path: Path) -> None:
    suite = tmp_path / "wrong-speaker.yaml"
    suite.write_text(
        'description: "Expects the wrong speaker on purpose."\n'
        "setup: {beat: bedtime, seed: 5}\n"
        "steps:\n"
        '  - say: "Lyra, hello!"\n'
        "  - turns: 1\n"
        "    expect: {speaker: zara}\n"
        "expect:\n"
        "  turns: {min: 99}\n",
        encoding="utf-8",
    )
    run = stage_eval(home, tmp_path / "report", "--backend", "scripted", str(suite))
    assert run.out.returncode == 1, run.out.stdout + run.out.stderr
    lines = run.out.stdout.splitlines()
    assert "wrong-speaker: step 2: expected Zara to speak first, got Lyra speaking first" in lines
    assert "wrong-speaker: run: expected turns >= 99, got 1" in lines
    assert run.results["failures"] == [
        "wrong-speaker: step 2: expected Zara to speak first, got Lyra speaking first",
        "wrong-speaker: run: expected turns >= 99, got 1",
    ]
    assert '<ul class="failures">' in run.html


def test_a_malformed_suite_exits_2_naming_file_line_and_field(home: Path, tmp_path: Path) -> None:
    suite = tmp_path / "broken.yaml"
    suite.write_text('description: "x"\nsteps:\n  - turns: 1\n    expect: {speakr: lyra}\n', encoding="utf-8")
    run = stage_eval(home, tmp_path / "report", "--backend", "scripted", str(suite))
    assert run.out.returncode == 2
    assert "broken.yaml:4: steps.0.expect.speakr: unknown field" in run.out.stderr
    assert "Traceback" not in run.out.stderr and not (tmp_path / "report").exists()


def test_list_prints_the_suites(home: Path, tmp_path: Path) -> None:
    run = stage_eval(home, tmp_path / "r", "--list")
    assert (
        run.out.returncode == 0
        and "bedtime-future-cascade" in run.out.stdout
        and "adversarial" in run.out.stdout
    )
