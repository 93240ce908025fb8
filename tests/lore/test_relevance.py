"""Hand-written questions about the shipped story: the expected section must be in the top 3 for each."""

from __future__ import annotations

import pytest

from stage.lore.store import LoreStore
from tests.lore.conftest import REPORT, Shipped

# (question, asked as, at beat position, expected section id)
PAIRS: list[tuple[str, str, int, str]] = [
    ("What time do children sync in on school nights?", "lyra", 12, "bedtime-in-2085"),
    ("How do children earn Lattice Stars?", "lyra", 12, "dreamschool-and-lattice-stars"),
    ("What do kids call a child who doesn't sync?", "max", 12, "peer-culture-dimmers"),
    ("What is the Upper Ring of the city like?", "theo", 12, "corvale-city"),
    ("Why is the signal so weak in the old parks on the east side of the city?", "max", 1, "juniper-reach"),
    ("What does the colour of the ring on the band mean?", "lyra", 1, "network-how-it-works"),
    ("Who founded the company that runs the Network?", "camille", 1, "nocturne-systems"),
    ("What are the floating islands with glowing fruit in the dream?", "lyra", 1, "dreamscapes"),
    ("How can a child switch the Network off and sleep on their own?", "max", 1, "solo-rest-setting"),
    ("What does Tidewater change about the shared dreams?", "zara", 1, "project-tidewater"),
    ("How are bonuses tied to how long children stay synced?", "zara", 1, "engagement-index"),
    ("What did the leaked Amber Report say?", "camille", 3, "faults-report-leak"),
    ("What did the safety team recommend about the rollout in LIR-7?", "zara", 3, "faults-report-internal"),
    ("What is the grey fog in the children's nightmares?", "max", 4, "the-hush"),
    ("What is Lyra's recurring nightmare about her parents?", "lyra", 4, "lyra-quiet-house"),
    ("Where does Lyra's family live and what do her parents do?", "camille", 1, "adair-family"),
    ("Why have Lyra's Stars dropped this term?", "lyra", 1, "lyra-hidden-stars"),
    ("What song does Lyra play before she syncs?", "lyra", 1, "lyra-family-worries"),
    ("What strange calls has the ambulance crew had this month?", "theo", 1, "theo-private"),
    ("Where does the Benoit family live?", "zara", 1, "benoit-family"),
    ("What did Max dream about when his band slipped off?", "max", 1, "max-secret-wish"),
    ("What is in Mamie Jo's old book?", "max", 1, "the-lantern-book"),
    ("Who is Wren?", "camille", 1, "camille-sources"),
    ("What evidence is in Camille's folder?", "camille", 5, "camille-case-file"),
    ("What did Max read when Camille left her folder open?", "max", 5, "camille-desk-notes"),
    ("What secret did Max tell Lyra at the Edge?", "lyra", 2, "max-wish-shared"),
    ("Who are the Lamplighters people whisper about at school?", "lyra", 6, "lamplighters-rumour"),
    ("How did Lyra and Max get away on the night they logged off?", "lyra", 7, "logging-off-first-time"),
    ("What is it like to arrive at Reach Gate?", "max", 7, "juniper-reach-arrival"),
    ("Where do the Lamplighters meet and who founded them?", "camille", 8, "the-lamplighters"),
    ("How does the four-count breath work?", "lyra", 8, "lamplighter-practices"),
    ("What happened when the Network failed on rollout night?", "theo", 9, "the-great-cascade"),
    ("How did Zara stop the cascade from the control room?", "zara", 9, "cascade-control-room"),
    ("What did Theo tell parents to do to wake their children?", "theo", 9, "cascade-responders"),
    ("What did Camille conclude once she had the full report?", "camille", 9, "camille-findings"),
    ("How did the parents find Lyra and Max?", "zara", 10, "reunion-night-library"),
    ("What headline did the Ledger publish?", "lyra", 10, "findings-made-public"),
    ("What did the campaign demand?", "max", 11, "the-campaign"),
    ("Who owns a dream? What did the city argue about?", "theo", 11, "public-discourse"),
    ("What is in the Bedtime Charter?", "zara", 12, "common-night"),
    ("What does bedtime look like at the Adairs' now?", "theo", 12, "new-bedtime-routines"),
    ("What does Max do on Wednesdays now?", "camille", 12, "max-meditation"),
    ("Is the heroine called Kyra?", "lyra", 1, "editorial-kyra-typo"),
    ("What does Camille write about for the Ledger?", "zara", 1, "camille-journalist"),
]


def rank_of(store: LoreStore, question: str, who: str, beat: int, expected: str) -> int | None:
    hits = store.search(question, who, beat, k=5)
    ranks = [n for n, h in enumerate(hits, start=1) if h.chunk.section_id == expected]
    return ranks[0] if ranks else None


def test_pairs_are_answerable(shipped: Shipped) -> None:
    """Each expected section exists and is in scope for the asker (else the pair itself is wrong)."""
    by_id = {s.id: s for s in shipped.sections}
    assert len(PAIRS) >= 20
    for _question, who, beat, expected in PAIRS:
        assert expected in by_id, f"{expected!r} is not a lore section"
        assert by_id[expected].visible(who, beat), f"{expected!r} is out of scope for {who} at {beat}"


def test_expected_section_in_top_3(indexed: LoreStore, request: pytest.FixtureRequest) -> None:
    ranks = {expected: rank_of(indexed, q, who, beat, expected) for q, who, beat, expected in PAIRS}
    top1 = sum(1 for r in ranks.values() if r == 1)
    top3 = sum(1 for r in ranks.values() if r is not None and r <= 3)
    mrr = sum(1 / r for r in ranks.values() if r) / len(ranks)
    mode = "server" if indexed.url else "local"
    REPORT.append(
        f"{mode} relevance: top-3 hit rate {top3}/{len(PAIRS)} = {top3 / len(PAIRS):.0%}, "
        f"top-1 {top1}/{len(PAIRS)}, MRR@5 {mrr:.2f}"
    )
    misses = {e: r for e, r in ranks.items() if r is None or r > 3}
    assert not misses, f"expected section not in the top 3 (rank or None): {misses}"
