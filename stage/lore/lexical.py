"""Exact-word matching for the hybrid search: what small embedding models miss (names, rare words).

Query words are reduced to rough stems (``stage.text.search_tokens``). The stage's search scores them with
BM25 over the snapshot's inverted index (``snapshot.Snapshot.lexical``); ``contains_filter`` and
``bm25_scores`` are the same scoring for chunks fetched from Chroma (``where_document`` ``$contains``), which
``stage bench`` uses as its baseline. Both scale so a chunk matching every query word as rarely as possible
would score 1.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from stage.text import MIN_STEM, search_tokens

K1 = 1.2
B = 0.75

_QUOTED_RE = re.compile(r"[\"“”]([^\"“”]{3,60})[\"“”]")


def query_terms(query: str) -> list[str]:
    """Distinct stems of the query's content words, then any quoted phrases (matched as exact phrases)."""
    stems = [t for t in search_tokens(query) if len(t) >= MIN_STEM and not t.isdigit()]
    phrases = [f'"{p.strip().lower()}"' for p in _QUOTED_RE.findall(query) if p.strip()]
    return list(dict.fromkeys([*stems, *phrases]))


def _search_key(term: str) -> str:
    """A substring every surface form of the stem contains ('story' -> 'stor' also finds 'stories')."""
    if term.startswith('"'):
        return term.strip('"')
    return term[:-1] if term.endswith("y") and len(term) > MIN_STEM else term


def contains_filter(terms: Sequence[str]) -> dict[str, Any] | None:
    """A ``where_document`` clause matching any term, in lower case or capitalised."""
    variants: set[str] = set()
    for t in terms:
        key = _search_key(t)
        variants |= {key, key.capitalize()}
    clauses: list[dict[str, Any]] = [{"$contains": v} for v in sorted(variants)]
    if not clauses:
        return None
    return clauses[0] if len(clauses) == 1 else {"$or": clauses}


def _count(term: str, doc_tokens: Counter[str], doc_lower: str) -> int:
    if term.startswith('"'):
        return doc_lower.count(term.strip('"'))
    return doc_tokens.get(term, 0)


def bm25_scores(terms: Sequence[str], documents: Mapping[str, str], scoped_total: int) -> dict[str, float]:
    """Scores in [0, 1] for the documents (id -> text), which are the scoped chunks holding any term.

    Document frequencies come from ``documents`` (every in-scope chunk that contains a term is there, unless
    the fetch was capped); ``scoped_total`` is the number of chunks in scope.
    """
    if not terms or not documents:
        return {}
    parsed = {i: (Counter(search_tokens(d)), d.lower()) for i, d in documents.items()}
    lengths = {i: max(1, sum(c.values())) for i, (c, _) in parsed.items()}
    avg = sum(lengths.values()) / len(lengths)
    n = max(scoped_total, len(documents))
    idf = {}
    for t in terms:
        df = sum(1 for c, low in parsed.values() if _count(t, c, low))
        idf[t] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    best = math.log(1 + (n - 0.5) / 1.5) * (K1 + 1)  # one rare term, saturated
    out: dict[str, float] = {}
    for i, (c, low) in parsed.items():
        total = 0.0
        for t in terms:
            tf = _count(t, c, low)
            if tf:
                total += idf[t] * tf * (K1 + 1) / (tf + K1 * (1 - B + B * lengths[i] / avg))
        out[i] = min(1.0, total / (best * len(terms)))
    return out
