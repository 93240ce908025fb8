"""Scoped lore search at 1k and 10k chunks, on synthetic lore in a throw-away store.

Sections get random readers (``visible_to``) and starting beats, words drawn from the real lore, so the scope
filter and the word index see realistic selectivity. Each query is new (as a scene's are: beat, goal and the
last lines), so the query embedding is part of every search, as it is in a turn.
"""

from __future__ import annotations

import random
import re
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np

from stage.lore.store import LoreStore, scope_filter
from stage.scene import LORE_K
from stage.settings import load_settings
from stage.types import EVERYONE, LoreSection, Story

from .stats import summary

TAGS = ("place", "person", "history", "rule", "event", "object", "secret")
WORDS_PER_SECTION = (35, 60)  # shorter than real chunks (120-180 words) so 10k index in minutes, not an hour


def vocabulary(story: Story) -> list[str]:
    words = {w for s in story.lore for w in re.findall(r"[A-Za-z][a-z]{2,}", s.text)}
    return sorted(words)


def synthetic_sections(story: Story, start: int, stop: int, seed: int = 0) -> list[LoreSection]:
    """Sections ``syn-<start>`` .. ``syn-<stop-1>``; the same ids always get the same content."""
    vocab = vocabulary(story)
    readers = sorted(story.personas)
    names = [p.name for p in story.personas.values()]
    beats = len(story.plot.beats)
    out = []
    for i in range(start, stop):
        rng = random.Random(seed * 1_000_003 + i)
        words = [rng.choice(vocab) for _ in range(rng.randint(*WORDS_PER_SECTION))]
        cut = rng.randint(8, 14)
        text = f"{' '.join(words[:cut]).capitalize()}. {' '.join(words[cut:]).capitalize()}."
        title = f"{rng.choice(vocab).capitalize()} {rng.choice(vocab)} {i}"
        visible = (EVERYONE,) if rng.random() < 0.6 else tuple(rng.sample(readers, rng.randint(1, 2)))
        out.append(
            LoreSection(
                id=f"syn-{i:05d}",
                title=title,
                heading_path=("Synthetic", title),
                text=text,
                source="synthetic.md",
                line=i + 1,
                tags=(rng.choice(TAGS),),
                visible_to=visible,
                from_beat=rng.randint(1, beats),
                key_terms=tuple(rng.sample(names, rng.randint(0, 1))),
            )
        )
    return out


def queries(story: Story, n: int, seed: int) -> list[tuple[str, str, int]]:
    """(query, character, beat position) like a scene's: beat title, a goal, and two recent lines."""
    rng = random.Random(seed)
    vocab = vocabulary(story)
    beats = story.plot.beats
    out = []
    for _ in range(n):
        beat = rng.choice(beats)
        who = rng.choice(sorted(story.personas))
        said = " ".join(rng.choice(vocab) for _ in range(rng.randint(14, 26)))
        out.append((f"{beat.title} {beat.goals.get(who, '')} {said}", who, beat.position))
    return out


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1000


def _parts(store: LoreStore, query: str, who: str, beat: int) -> tuple[float, float, float]:
    """The pieces of one ``search`` timed alone: the vector query, the word match (which includes) the fetch
    of every in-scope id that BM25 uses to count the scope. Reaches into the store on purpose."""
    vector = np.asarray(store.embedding([query])[0], dtype=np.float32)
    where = scope_filter(who, beat)
    include = ["documents", "metadatas", "distances"]
    collection = store._collection
    n = min(store.count(), max(3 * LORE_K, 12))
    vector_ms = _timed(
        partial(collection.query, query_embeddings=[vector], n_results=n, where=where, include=include)
    )
    word_ms = _timed(partial(store._lexical, query, where, vector, {}, {}))
    scope_ms = _timed(partial(collection.get, where=where, include=[]))
    return vector_ms, word_ms, scope_ms


def measure(
    story: Story,
    sizes: tuple[int, ...],
    n_queries: int,
    seed: int = 0,
    progress: bool = True,
    note: Callable[[str], None] = lambda _m: None,
) -> dict[str, Any]:
    """Index growing synthetic lore into a temporary store; time scoped searches at each size."""
    results = []
    with tempfile.TemporaryDirectory(prefix="stage-bench-lore-") as tmp:
        store = LoreStore(load_settings({"home": Path(tmp)}, env={}), collection="bench")
        done = 0
        for size in sorted(sizes):
            note(f"retrieval: indexing {size} synthetic chunks")
            start = time.perf_counter()
            store.index(synthetic_sections(story, 0, size, seed), progress=progress)
            index_s = time.perf_counter() - start
            added = size - done
            done = size
            qs = queries(story, n_queries + 3, seed + size)
            warm, qs = qs[:3], qs[3:]
            for q, who, beat in warm:
                store.search(q, who, beat, LORE_K)
            note(f"retrieval: {len(qs)} scoped searches at {size} chunks")
            full = [_timed(partial(store.search, q, w, b, LORE_K)) for q, w, b in qs]
            cached = [_timed(partial(store.search, q, w, b, LORE_K)) for q, w, b in qs]
            fresh = queries(story, n_queries, seed + size + 1)
            embed = [_timed(partial(store.embedding, [q])) for q, _w, _b in fresh]
            parts = [_parts(store, q, w, b) for q, w, b in qs]
            in_scope = [len(store.ids_in_scope(w, b)) for _q, w, b in qs[:20]]
            results.append(
                {
                    "chunks": store.count(),
                    "index_s": round(index_s, 1),
                    "index_chunks_per_s": round(added / index_s, 1) if index_s > 0 else None,
                    "queries": len(qs),
                    "search_ms": summary(full),
                    "search_with_cached_embedding_ms": summary(cached),
                    "query_embedding_ms": summary(embed),
                    "vector_query_ms": summary([x[0] for x in parts]),
                    "word_match_ms": summary([x[1] for x in parts]),
                    "scope_ids_fetch_ms": summary([x[2] for x in parts]),
                    "chunks_in_scope_p50": sorted(in_scope)[len(in_scope) // 2] if in_scope else 0,
                }
            )
    return {"k": LORE_K, "sizes": results}


def verdict(result: dict[str, Any], target_p95_ms: float = 20.0) -> dict[str, Any]:
    """The target applies to the largest size measured."""
    sizes = result.get("sizes") or []
    if not sizes:
        return {"target_p95_ms": target_p95_ms, "ok": None}
    largest = sizes[-1]
    p95 = largest["search_ms"]["p95"]
    return {
        "target_p95_ms": target_p95_ms,
        "at_chunks": largest["chunks"],
        "ok": p95 is not None and p95 <= target_p95_ms,
    }
