"""Scope is enforced inside the store: no hit is ever hidden from the asker or from a later beat."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from stage.lore.chunk import chunk_sections
from stage.lore.store import LoreStore
from stage.types import LoreChunk
from tests.lore.support import characters_of, load_lore

PLOT, SECTIONS = load_lore()
CHARACTERS = [*characters_of(PLOT, SECTIONS), "stranger"]  # "stranger" sees only what everyone may know
BEATS = list(range(0, len(PLOT.beats) + 2))  # 0 (before the story) and one past the end included
QUERIES = [
    "What is Project Tidewater?",
    "Who is Camille?",
    "Wren",
    "the Amber Report and LIR-7",
    "Why have Lyra's Stars dropped?",
    "What happened on rollout night?",
    "Where do the Lamplighters meet?",
    "Max's secret wish to dream alone",
    "Theo's slow wakers",
    '"ghost coherence"',
    "lemon tree",
    '"100% _odd* (x) [y] \\ ;--"',
    "O'Brien's DROP TABLE",
]


def in_scope(chunk: LoreChunk, who: str, beat: int) -> bool:
    return ("everyone" in chunk.visible_to or who in chunk.visible_to) and chunk.from_beat <= beat


CHUNKS = chunk_sections(SECTIONS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    who=st.sampled_from(CHARACTERS),
    beat=st.sampled_from(BEATS),
    query=st.one_of(
        st.sampled_from(QUERIES),
        st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), min_size=1, max_size=40).filter(
            str.strip
        ),
    ),
    k=st.integers(min_value=1, max_value=8),
)
def test_no_hit_out_of_scope(indexed: LoreStore, who: str, beat: int, query: str, k: int) -> None:
    hits = indexed.search(query, who, beat, k)
    for hit in hits:
        assert in_scope(hit.chunk, who, beat), f"{hit.chunk.id} leaked to {who} at beat {beat}"
        assert 0.0 <= hit.score <= 1.0
    expected = sorted(c.id for c in CHUNKS if in_scope(c, who, beat))  # computed without the store
    if expected:
        assert hits, f"nothing returned for {who} at beat {beat} though {len(expected)} chunks are in scope"
    assert len(hits) == min(k, len(expected))
    assert indexed.ids_in_scope(who, beat) == expected
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_secrets_stay_with_their_owners(indexed: LoreStore) -> None:
    """Named cases a person would check first: Zara's project, Camille's source, Max's wish before beat 2."""
    assert "project-tidewater" in {
        h.chunk.section_id for h in indexed.search("Project Tidewater", "zara", 1, 5)
    }
    assert "project-tidewater" not in {
        h.chunk.section_id for h in indexed.search("Project Tidewater", "lyra", 12, 10)
    }
    assert "camille-sources" not in {
        h.chunk.section_id for h in indexed.search("Who is Wren?", "max", 12, 10)
    }
    assert "max-wish-shared" not in {
        h.chunk.section_id for h in indexed.search("Max's secret at the Edge", "lyra", 1, 10)
    }
    assert indexed.search("anything at all", "lyra", 0, 5) == []


def test_snapshot_scope_is_chromas_where_filter(indexed: LoreStore) -> None:
    """Searches rank inside an in-memory mask; it must select exactly what Chroma's own filter selects."""
    snap = indexed.snapshot()
    assert len(snap) == indexed.count() == len(CHUNKS)
    for who in CHARACTERS:
        for beat in BEATS:
            assert snap.ids_in_scope(who, beat) == indexed.ids_in_scope(who, beat), (who, beat)
