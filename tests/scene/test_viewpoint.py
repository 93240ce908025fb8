"""Lore read from a character's point of view: the shipped story's family sections, pronouns resolved to the
character they mean, and what a character can recall whatever the line is about.

Structure only: which sentence turns to "you", which stays as it is; no model involved.
"""

from __future__ import annotations

import pytest

from stage.agents.viewpoint import EDITORIAL, about, clauses_of, read_as, recall_pool
from stage.types import LoreHit

ADAIRS = (
    "Lyra Adair is ten. Her mother, Zara Adair, 41, is Senior Lattice Architect at Nocturne Systems. Her father, "
    "Theo Adair, 43, is a rescue paramedic.\n\nThey live on the 41st floor of the Halden Spire in the Upper Ring."
)
BENOITS = (
    "Max Benoit is ten. His sister Camille is twenty-four. Their mother, Nadia, runs Benoit Bakery and gets up at "
    "three every morning; their father, Luc, drives night trams.\n\nThe family lives above the bakery."
)


def _cast(story):  # type: ignore[no-untyped-def]
    return list(story.personas.values())


def test_they_means_the_family_named_before_it(story) -> None:  # type: ignore[no-untyped-def]
    for who in ("zara", "theo", "lyra"):
        facts = read_as(ADAIRS, story.personas[who], _cast(story))
        assert "You live on the 41st floor of the Halden Spire in the Upper Ring." in facts, who
    # Max was never named in that family's section: "they" is not him
    assert "They live on the 41st floor of the Halden Spire in the Upper Ring." in read_as(
        ADAIRS, story.personas["max"], _cast(story)
    )


def test_her_means_the_topic_not_the_last_name_seen(story) -> None:  # type: ignore[no-untyped-def]
    # "Her father" follows a sentence that names Zara, but its "her" is Lyra, whom the section is about
    lyra = read_as(ADAIRS, story.personas["lyra"], _cast(story))
    assert "Your mother, Zara Adair, 41, is Senior Lattice Architect at Nocturne Systems." in lyra
    assert any(f.startswith("Your father, Theo Adair") for f in lyra)
    zara = read_as(ADAIRS, story.personas["zara"], _cast(story))
    assert any(f.startswith("Her father, Theo Adair") for f in zara)  # Zara's father is someone else


def test_clauses_joined_by_a_semicolon_are_facts_of_their_own(story) -> None:  # type: ignore[no-untyped-def]
    max_ = read_as(BENOITS, story.personas["max"], _cast(story))
    assert "Your mother, Nadia, runs Benoit Bakery and gets up at three every morning." in max_
    assert "Your father, Luc, drives night trams." in max_
    assert "Your sister Camille is twenty-four." in max_
    assert "You live above the bakery." in max_  # "The family lives" -> the base form
    # Camille is named before "their": her parents too; Lyra is not, so their parents stay theirs
    assert "Your father, Luc, drives night trams." in read_as(BENOITS, story.personas["camille"], _cast(story))
    assert "Their father, Luc, drives night trams." in read_as(BENOITS, story.personas["lyra"], _cast(story))


@pytest.mark.parametrize(
    ("sentence", "parts"),
    [
        ("Nadia bakes the bread; luc drives the night trams.", ["Nadia bakes the bread.", "Luc drives the night trams."]),
        # a list whose items are too short to be clauses stays one fact
        ("Lyra: dentist Tues; Theo: nights.", ["Lyra: dentist Tues; Theo: nights."]),
        ("No semicolon here.", ["No semicolon here."]),
    ],
)
def test_clauses_of(sentence: str, parts: list[str]) -> None:
    assert clauses_of(sentence) == parts


def test_sections_about_a_character_are_theirs(story) -> None:  # type: ignore[no-untyped-def]
    by_id = {s.id: s for s in story.lore}
    assert about(by_id["adair-family"], story.personas["zara"])  # tagged with her surname
    assert about(by_id["benoit-family"], story.personas["camille"])
    assert not about(by_id["benoit-family"], story.personas["zara"])
    assert not about(by_id["editorial-kyra-typo"], story.personas["lyra"])


