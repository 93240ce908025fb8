"""The lore store: chunks in a Chroma collection, indexed incrementally, searched within a character's scope.

Chroma holds the chunks (persistent or on a ``chroma run`` server). Searches are answered from a
``Snapshot`` of the collection kept in memory (``stage/lore/snapshot.py``): scope (who may know a chunk, and
from which beat) selects the candidates before anything is ranked, so a search returns the best chunks *among
those in scope* rather than a filtered top-k that may come back empty. Visibility is stored as one boolean per
reader (``vis_everyone``, ``vis_<character>``): scalar metadata works on every Chroma version and server, and
the same flags drive Chroma's ``where`` filter (``scope_filter``), which tests hold the snapshot to.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from stage.errors import ConfigError, DataError, StageError, StoreError
from stage.lore.chunk import chunk_sections, embedding_prefix, embedding_text, text_of_document
from stage.lore.embed import NAME as EMBEDDING_NAME
from stage.lore.embed import MiniLMEmbedding, embedding_function
from stage.lore.lexical import query_terms
from stage.lore.progress import batches_with_progress
from stage.lore.snapshot import VIS_PREFIX, Snapshot
from stage.types import EVERYONE, LoreChunk, LoreHit, LoreSection

log = logging.getLogger(__name__)

COLLECTION = "lore"
FORMAT = 1  # bump when the stored layout changes: stores in another format are rebuilt
BATCH = 16  # chunks per write (and per progress step)
LEXICAL_WEIGHT = 0.35  # share of the score from exact word matches (BM25), the rest is cosine similarity
FRESHNESS_S = 1.0  # how often a search checks whether another process changed the collection


@dataclass(frozen=True)
class IndexReport:
    """What an ``index`` run did, counted in chunks."""

    added: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.removed)

    def __str__(self) -> str:
        return (
            f"{self.added} added, {self.updated} updated, {self.removed} removed, {self.unchanged} unchanged"
        )


def chunk_hash(chunk: LoreChunk) -> str:
    """Content hash of everything stored for a chunk (document and metadata): any edit re-indexes it."""
    payload = json.dumps([FORMAT, EMBEDDING_NAME, embedding_text(chunk), _metadata(chunk)], sort_keys=True)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:32]


def _metadata(chunk: LoreChunk) -> dict[str, str | int | bool]:
    meta: dict[str, str | int | bool] = {
        "id": chunk.id,
        "section_id": chunk.section_id,
        "source": chunk.source,
        "heading": chunk.heading,
        "tags": ",".join(chunk.tags),
        "from_beat": chunk.from_beat,
        "key_terms": "|".join(chunk.key_terms),
        "visible_to": ",".join(chunk.visible_to),
        f"{VIS_PREFIX}{EVERYONE}": EVERYONE in chunk.visible_to,
    }
    for who in chunk.visible_to:
        meta[f"{VIS_PREFIX}{who}"] = True
    return meta


def chunk_metadata(chunk: LoreChunk) -> dict[str, str | int | bool]:
    """Chroma metadata: the chunk's fields (lists joined), one ``vis_*`` flag per reader, and its hash."""
    return {**_metadata(chunk), "hash": chunk_hash(chunk)}


def chunk_from_record(document: str, meta: Mapping[str, Any]) -> LoreChunk:
    def split(key: str, sep: str) -> tuple[str, ...]:
        return tuple(v for v in str(meta.get(key, "")).split(sep) if v)

    heading, tags, key_terms = str(meta.get("heading", "")), split("tags", ","), split("key_terms", "|")
    return LoreChunk(
        id=str(meta["id"]),
        section_id=str(meta.get("section_id", meta["id"])),
        text=text_of_document(document, embedding_prefix(heading, tags, key_terms)),
        source=str(meta.get("source", "")),
        heading=heading,
        tags=tags,
        visible_to=split("visible_to", ","),
        from_beat=int(meta["from_beat"]),
        key_terms=key_terms,
    )


def scope_filter(character: str, beat: int) -> dict[str, Any]:
    """The Chroma ``where`` clause for what ``character`` may know at beat position ``beat``."""
    readers: list[dict[str, Any]] = [{f"{VIS_PREFIX}{EVERYONE}": True}, {f"{VIS_PREFIX}{character}": True}]
    return {"$and": [{"$or": readers}, {"from_beat": {"$lte": int(beat)}}]}


