"""Building scenes for logic tests: the shipped story, a scripted model, the in-memory scoped retriever."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from stage.agents.retrieval import KeywordRetriever
from stage.llm.base import GenParams
from stage.llm.scripted import ScriptedModel
from stage.scene import Scene
from stage.types import Message, Story

PARAMS = GenParams(max_tokens=60, temperature=0.7)


def scene(
    story: Story,
    path: Path | None = None,
    replies: Sequence[str] = (),
    responder: Callable[[Sequence[Message]], str] | None = None,
    from_beat: str | int = 1,
    seed: int = 3,
    humans: Sequence[str] = (),
) -> tuple[Scene, ScriptedModel]:
    model = ScriptedModel(replies, seed=seed, responder=responder)
    sc = Scene.new(
        story,
        model,
        KeywordRetriever(story.lore),
        path,
        PARAMS,
        from_beat=from_beat,
        seed=seed,
        humans=humans,
        backend="scripted",
    )
    return sc, model


def system_of(messages: Sequence[Message]) -> str:
    return next(m.content for m in messages if m.role == "system")
