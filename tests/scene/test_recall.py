"""Recall ranks a character's facts against a question by meaning, words, the answer's shape and whose it is;
a question a fact answers gets that fact among the turn's candidates, said in the character's own words.

Real MiniLM, the shipped story; structure (which fact, which candidate, which flag), never a model's words.
"""

from __future__ import annotations

import re

import pytest

from stage.agents import recall
from stage.agents.facts import about_self, fact_sheet, first_person, recallable, spoken
from stage.agents.recall import asks_for, default_embedder, is_wh_question, kin_of, rank
from stage.scene import events_of
from stage.transcript import Turn
from tests.scene.helpers import scene


@pytest.fixture(scope="module")
def embed():  # type: ignore[no-untyped-def]
    return default_embedder()


def top(story, who: str, question: str, embed) -> str:  # type: ignore[no-untyped-def]
    p = story.personas[who]
    names = {c: q.name for c, q in story.personas.items()}
    sheet = fact_sheet(p, names, story.plot.setting)
    ranked = rank(
        question, recallable(p, names, story.plot.setting), embed, ignore=(p.name,), kin=kin_of(sheet)
    )
    assert ranked, question
    return ranked[0].fact


@pytest.mark.parametrize(
    ("who", "question", "answer"),
    [
        # the year: "what year" wants a year, not "10 years old" (which shares the word)
        ("lyra", "Lyra, what year is it?", r"\b2085\b"),
        # "your mum" is the speaker's own: Max's mother, never "Zara: Lyra's mum"
        ("max", "Max, what's your mum called?", r"your mother|your mum"),
        # "who is X to you?" wants what X is to them
        ("lyra", "Who is Zara to you?", r"^Zara: your mum"),
        ("theo", "Who is Zara to you, Theo?", r"^Zara: your wife"),
        ("zara", "Zara, what's your daughter's name?", r"^Lyra: your daughter"),
        # "what do you do" wants work
        ("theo", "What do you do for a living?", r"paramedic|9-Bravo|Station 9"),
        # the story's when and where is not the character's home
        ("lyra", "Where do you live?", r"Halden Spire"),
    ],
)
def test_recall_ranks_the_fact_that_answers_first(story, embed, who: str, question: str, answer: str) -> None:  # type: ignore[no-untyped-def]
    got = top(story, who, question, embed)
    assert re.search(answer, got), got
    assert not re.search(r"\b(Lyra|Max|Camille)'s (mum|mother)\b", got) or who == "lyra"


def test_the_speakers_relatives_come_from_their_sheet(story) -> None:  # type: ignore[no-untyped-def]
    names = {c: q.name for c, q in story.personas.items()}
    assert kin_of(fact_sheet(story.personas["max"], names)) == {"friend": "Lyra", "sister": "Camille"}
    assert kin_of(fact_sheet(story.personas["lyra"], names))["mother"] == "Zara"


def test_the_answer_shape_of_a_question() -> None:
    assert asks_for("What year is it?") is not None and asks_for("What year is it?").search("in October 2085")  # type: ignore[union-attr]
    assert asks_for("How old is Max?").search("Max is ten")  # type: ignore[union-attr]
    assert asks_for("Are you ready to sync?") is None
    assert asks_for("What do you do for a living?").search("You have been a paramedic")  # type: ignore[union-attr]
    assert is_wh_question("Lyra, who is your best friend?")
    assert not is_wh_question("Are you ready to sync, Lyra?")
    assert not is_wh_question("What a lovely night.")  # no question mark: a remark
    assert is_wh_question("How old is Max?") and is_wh_question("How does your breathing rhyme go?")
    assert not is_wh_question("How was Dreamschool today?")  # asks how it felt: no fact answers that
    assert not is_wh_question("How are you, Theo?")


def test_a_spoken_fact_is_one_short_first_person_sentence() -> None:
    assert spoken(first_person("Max: your best friend since the first day of Brightwater Primary.")) == (
        "Max is my best friend since the first day of Brightwater Primary."
    )
    long = first_person(
        "You live above your mother's bakery on Cask Street with your tram-driver father and your big sister "
        "Camille, and read your grandmother's paper book of night stories by torchlight before Sync Hour."
    )
    assert spoken('Z: rollout Sat 27th." Lyra has been top Star-earner.') == "Lyra has been top Star-earner."
    line = spoken(long)
    assert (
        len(line.split()) <= 24 and line.endswith(".") and line.startswith("I live above my mother's bakery")
    )


def test_lore_that_names_the_speaker_is_turned_to_them(story) -> None:  # type: ignore[no-untyped-def]
    camille = story.personas["camille"]
    assert about_self("Camille moved back home last spring.", camille) == "You moved back home last spring."
    # an aside after the name goes: said by Camille, the lore would narrate her in the third person
    assert about_self("Camille Benoit, twenty-four, is a reporter.", camille) == "You are a reporter."
    # another person's sentence, or a list that starts with the name, is left alone
    assert about_self("Max reads by torchlight.", camille) == "Max reads by torchlight."
    assert about_self("Camille, Max and Lyra ran home.", camille) == "Camille, Max and Lyra ran home."
    assert about_self("Camille, tired and cold, and Max ran.", camille).startswith("Camille,")


