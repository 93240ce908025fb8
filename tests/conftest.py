"""Shared fixtures: the shipped story, a scripted model, and the real embedded server (started once)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def story():  # type: ignore[no-untyped-def]
    from stage.settings import load_settings
    from stage.story import Sources, load_story

    return load_story(Sources.from_settings(load_settings({}, env={})))


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The real embedded llama.cpp server, shared by the tests that need a real model."""
    from stage.llm.local import LocalServer

    server = LocalServer(tmp_path_factory.mktemp("llama-home"))
    server.ensure()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chroma_retriever(story, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real lore store (Chroma + the packaged embedding model), indexed once for the session."""
    from stage.runtime import retriever
    from stage.settings import load_settings

    home = tmp_path_factory.mktemp("stage-home")
    return retriever(load_settings({"home": home}, env={}), story)


@pytest.fixture(scope="session")
def local_model(local_server):  # type: ignore[no-untyped-def]
    """The embedded model through the seam (retries and accounting), sharing the session's server."""
    from stage.llm.local import LocalModel
    from stage.llm.wrappers import Metered, Retrying

    return Metered(Retrying(LocalModel(local_server, timeout=60), retries=2, backoff=0.5))
