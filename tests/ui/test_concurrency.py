"""Many sessions at once through gradio_client: no errors, no cross-talk, a fair queue (the CI-sized soak;
the full 20-session, two-minute run is `python -m stage.ui.soak --serve`)."""

from __future__ import annotations

import json

import pytest

from stage.ui.soak import soak
from tests.conftest import ROOT
from tests.ui.conftest import Served


def _record(name: str, report: object) -> None:
    from dataclasses import asdict

    out = ROOT / "artifacts" / "soak"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(asdict(report), indent=1))  # type: ignore[call-overload]


def test_eight_scripted_sessions_stay_isolated(scripted_app: Served) -> None:
    report = soak(scripted_app.url, sessions=8, seconds=8)
    _record("scripted-8", report)
    assert report.errors == 0, report.error_samples
    assert report.cross_talk == 0
    assert all(n >= 1 for n in report.per_session)
    assert report.fairness > 0.6


@pytest.mark.model
@pytest.mark.timeout(900)
def test_four_sessions_on_the_embedded_model(model_app: Served, capsys: pytest.CaptureFixture[str]) -> None:
    report = soak(model_app.url, sessions=4, seconds=45)
    _record("embedded-4", report)
    with capsys.disabled():
        print(
            f"\n[soak] embedded, 4 sessions: {report.requests} requests, wait p50 {report.wait_p50}s "
            f"p95 {report.wait_p95}s, fairness {report.fairness}"
        )
    assert report.errors == 0, report.error_samples
    assert report.cross_talk == 0
    assert all(n >= 1 for n in report.per_session), report.per_session