def test_a_question_a_fact_answers_gets_that_fact_among_the_candidates(story) -> None:  # type: ignore[no-untyped-def]
    # a model that never answers: the character still says what they know, and the turn says where it came from
    sc, _ = scene(story, responder=lambda _m: "Oh, the stars are very bright tonight, I think.")
    sc.params = sc.params.__class__(**{**sc.params.__dict__, "candidates": 2})
    sc.say("Lyra, who is your best friend?", name="Visitor")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert turn.speaker == "lyra"
    sources = [c.get("source") for c in turn.candidates]
    assert sources.count("recalled") == 1 and sources.count("model") == 2
    recalled = next(c for c in turn.candidates if c["source"] == "recalled")
    assert "Max" in recalled["text"] and re.match(r"^(Max is my|I |My )", recalled["text"])
    if turn.chosen == turn.candidates.index(recalled):
        assert "recalled" in turn.flags and turn.text == recalled["text"]
    else:
        assert "recalled" not in turn.flags


def test_a_yes_no_question_or_a_remark_gets_no_recalled_answer(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story, responder=lambda _m: "Oh, the stars are very bright tonight, I think.")
    sc.params = sc.params.__class__(**{**sc.params.__dict__, "candidates": 2})
    sc.say("Lyra, are you ready to sync?", name="Visitor")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert all(c.get("source") == "model" for c in turn.candidates)
    assert "recalled" not in turn.flags


def test_a_recalled_answer_replaces_the_stock_line_when_every_sample_is_rejected(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story, responder=lambda _m: "You are Zara, a 50 year old.")  # role confusion, every time
    sc.say("Lyra, what's your mum's name?", name="Visitor")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert "fallback" not in turn.flags and "recalled" in turn.flags
    assert "Zara" in turn.text


@pytest.mark.parametrize(
    ("third", "first"),
    [
        ("Her editor took her off the beat and then let her go.", "My editor took me off the beat and then let me go."),
        ("Three families have told her their children woke.", "Three families have told me their children woke."),
        ("Mum checks that her band has turned green.", "Mum checks that my band has turned green."),
    ],
)
def test_a_fact_about_her_in_her_own_words(third: str, first: str) -> None:
    from stage.agents.facts import SHE, yours

    assert first_person(yours(third, SHE)) == first


@pytest.mark.parametrize(
    ("second", "first"),
    [
        ("You are afraid that a child gets hurt before you can publish.", "I am afraid that a child gets hurt before I can publish."),
        ("You have been a paramedic for nineteen years and are now crew lead.", "I have been a paramedic for nineteen years and am now crew lead."),
        ("Max: your friend, and he loves you.", "Max is my friend, and he loves me."),
    ],
)
def test_a_second_person_fact_in_the_first_person(second: str, first: str) -> None:
    assert first_person(second) == first


@pytest.mark.parametrize(
    ("fact", "subject"),
    [
        ("You live above your mother's bakery.", ("self", "")),
        ("I write the Night Desk column.", ("self", "")),
        ("Their mother, Nadia, runs Benoit Bakery.", ("kin", "mother")),
        ("Your dad drove the Line 7 tram.", ("kin", "father")),
        ("Camille is a journalist for the Corvale Ledger.", ("name", "Camille")),
        ("Max: your best friend since the first day of Brightwater Primary.", ("name", "Max")),
        # someone else's relative is not the speaker's: it opens with a name, not with kin
        ("Zara: Lyra's mum.", ("name", "Zara")),
        ("Sync Hour is 20:30 on school nights.", ("", "")),
        ("Your own band glows green.", ("", "")),
    ],
)
def test_who_a_fact_is_about_comes_from_how_it_opens(fact: str, subject: tuple[str, str]) -> None:
    # a capitalised word that opens a sentence is a name only when the story names such a person
    people = frozenset({"Camille", "Max", "Zara", "Lyra", "Nadia"})
    assert recall._subject_of_fact(fact, people) == subject


def test_a_question_about_someone_prefers_facts_about_them() -> None:
    kin = {"mother": "Nadia"}
    long_one = "You live above your mother's bakery with your big sister Camille."
    named = "Their mother, Nadia, runs Benoit Bakery."
    # "your mum" is asked after: a fact that opens with her beats one that opens with "you"
    assert recall._subject_match({"mother"}, set(), "What's your mum called?", named, kin) == 1.0
    assert recall._subject_match({"mother"}, set(), "What's your mum called?", long_one, kin) == -1.0
    # "you" is asked after: the speaker's own facts, not their grandmother's
    gran = "Their grandmother, Josephine, lives in a care home."
    assert recall._subject_match(set(), set(), "Where do you live?", "You moved back into the flat.", kin) == 1.0
    assert recall._subject_match(set(), set(), "Where do you live?", gran, kin) == -1.0
    # a named person is asked after, and a fact that opens with nobody in particular says nothing either way
    assert recall._subject_match(set(), {"Max"}, "What time does Max sync in?", "Max syncs in at 20:30.", kin) == 1.0
    people = frozenset({"Max", "Camille", "Nadia"})
    assert recall._subject_match(set(), set(), "Where do you live?", "Sync Hour is 20:30.", kin, people) == 0.0
    # the name given to the relative asked after is the answer's shape; a mention of her without it is not
    assert recall._names_kin({"mother"}, named, frozenset({"Nadia"}))
    assert recall._names_kin({"mother"}, "Zara: your mum.", frozenset({"Zara"}))
    assert not recall._names_kin({"mother"}, long_one, frozenset({"Nadia", "Camille"}))
    assert not recall._names_kin({"father"}, named, frozenset({"Nadia"}))


@pytest.mark.parametrize(
    ("question", "asked"),
    [
        ("What's your mum called?", {"mother"}),
        ("What's your mum's name?", {"mother"}),
        # the last of a possessive chain is whom it asks after
        ("Who is your daughter's best friend?", {"friend"}),
        ("Where does your dad's ambulance go?", {"father"}),
        ("Where do you live?", set()),
    ],
)
def test_whom_a_question_asks_after(question: str, asked: set[str]) -> None:
    assert recall.asked_relatives(question) == asked
