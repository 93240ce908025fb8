"""Fixtures for the eval tests: the shipped story, a scorer with the real (offline) embedding model."""

from __future__ import annotations

import pytest

from stage.evals.metrics import Scorer
from stage.evals.voice import VoiceModel
from stage.types import Story


@pytest.fixture(scope="session")
def scorer(story: Story) -> Scorer:
    return Scorer(story)


@pytest.fixture(scope="session")
def voice(story: Story) -> VoiceModel:
    return VoiceModel(story)
