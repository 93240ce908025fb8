from __future__ import annotations

import pytest

from stage.lore.lexical import bm25_scores, contains_filter, query_terms
from stage.text import stem


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("synced", "sync"),
        ("syncs", "sync"),
        ("syncing", "sync"),
        ("bonuses", "bonus"),
        ("stories", "story"),
        ("nightmares", "nightmare"),
        ("Camille's", "camille"),
        ("Lyra’s", "lyra"),
        ("class", "class"),
        ("bed", "bed"),
    ],
)
def test_stem(word: str, expected: str) -> None:
    assert stem(word) == expected


def test_query_terms_drop_stop_words_and_keep_quoted_phrases() -> None:
    assert query_terms('Who is Camille and what is the "dream lattice"?') == [
        "camille",
        "dream",
        "lattice",
        '"dream lattice"',
    ]
    assert query_terms("what is it?") == []
    assert contains_filter([]) is None


def test_contains_filter_finds_all_surface_forms() -> None:
    clause = contains_filter(["story", "camille"])
    assert clause == {
        "$or": [
            {"$contains": "Camille"},
            {"$contains": "Stor"},
            {"$contains": "camille"},
            {"$contains": "stor"},
        ]
    }


def test_bm25_prefers_rare_names_and_stays_in_unit_range() -> None:
    docs = {
        "a": "Camille writes for the Ledger. The Network is everywhere.",
        "b": "The Network runs every night. The Network never sleeps.",
        "c": "The Network and the Orchard.",
    }
    scores = bm25_scores(query_terms("Camille and the Network"), docs, scoped_total=10)
    assert scores["a"] > scores["b"] > 0
    assert all(0 <= s <= 1 for s in scores.values())
    only_common = bm25_scores(query_terms("Network"), docs, scoped_total=3)
    assert max(only_common.values()) < 0.35  # a word in every chunk says little
