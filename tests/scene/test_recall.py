"""Recall ranks a character's facts against a question by meaning, words, the answer's shape and whose it is;
a question a fact answers gets that fact among the turn's candidates, said in the character's own words.

Real MiniLM, the shipped story; structure (which fact, which candidate, which flag), never a model's words.
"""

from __future__ import annotations

import re

import pytest

from stage.agents import recall
from stage.agents.facts import SPOKEN_WORDS, about_self, fact_sheet, first_person, recallable, spoken
from stage.agents.recall import asks_for, default_embedder, features, is_wh_question, kin_of, trim
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
    ranked = features(
        question, recallable(p, names, story.plot.setting), embed, ignore=(p.name,), kin=kin_of(sheet)
    ).rank()
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
        "Camille, and read your grandmother's paper book of night stories by torchlight before Sync Hour, and "
        "you keep it under your pillow, wrapped in a tea towel, so nobody finds it."
    )
    assert spoken('Z: rollout Sat 27th." Lyra has been top Star-earner.') == "Lyra has been top Star-earner."
    line = spoken(long)
    assert (
        len(line.split()) <= SPOKEN_WORDS and line.endswith(".") and line.startswith("I live above my mother's bakery")
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
        # "family" ends in -ly and is no adverb; "completely" is
        ("Mum fears losing her family.", "Mum fears losing my family."),
        ("Max trusts her completely.", "Max trusts me completely."),
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
        ("You call him Maxou when you tease him.", "I call him Maxou when I tease him."),
        # a sheet line must not read as a speaker's label
        ("Camille: the journalist who wrote about Nocturne.", "Camille is the journalist who wrote about Nocturne."),
        # quoted words are someone's words or a title: kept as they are
        (
            "Camille: the journalist who wrote 'Who Paid for Your Child's Dream?' last spring.",
            "Camille is the journalist who wrote 'Who Paid for Your Child's Dream?' last spring.",
        ),
        ('Mum told you "Your band gets an update" and you believed her.', 'Mum told me "Your band gets an update" and I believed her.'),
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
    mum = recall.question_subject("What's your mum called?")
    assert recall._subject_match(mum, named, kin) == 1.0
    assert recall._subject_match(mum, long_one, kin) == -1.0
    assert recall._subject_match(mum, "Nadia gets up at three.", kin, frozenset({"Nadia"})) == 1.0  # by her name
    # "you" is asked after: the speaker's own facts, not their grandmother's
    gran = "Their grandmother, Josephine, lives in a care home."
    you = recall.question_subject("Where do you live?")
    assert recall._subject_match(you, "You moved back into the flat.", kin) == 1.0
    assert recall._subject_match(you, gran, kin) == -1.0
    # a named person is asked after, and a fact that opens with nobody in particular says nothing either way
    max_ = recall.question_subject("What time does Max sync in?")
    assert recall._subject_match(max_, "Max syncs in at 20:30.", kin) == 1.0
    people = frozenset({"Max", "Camille", "Nadia"})
    assert recall._subject_match(you, "Sync Hour is 20:30.", kin, people) == 0.0
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
        # a relative named after "you" is an object: the question is about the speaker
        ("What do you want your mum and dad to feel about you?", set()),
    ],
)
def test_whom_a_question_asks_after(question: str, asked: set[str]) -> None:
    assert recall.asked_relatives(question) == asked


@pytest.mark.parametrize(
    ("question", "subject"),
    [
        ("Where do you live?", ("self", "")),
        ("Which school are you at?", ("self", "")),
        ("What's your mum called?", ("kin", "mother")),
        ("What does your mum do for work?", ("kin", "mother")),
        ("Who's your brother's best friend?", ("kin", "friend")),
        ("What time does Max sync in?", ("name", "Max")),
        ("Who is Zara to you?", ("name", "Zara")),
        # the subject comes after the auxiliary: Lyra is what the speaker wants something for
        ("What do you want for Lyra?", ("self", "")),
        # the wh-word is the subject, or a thing of yours is: nothing to say about whom
        ("Who once let you press the siren button?", ("", "")),
        ("What's your favourite dreamscape?", ("", "")),
        ("What kind of paper is the Ledger?", ("", "")),
    ],
)
def test_whom_a_question_is_about(question: str, subject: tuple[str, str]) -> None:
    assert recall.question_subject(question) == subject


@pytest.mark.parametrize(
    ("question", "noun", "answers", "does_not"),
    [
        ("Which floor is your flat on?", "floor", "You live on the 41st floor.", "Mum and Dad are lonely in the same flat."),
        ("Which cluster do you sync in?", "cluster", "You sync in cluster 12-Heron.", "Every cluster syncs at 20:30."),
        ("Which unit does your dad work on?", "unit", "Dad is crew lead on unit 9-Bravo.", "Dad works long shifts."),
        ("What station is he at?", "station", "He works at Station 9.", "The station is busy."),
    ],
)
def test_a_which_question_wants_a_named_one(question: str, noun: str, answers: str, does_not: str) -> None:
    assert recall.head_noun(question) == noun
    assert recall._names_a(noun, answers) and not recall._names_a(noun, does_not)


