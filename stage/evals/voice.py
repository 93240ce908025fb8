"""Persona identifiability: does a turn's embedding sit closest to its own persona's example lines?

Each persona is the mean of its example lines' embeddings (all-MiniLM-L6-v2, offline, L2-normalised); a
turn is identified as the persona with the highest mean cosine similarity. Chance is 1 in 5 for this cast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stage.types import Story

Embed = Callable[[list[str]], Sequence[Any]]  # texts -> L2-normalised vectors


def default_embed() -> Embed:
    from stage.lore.embed import embedding_function

    fn = embedding_function()

    def embed(texts: list[str]) -> Sequence[Any]:
        return fn(texts)

    return embed


class VoiceModel:
    """Centroids of every persona's example lines; ``identify`` names the closest persona for each text."""

    def __init__(self, story: Story, embed: Embed | None = None) -> None:
        self.embed = embed or default_embed()
        self.ids = sorted(story.personas)
        rows = []
        for cid in self.ids:
            vectors = np.asarray(self.embed(list(story.personas[cid].voice.examples)), dtype=np.float32)
            rows.append(vectors.mean(axis=0))
        self.centroids = np.vstack(rows)

    def identify(self, texts: Sequence[str]) -> list[tuple[str, dict[str, float]]]:
        """For each text: the closest persona id and the similarity to every persona."""
        if not texts:
            return []
        vectors = np.asarray(self.embed(list(texts)), dtype=np.float32)
        sims = vectors @ self.centroids.T
        out = []
        for row in sims:
            scores = {cid: round(float(v), 4) for cid, v in zip(self.ids, row, strict=True)}
            out.append((self.ids[int(np.argmax(row))], scores))
        return out
