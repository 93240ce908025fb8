"""Which of a character's own facts bear on the line they are answering, by meaning (MiniLM).

A 135M model answers "what's your daughter's name?" when the fact sits right next to the question, and
drifts when it is twenty lines up. So the turn's cue carries the one or two facts nearest in meaning to the
line being answered, picked from the character's fact sheet and what they know at the start.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, Protocol

import numpy as np

from stage.text import content_words

MIN_SIMILARITY = 0.25  # below this a "relevant" fact is noise: better none than a wrong one
LEXICAL_WEIGHT = 0.5


class Embedder(Protocol):
    """Texts -> L2-normalised vectors (``stage.lore.embed.MiniLMEmbedding`` is one)."""

    def __call__(self, input: list[str]) -> Sequence[Any]: ...


def default_embedder() -> Embedder:
    from stage.lore.embed import embedding_function

    return embedding_function()


def relevant(
    query: str, facts: Sequence[str], embed: Embedder, k: int = 1, ignore: Sequence[str] = ()
) -> list[str]:
    """Up to ``k`` facts nearest ``query``, best first; none that are only vaguely related.

    Meaning (cosine) plus the share of the query's content words the fact contains: MiniLM alone ranks
    "Camille: Max's big sister" above "Max: your best friend" for "who is your best friend?". ``ignore``
    names words that say nothing about the fact (the character's own name, used to address them)."""
    facts = [f for f in dict.fromkeys(facts) if f.strip()]
    skip = {w.lower() for w in ignore}
    asked = [w for w in content_words(query) if w not in skip]
    if not asked or not facts:
        return []
    for name in ignore:  # "Theo, where do you work?" asks about work, not about Theo
        query = re.sub(rf"\b{re.escape(name)}\b[,!?]?\s*", "", query, flags=re.IGNORECASE)
    vectors = np.asarray(embed([query, *facts]), dtype=np.float32)
    sims = vectors[1:] @ vectors[0]
    overlap = np.array([len(set(asked) & set(content_words(f))) / len(set(asked)) for f in facts])
    ranked = sims + LEXICAL_WEIGHT * overlap
    order = np.argsort(-ranked)[:k]
    return [facts[i] for i in order if sims[i] >= MIN_SIMILARITY]