class LoreStore:
    """Lore chunks in Chroma: a local store under ``home / "chroma"``, or the server at ``chroma_url``.

    ``search`` is the agents' ``Retriever`` (``stage.agents.retrieval``): a scene is given the store itself.
    """

    def __init__(
        self,
        *,
        home: Path,
        chroma_url: str = "",
        collection: str = COLLECTION,
        embedding: MiniLMEmbedding | None = None,
    ) -> None:
        self.name = collection
        self.embedding = embedding or embedding_function()
        self.url = chroma_url.strip()
        self.path = Path(home) / "chroma"
        self.location = self.url or str(self.path)
        self._client = self._connect()
        self._collection = self._open()
        self._snapshot: Snapshot | None = None
        self._checked_at = 0.0
        self._snapshot_lock = threading.Lock()

    # -- connection ---------------------------------------------------------------------------------------

    def _connect(self) -> Any:
        import chromadb
        from chromadb.config import Settings as ChromaSettings

        chroma_settings = ChromaSettings(anonymized_telemetry=False)
        if self.url:
            parts = urlsplit(self.url if "://" in self.url else f"http://{self.url}")
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ConfigError(f"chroma_url: expected http://host:port, got {self.url!r}")
            try:
                port = parts.port or (443 if parts.scheme == "https" else 8000)
            except ValueError as exc:
                raise ConfigError(f"chroma_url: expected http://host:port, got {self.url!r}") from exc
            with self._guard("reach"):
                return chromadb.HttpClient(
                    host=parts.hostname, port=port, ssl=parts.scheme == "https", settings=chroma_settings
                )
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(
                f"the lore store at {self.path} is not a folder; move the file away or set STAGE_HOME"
            )
        with self._guard("open"):
            self.path.mkdir(parents=True, exist_ok=True)
            return chromadb.PersistentClient(path=str(self.path), settings=chroma_settings)

    def _open(self) -> Any:
        with self._guard(f"open the collection {self.name!r} in"):
            return self._client.get_or_create_collection(
                self.name,
                embedding_function=self.embedding,
                configuration={"hnsw": {"space": "cosine"}},
                metadata={"format": FORMAT, "embedding": EMBEDDING_NAME},
            )

    def _mark_changed(self) -> None:
        """A new version tag on the collection, so other processes sharing it rebuild their snapshots."""
        with self._guard("update"):
            self._collection.modify(
                metadata={"format": FORMAT, "embedding": EMBEDDING_NAME, "version": uuid.uuid4().hex}
            )
        with self._snapshot_lock:
            self._snapshot = None

    @contextmanager
    def _guard(self, action: str) -> Iterator[None]:
        """Turn whatever Chroma or the file system raises into one ``StoreError`` that names the store."""
        try:
            yield
        except StageError:
            raise
        except Exception as exc:
            detail = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            where = f"the Chroma server at {self.url}" if self.url else f"the lore store at {self.path}"
            hint = (
                "is `chroma run` up?"
                if self.url
                else "check the folder, or delete it and run `stage lore index`"
            )
            raise StoreError(f"cannot {action} {where}: {detail} ({hint})") from exc

    def _format_ok(self) -> bool:
        meta = self._collection.metadata or {}
        return bool(meta.get("format") == FORMAT and meta.get("embedding") == EMBEDDING_NAME)

    def _reset(self) -> None:
        with self._guard("reset the collection in"):
            try:
                self._client.delete_collection(self.name)
            except Exception as exc:  # absent already: fine
                log.debug("delete_collection(%s): %s", self.name, exc)
        self._collection = self._open()

    # -- indexing -----------------------------------------------------------------------------------------

    def stored_hashes(self) -> dict[str, str]:
        """Chunk id -> content hash of everything in the store."""
        with self._guard("read"):
            got = self._collection.get(include=["metadatas"])
        return {
            i: str((m or {}).get("hash", ""))
            for i, m in zip(got["ids"], got["metadatas"] or [], strict=False)
        }

    def _plan(self, chunks: Sequence[LoreChunk]) -> tuple[dict[str, str], dict[str, str]]:
        wanted: dict[str, str] = {}
        for c in chunks:
            if c.id in wanted:
                raise DataError(f"{c.source}: lore id {c.section_id!r} is used by more than one section")
            wanted[c.id] = chunk_hash(c)
        return wanted, self.stored_hashes() if self._format_ok() else {}

    def is_stale(self, sections: Sequence[LoreSection]) -> bool:
        """True if ``index(sections)`` would change anything (including an empty or old-format store)."""
        wanted, stored = self._plan(chunk_sections(sections))
        return not self._format_ok() or wanted != stored

    def index(
        self, sections: Sequence[LoreSection], rebuild: bool = False, progress: bool = True
    ) -> IndexReport:
        """Bring the store in line with ``sections``: embed new and changed chunks, delete vanished ones."""
        chunks = chunk_sections(sections)
        if rebuild or not self._format_ok():
            log.info("rebuilding the lore index in %s", self.location)
            self._reset()
        wanted, stored = self._plan(chunks)
        added = [c for c in chunks if c.id not in stored]
        updated = [c for c in chunks if c.id in stored and stored[c.id] != wanted[c.id]]
        removed = sorted(set(stored) - set(wanted))
        report = IndexReport(len(added), len(updated), len(removed), len(chunks) - len(added) - len(updated))
        # An updated chunk is deleted and added again, not upserted: Chroma merges upserted metadata into the
        # old, so a reader dropped from visible_to would keep its stale vis_<id> flag and still see the chunk.
        stale = [*removed, *(c.id for c in updated)]
        for start in range(0, len(stale), BATCH):
            with self._guard("delete from"):
                self._collection.delete(ids=stale[start : start + BATCH])
        todo = [*updated, *added]
        for batch in batches_with_progress(todo, BATCH, "Indexing lore", enabled=progress):
            with self._guard("write to"):
                self._collection.add(
                    ids=[c.id for c in batch],
                    documents=[embedding_text(c) for c in batch],
                    metadatas=[chunk_metadata(c) for c in batch],
                )
        if report.changed or rebuild:
            self._mark_changed()
        log.info("lore index %s: %s", self.location, report)
        return report

    def ids_in_scope(self, as_character: str, beat: int) -> list[str]:
        """Ids of every chunk ``as_character`` may know at beat position ``beat`` (what ``search`` ranks)."""
        with self._guard("query"):
            return sorted(self._collection.get(where=scope_filter(as_character, beat), include=[])["ids"])

    def count(self) -> int:
        with self._guard("count the chunks in"):
            return int(self._collection.count())

    # -- retrieval ----------------------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """The in-memory view searches rank from; rebuilt when the collection's version tag or size changed
        (checked at most every ``FRESHNESS_S`` seconds; at once after this store indexes)."""
        with self._snapshot_lock:
            now = time.monotonic()
            if self._snapshot is not None and now - self._checked_at < FRESHNESS_S:
                return self._snapshot
            with self._guard("read"):
                self._collection = self._client.get_collection(self.name, embedding_function=self.embedding)
                version = f"{(self._collection.metadata or {}).get('version', '')}:{self._collection.count()}"
                if self._snapshot is None or self._snapshot.version != version:
                    got = self._collection.get(include=["documents", "metadatas", "embeddings"])
                    self._snapshot = Snapshot.build(
                        version,
                        got["ids"],
                        [str(d) for d in got["documents"] or []],
                        [m or {} for m in got["metadatas"] or []],
                        got["embeddings"] if got["embeddings"] is not None else [],
                    )
                    log.debug("lore snapshot %s: %d chunks", version, len(self._snapshot))
            self._checked_at = now
            return self._snapshot

    def search(self, query: str, as_character: str, beat: int, k: int = 3) -> list[LoreHit]:
        """The ``k`` chunks most relevant to ``query`` that ``as_character`` may know at beat ``beat``.

        Hybrid: cosine similarity to the query mixed with BM25 on the query's words (names like "Camille",
        rare words), in [0, 1], ranked only among the chunks in scope (see ``Snapshot``).
        """
        if k < 1:
            raise ConfigError(f"k: expected a positive number of results, got {k}")
        if not query.strip():
            return []
        snap = self.snapshot()
        if not len(snap):
            return []
        mask = snap.scope(as_character, beat)
        if not mask.any():
            return []
        vector = np.asarray(self.embedding([query])[0], dtype=np.float32)
        ranked = snap.rank(vector, query_terms(query), mask, k, LEXICAL_WEIGHT)
        return [
            LoreHit(chunk_from_record(snap.documents[r.index], snap.metadatas[r.index]), r.score)
            for r in ranked
        ]
