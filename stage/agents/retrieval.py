"""What an agent needs from the lore store, and a small in-memory implementation of it.

The Chroma store (``stage.lore.store``) is the real one; ``KeywordRetriever`` serves logic tests and
runs where no index exists yet. Both enforce scope before ranking, so a hit is never out of scope.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from stage.text import content_words
from stage.types import LoreChunk, LoreHit, LoreSection


class Retriever(Protocol):
    def search(self, query: str, as_character: str, beat: int, k: int = 3) -> list[LoreHit]: ...


def chunk_of(section: LoreSection) -> LoreChunk:
    return LoreChunk(
        section.id,
        section.id,
        section.text,
        section.source,
        section.title,
        section.tags,
        section.visible_to,
        section.from_beat,
        section.key_terms,
    )


class KeywordRetriever:
    """Lexical overlap over the sections in scope (one chunk per section)."""

    def __init__(self, sections: Sequence[LoreSection]) -> None:
        self.sections = list(sections)
        self._index = {
            s.id: content_words(s.title + " " + s.text + " " + " ".join(s.key_terms)) for s in self.sections
        }

    def search(self, query: str, as_character: str, beat: int, k: int = 3) -> list[LoreHit]:
        q = content_words(query)
        scored = []
        for s in self.sections:
            if not s.visible(as_character, beat):
                continue
            overlap = len(q & self._index[s.id])
            scored.append((overlap / (len(q) or 1), s))
        scored.sort(key=lambda t: (-t[0], t[1].id))
        return [LoreHit(chunk_of(s), round(min(1.0, score), 4)) for score, s in scored[:k]]
