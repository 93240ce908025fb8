"""A read-only, in-memory view of the lore collection that answers scoped searches in milliseconds.

Chroma is the store of record (persistent, shareable through ``chroma run``, indexed incrementally). Asking
it at query time costs a filtered vector query, a ``$contains`` document scan and a scope count: 0.3-0.5 s a
search at 10k chunks on two cores (bench/README.md). A turn needs one search per speaker, so the stage keeps
a snapshot of the collection (ids, documents, metadata, embeddings) and ranks there:

* **scope first**: a boolean mask from the same metadata Chroma's ``where`` filter reads (``vis_*`` flags and
  ``from_beat``) selects the chunks the character may know; ranking happens only among them, so a search never
  returns an out-of-scope chunk and never comes back empty while something is in scope. A test checks the mask
  against Chroma's own filter for every character and beat;
* **hybrid score**: cosine similarity (one matrix-vector product) mixed with BM25 over an inverted index of
  the same light stems ``lexical`` uses (``stage.text.search_tokens``), its document frequencies counted
  within the scope.

A snapshot is rebuilt when the collection changes: at once after this process indexes, and within
``LoreStore.FRESHNESS_S`` when another process re-indexes a shared Chroma server.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from stage.lore.lexical import K1, B
from stage.text import search_tokens
from stage.types import EVERYONE

VIS_PREFIX = "vis_"

Floats = npt.NDArray[np.float32]
Bools = npt.NDArray[np.bool_]
Ints = npt.NDArray[np.int64]


@dataclass(frozen=True)
class Ranked:
    """One ranked chunk: its position in the snapshot and its score in [0, 1]."""

    index: int
    score: float


@dataclass
class Snapshot:
    """Everything a scoped hybrid search needs, as arrays. Build with ``Snapshot.build``; never mutated after,
    except for the per-scope cache, which is only ever filled."""

    version: str
    ids: list[str]
    documents: list[str]
    metadatas: list[Mapping[str, Any]]
    vectors: Floats  # (n, d), L2-normalised
    from_beat: Ints
    readers: dict[str, Bools]  # "everyone" and each character id -> flag per chunk
    lengths: Floats  # stems per document (BM25 length)
    postings: dict[str, tuple[Ints, Floats]]  # stem -> (chunk positions, term frequency)
    lower: list[str]  # documents in lower case, for quoted phrases
    _scopes: dict[tuple[str, int], Bools] = field(default_factory=dict, repr=False)

    @classmethod
    def build(
        cls,
        version: str,
        ids: Sequence[str],
        documents: Sequence[str],
        metadatas: Sequence[Mapping[str, Any]],
        embeddings: Any,
    ) -> Snapshot:
        n = len(ids)
        vectors = (
            np.asarray(embeddings, dtype=np.float32).reshape(n, -1) if n else np.zeros((0, 1), np.float32)
        )
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        vectors = vectors / np.clip(norms, 1e-12, None)
        from_beat = np.array([int(m.get("from_beat", 0)) for m in metadatas], dtype=np.int64)
        flags = {
            k[len(VIS_PREFIX) :] for m in metadatas for k, v in m.items() if k.startswith(VIS_PREFIX) and v
        }
        readers = {
            who: np.array([bool(m.get(f"{VIS_PREFIX}{who}", False)) for m in metadatas], dtype=np.bool_)
            for who in flags | {EVERYONE}
        }
        counts = [Counter(search_tokens(d)) for d in documents]
        lengths = np.array([max(1, sum(c.values())) for c in counts], dtype=np.float32)
        grouped: dict[str, tuple[list[int], list[float]]] = {}
        for i, c in enumerate(counts):
            for stem, tf in c.items():
                at, freq = grouped.setdefault(stem, ([], []))
                at.append(i)
                freq.append(float(tf))
        postings = {
            s: (np.array(at, dtype=np.int64), np.array(freq, dtype=np.float32))
            for s, (at, freq) in grouped.items()
        }
        return cls(
            version=version,
            ids=list(ids),
            documents=list(documents),
            metadatas=list(metadatas),
            vectors=vectors,
            from_beat=from_beat,
            readers=readers,
            lengths=lengths,
            postings=postings,
            lower=[d.lower() for d in documents],
        )

    def __len__(self) -> int:
        return len(self.ids)

    def scope(self, as_character: str, beat: int) -> Bools:
        """Which chunks ``as_character`` may know at beat position ``beat``: ``store.scope_filter``'s rule."""
        key = (as_character, int(beat))
        mask = self._scopes.get(key)
        if mask is None:
            none = np.zeros(len(self.ids), dtype=np.bool_)
            readers = self.readers.get(EVERYONE, none) | self.readers.get(as_character, none)
            mask = readers & (self.from_beat <= int(beat))
            mask.setflags(write=False)
            self._scopes[key] = mask  # a dict store is atomic; two threads at worst compute it twice
        return mask

    def ids_in_scope(self, as_character: str, beat: int) -> list[str]:
        mask = self.scope(as_character, beat)
        return sorted(self.ids[i] for i in np.flatnonzero(mask))

    def lexical(self, terms: Sequence[str], mask: Bools) -> Floats:
        """BM25 of every chunk for ``terms`` (0 outside ``mask``), scaled so that a chunk matching every term
        as rarely as possible scores 1: the same scale as ``lexical.bm25_scores``."""
        n_docs = len(self.ids)
        scores = np.zeros(n_docs, dtype=np.float32)
        scoped = int(mask.sum())
        if not terms or scoped == 0:
            return scores
        avg = float(self.lengths[mask].mean())
        for term in terms:
            at, tf = self._occurrences(term, mask)
            if at.size == 0:
                continue
            idf = math.log(1 + (scoped - at.size + 0.5) / (at.size + 0.5))
            norm = K1 * (1 - B + B * self.lengths[at] / avg)
            scores[at] += idf * tf * (K1 + 1) / (tf + norm)
        best = math.log(1 + (scoped - 0.5) / 1.5) * (K1 + 1)
        out: Floats = np.minimum(1.0, scores / (best * len(terms))).astype(np.float32)
        return out

    def _occurrences(self, term: str, mask: Bools) -> tuple[Ints, Floats]:
        """In-scope chunks holding ``term`` (a stem, or a quoted phrase matched as text) and how often."""
        if term.startswith('"'):
            phrase = term.strip('"')
            found = [(i, self.lower[i].count(phrase)) for i in np.flatnonzero(mask)]
            hits = [(i, c) for i, c in found if c]
            return (
                np.array([i for i, _ in hits], dtype=np.int64),
                np.array([c for _, c in hits], dtype=np.float32),
            )
        at, tf = self.postings.get(term, (np.zeros(0, np.int64), np.zeros(0, np.float32)))
        keep = mask[at]
        return at[keep], tf[keep]

    def rank(
        self, vector: Floats, terms: Sequence[str], mask: Bools, k: int, lexical_weight: float
    ) -> list[Ranked]:
        """The ``k`` best in-scope chunks by ``(1 - w) * max(0, cosine) + w * BM25``; ties by id."""
        if k < 1 or not mask.any():
            return []
        similarity = self.vectors @ np.asarray(vector, dtype=np.float32)
        combined = (1 - lexical_weight) * np.maximum(similarity, 0.0) + lexical_weight * self.lexical(
            terms, mask
        )
        combined = np.minimum(combined, 1.0)
        inside = np.flatnonzero(mask)
        scores = combined[inside]
        take = min(k, inside.size)
        # a few more than k by score, so ties at the cut are broken by id as the full sort would
        top = np.argpartition(-scores, take - 1)[: min(inside.size, take + 8)] if take < inside.size else None
        chosen = inside if top is None else inside[top]
        order = sorted(chosen.tolist(), key=lambda i: (-round(float(combined[i]), 6), self.ids[i]))
        return [Ranked(i, round(float(combined[i]), 6)) for i in order[:take]]
