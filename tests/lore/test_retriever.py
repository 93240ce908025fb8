"""The lore store is what the agents search through: ``runtime.retriever`` hands out the store itself."""

from __future__ import annotations

from pathlib import Path

from stage.lore.store import LoreStore
from stage.runtime import retriever
from stage.settings import load_settings
from stage.types import Story


def test_the_store_is_the_retriever_and_takes_the_protocols_keywords(story: Story, tmp_path: Path) -> None:
    found = retriever(load_settings({"home": tmp_path / "home"}, env={}), story)
    assert isinstance(found, LoreStore) and found.path == tmp_path / "home" / "chroma"
    hits = found.search("Who is Camille?", as_character="lyra", beat=3, k=2)
    assert 1 <= len(hits) <= 2
    assert all(h.chunk.from_beat <= 3 and ({"everyone", "lyra"} & set(h.chunk.visible_to)) for h in hits)