@pytest.mark.parametrize("question", ["What year is it?", "What kind of paper is the Ledger?", "What do you do?"])
def test_a_question_without_a_head_noun(question: str) -> None:
    assert recall.head_noun(question) == ""


def test_a_word_many_facts_share_counts_less_than_a_rare_one(embed) -> None:  # type: ignore[no-untyped-def]
    # "night" is in every fact but one; "siren" only in the answer: the rare word decides
    facts = [
        "Every night you read by torchlight.",
        "At night the trams run empty.",
        "Night shifts are long.",
        "Theo let you press the siren button one night.",
    ]
    feats = recall.features("Who let you press the siren one night?", facts, embed)
    words = {f: v[1] for f, v in zip(feats.facts, feats.values, strict=True)}
    assert words[facts[3]] > 0.8 > 0.4 > max(words[f] for f in facts[:3])


def test_a_fact_with_the_answer_counts_even_when_its_meaning_scores_low(story, embed) -> None:  # type: ignore[no-untyped-def]
    # MiniLM puts "Where do you live?" far from "You live on the 41st floor ...": the shape and the subject
    # carry it past the gate, which is on the whole score
    theo = story.personas["theo"]
    facts = ["You live on the 41st floor of the Halden Spire in the Upper Ring.", "Lyra is ten."]
    ranked = recall.features("Where do you live?", facts, embed, ignore=("Theo",)).rank()
    assert ranked[0].fact == facts[0] and ranked[0].score >= recall.MIN_SCORE
    assert recall.relevant("Where do you live?", facts, embed, ignore=(theo.name,)) == [facts[0]]


@pytest.mark.parametrize(
    ("second", "agreed"),
    [
        (
            "You are twenty-four, writes the column for the Ledger, and carries three paper notebooks.",
            "You are twenty-four, write the column for the Ledger, and carry three paper notebooks.",
        ),
        ("You write the column and keeps her notes on paper.", "You write the column and keep her notes on paper."),
        ("You have been a paramedic and is now crew lead.", "You have been a paramedic and are now crew lead."),
        ("You love him and hardly sees him.", "You love him and hardly see him."),
        ("You don't understand it and half-distrusts it.", "You don't understand it and half-distrust it."),
        # plural nouns are not verbs: a noun is followed by a preposition, a verb by its object
        ("You love apples and pears from the orchard.", "You love apples and pears from the orchard."),
        ("You love cats and dogs at home.", "You love cats and dogs at home."),
        # only a sentence whose subject is "you" agrees with it
        ("Max reads and writes the notes.", "Max reads and writes the notes."),
    ],
)
def test_verbs_joined_to_you_agree_with_it(second: str, agreed: str) -> None:
    from stage.agents.facts import agree

    assert agree(second) == agreed


def test_her_before_a_plural_after_a_verb_is_a_possessive() -> None:
    from stage.agents.facts import SHE, yours

    assert yours("Mum keeps her notes on paper and let her go.", SHE) == "Mum keeps your notes on paper and let you go."


def test_what_time_asks_for_the_clock() -> None:
    clock = asks_for("What time does your mum get up?")
    assert clock is not None
    assert clock.search("Sync Hour is 20:30 on school nights.")
    assert not clock.search("You settle Max at Sync Hour most nights.")  # a time word, not a time
    when = asks_for("When did you move back home?")
    assert when is not None and when.search("You moved back home last spring.")


@pytest.mark.parametrize(
    ("question", "fact", "said"),
    [
        (
            "Which floor is your flat on?",
            "You live on the 41st floor of the Halden Spire with a mother who optimises the Dream Network.",
            "You live on the 41st floor of the Halden Spire.",
        ),
        (
            "How long have you been a paramedic?",
            "You have been a paramedic for nineteen years, working fourteen-hour shifts.",
            "You have been a paramedic for nineteen years.",
        ),
        (
            "What time is Lyra's Sync Hour?",
            "Lyra's Sync Hour is 20:30, and you call from the ambulance when you can.",
            "Lyra's Sync Hour is 20:30.",
        ),
    ],
)
def test_a_recalled_answer_stops_after_the_part_that_answers(embed, question: str, fact: str, said: str) -> None:  # type: ignore[no-untyped-def]
    assert trim(fact, question, embed) == said


@pytest.mark.parametrize(
    ("question", "fact"),
    [
        # the name asked for comes last: cutting before it would drop the answer
        (
            "What's the control room at work called?",
            "The control room on the 60th floor, where engineers watch the city's dreaming, is called the Loom.",
        ),
        # "with me" completes the verb; "apple and lemon trees" is one thing
        ("What do you want most?", "You want to get Mum and Dad to really be with you."),
        ("What colour does the ring go?", "The band's ring glows amber while syncing and green once the child is in."),
        # never inside a quotation
        ("Who is Camille?", 'Camille: the journalist who wrote "Who Paid, Really, for Your Dream?" last spring.'),
    ],
)
def test_a_recalled_answer_is_never_cut_before_its_answer(embed, question: str, fact: str) -> None:  # type: ignore[no-untyped-def]
    assert trim(fact, question, embed) == fact
