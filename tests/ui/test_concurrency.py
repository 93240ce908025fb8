"""Many sessions at once through gradio_client: no errors, no cross-talk, a fair queue (the CI-sized soak;
the full 20-session, two-minute run is `python -m stage.ui.soak --serve`)."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest

from stage.ui.soak import SoakReport, soak
from tests.ui.conftest import Served


def _record(out: Path, name: str, report: SoakReport) -> None:
    """The report as JSON beside the test's other files (its tmp_path), never into the checkout."""
    path = out / "soak" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(report), indent=1))


def test_eight_scripted_sessions_stay_isolated(scripted_app: Served, tmp_path: Path) -> None:
    report = soak(scripted_app.url, sessions=8, seconds=8)
    _record(tmp_path, "scripted-8", report)
    assert report.errors == 0, report.error_samples
    assert report.cross_talk == 0
    assert len(report.per_session) == 8 and all(n >= 1 for n in report.per_session)
    assert sum(report.per_session) == report.requests  # every line sent was answered
    assert report.replies >= report.requests  # and each answer is in the sender's own transcript
    assert report.fairness > 0.6


@pytest.mark.model
@pytest.mark.timeout(900)
def test_four_sessions_on_the_embedded_model(
    model_app: Served, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    report = soak(model_app.url, sessions=4, seconds=45)
    _record(tmp_path, "embedded-4", report)
    with capsys.disabled():
        print(
            f"\n[soak] embedded, 4 sessions: {report.requests} requests, wait p50 {report.wait_p50}s "
            f"p95 {report.wait_p95}s, fairness {report.fairness}"
        )
    assert report.errors == 0, report.error_samples
    assert report.cross_talk == 0
    assert all(n >= 1 for n in report.per_session), report.per_session
