"""Which of a character's own facts bear on the line they are answering, by meaning (MiniLM).

A 135M model answers "what's your daughter's name?" when the fact sits right next to the question, and
drifts when it is twenty lines up. So the turn's cue carries the one or two facts nearest in meaning to the
line being answered, picked from the character's fact sheet and what they know at the start.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

MIN_SIMILARITY = 0.25  # below this a "relevant" fact is noise: better none than a wrong one


class Embedder(Protocol):
    """Texts -> L2-normalised vectors (``stage.lore.embed.MiniLMEmbedding`` is one)."""

    def __call__(self, input: Sequence[str]) -> Sequence[Any]: ...


def default_embedder() -> Embedder:
    from stage.lore.embed import embedding_function

    return embedding_function()


def relevant(query: str, facts: Sequence[str], embed: Embedder, k: int = 1) -> list[str]:
    """Up to ``k`` facts nearest ``query``, best first; none that are only vaguely related."""
    facts = [f for f in dict.fromkeys(facts) if f.strip()]
    if not query.strip() or not facts:
        return []
    vectors = np.asarray(embed([query, *facts]), dtype=np.float32)
    sims = vectors[1:] @ vectors[0]
    order = np.argsort(-sims)[:k]
    return [facts[i] for i in order if sims[i] >= MIN_SIMILARITY]
