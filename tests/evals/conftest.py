"""Fixtures for the eval tests: a scorer and the persona voice model (the real offline embedding)."""

from __future__ import annotations

import pytest

from stage.evals.metrics import Scorer
from stage.evals.voice import VoiceModel
from stage.types import Story

REPORT: list[str] = []  # metrics measured on the embedded model, shown in the terminal summary


@pytest.fixture(scope="session")
def scorer(story: Story) -> Scorer:
    return Scorer(story)


@pytest.fixture(scope="session")
def voice(story: Story) -> VoiceModel:
    return VoiceModel(story)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("evals")
        for line in REPORT:
            terminalreporter.write_line(line)
