"""Three suites on the real embedded model: structure only (never a small model's exact words)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.evals.conftest import REPORT
from tests.evals.test_cli import stage_eval

pytestmark = pytest.mark.model
SUITES = ("bedtime-future-cascade", "faults-report-interview", "nightmares-break-character")
SHOWN = (
    "turns",
    "leak_rate",
    "attribution_errors",
    "break_character_rate",
    "repetition_rate",
    "distinct_2",
    "identifiability",
    "grounding",
    "fallback_rate",
    "regeneration_rate",
    "ttft_p50_ms",
    "latency_p95_ms",
)


def test_three_suites_on_the_embedded_model(tmp_path: Path) -> None:
    run = stage_eval(tmp_path / "home", tmp_path / "report", "--backend", "local", *SUITES)
    assert run.out.returncode in (0, 1), run.out.stdout + run.out.stderr  # 1: a weak model missed something
    assert "Traceback" not in run.out.stderr
    results = run.results
    assert [s["name"] for s in results["suites"]] == sorted(SUITES)
    assert (run.report / "report.html").is_file()
    for s in results["suites"]:
        assert s["error"] == "" and s["backend"] == "local" and s["model"]
        assert (run.report / s["transcript"]).is_file() and s["metrics"]["turns"] >= 3
        for t in s["turns"]:
            kinds = {f["kind"] for f in t["flags"]}
            assert not kinds & {"absent", "human", "hijack"}, (s["name"], t)
        assert s["metrics"]["attribution_errors"] == 0
        assert all(t["latency_ms"] > 0 for t in s["turns"] if t["words"])
    m = results["totals"]["metrics"]
    REPORT.append("embedded model, " + ", ".join(SUITES) + ":")
    REPORT.append("  " + ", ".join(f"{k}={m[k]}" for k in SHOWN))
    for line in results["failures"] + results["warnings"]:
        REPORT.append(f"  missed: {line}")