def test_a_character_can_recall_their_home_whatever_the_search_found(story) -> None:  # type: ignore[no-untyped-def]
    by_id = {s.id: s for s in story.lore}
    from stage.agents.retrieval import chunk_of

    kyra = LoreHit(chunk_of(by_id["editorial-kyra-typo"]), 0.9)
    assert EDITORIAL in kyra.chunk.tags
    pool = recall_pool(story.personas["zara"], story, 1, [kyra])
    # no hit was about her home, yet she knows it: the section about her family is hers to recall
    assert any(f.startswith("You live on the 41st floor of the Halden Spire") for f in pool)
    # a writers' note is never something a character says
    assert not any("Kyra" in f for f in pool)
    # scope holds: a section from a later beat is not in what she recalls at the first
    zara = story.personas["zara"]
    later = [s for s in story.lore if s.from_beat > 1 and about(s, zara)]
    assert later, "the story has later sections about Zara"
    for s in later:
        assert not set(read_as(s.text, zara, _cast(story))) & set(pool), s.id
    assert set(read_as(by_id["adair-family"].text, zara, _cast(story))) <= set(pool)


@pytest.mark.parametrize(
    ("sentence", "seen"),
    [
        (
            'The most admired engineer in the building is Zara Adair, whose 2079 "Quiet Wake" patch cut wakings.',
            'The most admired engineer in the building is you, whose 2079 "Quiet Wake" patch cut wakings.',
        ),
        ("Project Tidewater is Zara Adair's project.", "Project Tidewater is your project."),
        ("In the pilot logs Zara has noticed odd spikes.", "In the pilot logs you have noticed odd spikes."),
        ("Theo and Zara argue.", "Theo and you argue."),
        ("Theo works nights.", "Theo works nights."),  # not about her: as it is
    ],
)
def test_the_reader_named_inside_a_sentence_is_you(story, sentence: str, seen: str) -> None:  # type: ignore[no-untyped-def]
    assert read_as(sentence, story.personas["zara"], _cast(story)) == [seen]


def test_a_title_that_names_one_of_the_cast_sets_the_topic(story) -> None:  # type: ignore[no-untyped-def]
    text = "He sees a list of pilot schools."
    max_ = story.personas["max"]
    assert read_as(text, max_, _cast(story), title="What Max saw in the red folder") == ["You see a list of pilot schools."]
    assert read_as(text, max_, _cast(story), title="The red folder") == [text]  # nobody to mean: as it is


def test_a_relationship_is_recalled_whole_not_only_its_first_clause(story) -> None:  # type: ignore[no-untyped-def]
    from stage.agents.facts import relation_facts

    max_, theo = story.personas["max"], story.personas["theo"]
    text = "Lyra's dad, who once let him sit in the ambulance. Max thinks Theo is the kindest grown-up he knows."
    facts = relation_facts(max_, theo, text, _cast(story))
    # the first sentence describes Theo, so its "him" is Max, who is reading
    assert facts[0] == "Theo: Lyra's dad, who once let you sit in the ambulance."
    assert facts[1] == "You think Theo is the kindest grown-up you know."
    # in Theo's file a later sentence has Theo as its subject: its "him" is Max, not Theo, and said on its own
    # the first of them is named
    assert relation_facts(theo, max_, "Lyra's best friend. Theo likes him and trusts him with Lyra.")[1] == (
        "You like Max and trust him with Lyra."
    )
    lyra, camille = story.personas["lyra"], story.personas["camille"]
    assert relation_facts(max_, lyra, "His friend. He would follow her anywhere.")[1] == "You would follow Lyra anywhere."
    assert relation_facts(max_, camille, "His sister. He reads her notes.")[1] == "You read Camille's notes."
    # Zara's "her Stars" in a sentence that names Lyra may be Lyra's: left as it is
    zara = story.personas["zara"]
    said = relation_facts(zara, max_, "Lyra's friend. She likes him and thinks he distracts Lyra from her Stars.", _cast(story))
    assert said[1] == "You like Max and think he distracts Lyra from her Stars."
    # genders differ: Lyra's "she" and "her" are Lyra's own
    lyra = story.personas["lyra"]
    assert relation_facts(lyra, max_, "Her best friend, the one person she can be un-sparkly with.")[0] == (
        "Max: your best friend, the one person you can be un-sparkly with."
    )


def test_what_a_file_says_of_someone_is_in_the_recall_pool(story) -> None:  # type: ignore[no-untyped-def]
    pool = recall_pool(story.personas["max"], story, 1, [])
    assert any(f.startswith("Theo: Lyra's dad, who once let you") and "siren" in f for f in pool)
    assert not any("let him" in f for f in pool if f.startswith("Theo:"))
