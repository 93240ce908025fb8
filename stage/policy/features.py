"""A line of text -> the vector the policy's head reads: what it means, and how it is spelled.

Meaning is the MiniLM sentence embedding the lore search already loads (384-d), of the normalised text.
Spelling is hashed character n-grams (3 to 5, within words, padded), which still match when a child misspells a
word, masks a letter ("dr*gs") or writes a cognate in another language ("bomba", "drogues") that an English
sentence embedder reads as noise. Both halves are L2-normalised so neither swamps the other.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from stage.policy.patterns import normalise

GRAM_SIZES = (3, 4, 5)
GRAM_BUCKETS = 1 << 13
Vectors = np.ndarray[Any, np.dtype[np.float32]]
Embed = Callable[[list[str]], Sequence[Any]]  # texts -> L2-normalised vectors (MiniLMEmbedding)


def grams(text: str) -> Vectors:
    """Hashed, binary, L2-normalised character n-grams of each word of (normalised) ``text``."""
    out = np.zeros(GRAM_BUCKETS, dtype=np.float32)
    for word in text.split():
        padded = f"<{word}>"
        for n in GRAM_SIZES:
            for i in range(max(1, len(padded) - n + 1)):
                out[zlib.crc32(padded[i : i + n].encode()) % GRAM_BUCKETS] = 1.0
    norm = float(np.linalg.norm(out))
    return out / norm if norm else out


def featurise(texts: Sequence[str], embed: Embed) -> Vectors:
    """One row per text: [embedding of the normalised text, its n-grams]."""
    flat = [normalise(t) or t for t in texts]
    # MiniLM's tokenizer is uncased: where normalising only changed case and spacing, the text as written embeds
    # the same, and the scorer's later embedding of that candidate is then a cache hit, not a second pass
    keys = [t if f == " ".join(t.lower().split()) else f for t, f in zip(texts, flat, strict=True)]
    meaning = np.asarray(embed(keys), dtype=np.float32).reshape(len(flat), -1)
    spelling = np.stack([grams(t) for t in flat]) if flat else np.zeros((0, GRAM_BUCKETS), np.float32)
    return np.concatenate([meaning, spelling], axis=1)
