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

from stage.lore.lexical import bm25_scores, contains_filter, query_terms
from stage.lore.store import LEXICAL_WEIGHT, LoreStore, chunk_from_record, scope_filter
from stage.scene import LORE_K
from stage.types import EVERYONE, LoreHit, LoreSection, Story

from .stats import summary

TAGS = ("place", "person", "history", "rule", "event", "object", "secret")
LEXICAL_LIMIT = 200  # most chunks the baseline fetches for word matching per query
CHROMA_QUERIES = 40  # the baseline (Chroma's own filters) is slow at 10k: fewer of those
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


def chroma_filters_search(store: LoreStore, query: str, who: str, beat: int, k: int) -> list[LoreHit]:
    """The baseline: the same hybrid search asked of Chroma itself, as the stage searched before it kept a
    snapshot: a ``where``-filtered vector query plus a ``where_document`` ``$contains`` fetch (capped at
    ``LEXICAL_LIMIT``) scored with ``lexical.bm25_scores``. Reaches into the store on purpose."""
    where = scope_filter(who, beat)
    total = store.count()
    if total == 0 or not query.strip():
        return []
    vector = np.asarray(store.embedding([query])[0], dtype=np.float32)
    collection = store._collection
    got = collection.query(
        query_embeddings=[vector],
        n_results=min(total, max(3 * k, 12)),
        where=where,
        include=["documents", "metadatas", "distances"],
    )
    docs: dict[str, tuple[str, Any]] = {}
    similarity: dict[str, float] = {}
    for i, doc, meta, dist in zip(
        got["ids"][0], got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True
    ):
        docs[i], similarity[i] = (doc, meta), 1.0 - float(dist)
    terms = query_terms(query)
    contains = contains_filter(terms)
    lexical: dict[str, float] = {}
    if contains is not None:
        scoped = len(collection.get(where=where, include=[])["ids"])
        found = collection.get(
            where=where,
            where_document=contains,
            include=["documents", "metadatas", "embeddings"],
            limit=LEXICAL_LIMIT,
        )
        texts: dict[str, str] = {}
        for i, doc, meta, emb in zip(
            found["ids"], found["documents"], found["metadatas"], found["embeddings"], strict=True
        ):
            texts[i] = doc
            if i not in docs:
                docs[i] = (doc, meta)
                similarity[i] = float(np.dot(vector, np.asarray(emb, dtype=np.float32)))
        lexical = bm25_scores(terms, texts, scoped)
    hits = []
    for i, (doc, meta) in docs.items():
        score = (1 - LEXICAL_WEIGHT) * max(0.0, similarity[i]) + LEXICAL_WEIGHT * lexical.get(i, 0.0)
        hits.append(LoreHit(chunk_from_record(doc, meta), round(min(1.0, score), 6)))
    hits.sort(key=lambda h: (-h.score, h.chunk.id))
    return hits[:k]


def _rank_ms(store: LoreStore, query: str, who: str, beat: int) -> float:
    """The snapshot's ranking alone (scope mask, cosine, BM25, top-k), the query embedding taken out."""
    snap = store.snapshot()
    vector = np.asarray(store.embedding([query])[0], dtype=np.float32)
    terms = query_terms(query)
    return _timed(partial(snap.rank, vector, terms, snap.scope(who, beat), LORE_K, LEXICAL_WEIGHT))


def measure(
    story: Story,
    sizes: tuple[int, ...],
    n_queries: int,
    seed: int = 0,
    progress: bool = True,
    note: Callable[[str], None] = lambda _m: None,
    chroma_url: str = "",
) -> dict[str, Any]:
    """Index growing synthetic lore into a temporary store (or a fresh collection of the ``chroma run`` server
    at ``chroma_url``); time scoped searches at each size."""
    results = []
    with tempfile.TemporaryDirectory(prefix="stage-bench-lore-") as tmp:
        store = LoreStore(home=Path(tmp), collection=f"bench-{seed}", chroma_url=chroma_url)  # thrown away
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
            start = time.perf_counter()
            store.snapshot()  # what the first search after an index change pays
            snapshot_s = time.perf_counter() - start
            full = [_timed(partial(store.search, q, w, b, LORE_K)) for q, w, b in qs]
            cached = [_timed(partial(store.search, q, w, b, LORE_K)) for q, w, b in qs]
            fresh = queries(story, n_queries, seed + size + 1)
            embed = [_timed(partial(store.embedding, [q])) for q, _w, _b in fresh]
            rank = [_rank_ms(store, q, w, b) for q, w, b in qs]
            baseline = [
                _timed(partial(chroma_filters_search, store, q, w, b, LORE_K))
                for q, w, b in qs[:CHROMA_QUERIES]
            ]
            agree = sum(
                {h.chunk.id for h in store.search(q, w, b, LORE_K)}
                == {h.chunk.id for h in chroma_filters_search(store, q, w, b, LORE_K)}
                for q, w, b in qs[:CHROMA_QUERIES]
            )
            in_scope = [len(store.snapshot().ids_in_scope(w, b)) for _q, w, b in qs[:20]]
            results.append(
                {
                    "chunks": store.count(),
                    "index_s": round(index_s, 1),
                    "index_chunks_per_s": round(added / index_s, 1) if index_s > 0 else None,
                    "snapshot_load_s": round(snapshot_s, 2),
                    "queries": len(qs),
                    "search_ms": summary(full),
                    "search_with_cached_embedding_ms": summary(cached),
                    "query_embedding_ms": summary(embed),
                    "rank_ms": summary(rank),
                    "chroma_filters_search_ms": summary(baseline),
                    "same_top_k_as_chroma_filters": f"{agree}/{min(len(qs), CHROMA_QUERIES)}",
                    "chunks_in_scope_p50": sorted(in_scope)[len(in_scope) // 2] if in_scope else 0,
                }
            )
    return {"k": LORE_K, "sizes": results}


class ChromaServer:
    """``chroma run`` on a free loopback port with its data in ``path`` (the lore store a deployment shares)."""

    def __init__(self, path: Path, startup_timeout: float = 60.0) -> None:
        import shutil
        import subprocess
        import sys

        import httpx

        from stage.llm.local import free_port

        exe = Path(sys.executable).with_name("chroma")
        cli = str(exe) if exe.is_file() else shutil.which("chroma")
        if not cli:
            raise FileNotFoundError("the `chroma` command (from chromadb) is not installed")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen(
            [cli, "run", "--path", str(path), "--host", "127.0.0.1", "--port", str(self.port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if httpx.get(f"{self.url}/api/v2/heartbeat", timeout=1.0).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.stop()
        raise RuntimeError(f"chroma run did not answer on port {self.port}")

    def stop(self) -> None:
        from stage.llm.local import stop_process

        stop_process(self.proc)


def measure_server(story: Story, size: int, n_queries: int, seed: int = 0) -> dict[str, Any]:
    """The same measurement at one size with the lore in a ``chroma run`` server instead of the local store."""
    with tempfile.TemporaryDirectory(prefix="stage-bench-chroma-run-") as tmp:
        server = ChromaServer(Path(tmp))
        try:
            return measure(story, (size,), n_queries, seed, progress=False, chroma_url=server.url)
        finally:
            server.stop()


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
