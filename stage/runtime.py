"""Wiring shared by the CLI, the UI and the evals: settings -> story, model, retriever, scene."""

from __future__ import annotations

import logging
import time
from pathlib import Path

from stage.agents.retrieval import KeywordRetriever, Retriever
from stage.errors import ConfigError
from stage.llm import make_model, params_from
from stage.llm.base import ChatModel, GenParams
from stage.settings import Settings
from stage.story import Sources, load_story
from stage.types import Story

log = logging.getLogger(__name__)


def story(settings: Settings) -> Story:
    st = load_story(Sources.from_settings(settings))
    unknown = sorted(set(settings.models) - set(st.personas))
    if unknown:
        raise ConfigError(
            f"models.{unknown[0]}: a model is set for {unknown[0]!r}, who is not a character of this story "
            f"(its characters: {', '.join(sorted(st.personas))})"
        )
    return st


def retriever(settings: Settings, st: Story, progress: bool = False) -> Retriever:
    """The Chroma store, indexed on first use (or when the lore changed)."""
    from stage.lore.store import LoreStore

    store = LoreStore(home=settings.story_home, chroma_url=settings.chroma_url)
    if store.is_stale(st.lore):
        log.info("indexing the lore into %s", store.location)
        store.index(st.lore, progress=progress)
    store.snapshot()  # load the in-memory view now, not in the first turn
    return store


def keyword_retriever(st: Story) -> Retriever:
    return KeywordRetriever(st.lore)


def model_and_params(settings: Settings) -> tuple[ChatModel, GenParams]:
    return make_model(settings), params_from(settings)


def transcript_path(settings: Settings, name: str = "") -> Path:
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return settings.story_home / "transcripts" / f"{name or 'scene'}-{stamp}.jsonl"
