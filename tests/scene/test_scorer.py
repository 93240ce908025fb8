"""The fact sheet, recall and the best-of-n scorer's detectors, on lines that must pass and lines that must fail.

Structure and classes of failure, never a small model's exact words: the lines below are the kinds the
embedded model produced (from the issue and the eval transcripts) and in-story lines that look close to them.
"""

from __future__ import annotations

import re

import pytest

from stage.agents.agent import speak
from stage.agents.context import build_messages
from stage.agents.facts import fact_sheet, recallable, second_person
from stage.agents.recall import default_embedder, relevant
from stage.agents.scorer import Scorer, Situation, best, invented_names, relations_of, role_confusion
from stage.llm.base import GenParams, Retry
from stage.llm.scripted import ScriptedModel
from stage.scene import Wrote, events_of
from stage.transcript import Turn
from tests.scene.helpers import scene


@pytest.fixture(scope="module")
def scorer(story):  # type: ignore[no-untyped-def]
    return Scorer(story, default_embedder())


def names(story):  # type: ignore[no-untyped-def]
    return {c: p.name for c, p in story.personas.items()}


def test_lyras_prompt_at_beat_one_names_max_as_her_best_friend(story) -> None:  # type: ignore[no-untyped-def]
    sc, model = scene(story)
    sc.direct("force", "lyra")
    events_of(sc.step())
    system = model.calls[-1][0].content
    assert "Max" not in story.plot.beat(1).present  # not on stage, and still she knows him
    assert re.search(r"^Max: your best friend\b", system, flags=re.M)
    assert re.search(r"^Zara: your (mum|mother)\b", system, flags=re.M)
    assert re.search(r"^You are Lyra Adair, 10 years old\.$", system, flags=re.M)
    assert "2085" in system  # the story's setting: every character knows the year


def test_every_character_sheet_covers_everyone_else(story) -> None:  # type: ignore[no-untyped-def]
    for cid, p in story.personas.items():
        sheet = fact_sheet(p, names(story), story.plot.setting)
        for other, name in names(story).items():
            if other != cid:
                assert any(line.startswith(f"{name}: ") for line in sheet), (cid, other)
        assert not any(re.search(r"\b(she|he|her|his)\s+(is|has|lives)\b", line) for line in sheet[:3]), sheet


@pytest.mark.parametrize(
    ("who", "sentence", "expected"),
    [
        ("max", "He lives above his mother's bakery on Cask Street.", "You live above your mother's bakery on Cask Street."),
        ("theo", "Theo Adair has been a paramedic for nineteen years and is now crew lead.", "You have been a paramedic for nineteen years and are now crew lead."),
        ("camille", "She doesn't trust the cloud.", "You don't trust the cloud."),
        ("lyra", "Max lives above his mum's bakery on Cask Street.", "Max lives above his mum's bakery on Cask Street."),
    ],
)
def test_second_person_rewrites_only_the_character_itself(story, who: str, sentence: str, expected: str) -> None:  # type: ignore[no-untyped-def]
    assert second_person(sentence, story.personas[who]) == expected


def test_recall_puts_the_fact_that_answers_next_to_the_question(story) -> None:  # type: ignore[no-untyped-def]
    zara = story.personas["zara"]
    facts = recallable(zara, names(story), story.plot.setting)
    got = relevant("Zara, what's your daughter's name?", facts, default_embedder(), k=1, ignore=("Zara",))
    assert got and got[0].startswith("Lyra: your daughter")
    theo = story.personas["theo"]
    work = relevant("Where do you work, Theo?", recallable(theo, names(story)), default_embedder(), ignore=("Theo",))
    assert work and re.search(r"9-Bravo|Station 9|paramedic", work[0])
    assert relevant("", facts, default_embedder()) == []


@pytest.mark.parametrize(
    ("speaker", "line", "reason"),
    [
        ("lyra", "You are Zara, a 50 year old, and your mother says this to you.", "role:you-are-a-character"),
        ("max", "I'm Camille, and I write for the Ledger.", "role:speaks-as-another"),
        ("zara", "Your daughter's name is Lyra.", "role:own-relation-as-yours"),
        ("lyra", "Your best friend is Max, silly!", "role:own-relation-as-yours"),
    ],
)
def test_role_confusion_is_detected(story, speaker: str, line: str, reason: str) -> None:  # type: ignore[no-untyped-def]
    rel = relations_of(fact_sheet(story.personas[speaker], names(story)))
    assert role_confusion(line, speaker, names(story), rel) == reason


@pytest.mark.parametrize(
    ("speaker", "line"),
    [
        ("max", "I'm Max, and Lyra is my best friend."),
        ("lyra", "My best friend is Max. Right?"),
        ("zara", "Lyra is my daughter. She is ten."),
        ("lyra", "I'm your daughter, Mum! Your favourite!"),
        ("theo", "I was trained to run into fires."),
        ("camille", "Max's best friend? That's Lyra."),
    ],
)
def test_lines_in_character_pass(story, speaker: str, line: str) -> None:  # type: ignore[no-untyped-def]
    rel = relations_of(fact_sheet(story.personas[speaker], names(story)))
    assert role_confusion(line, speaker, names(story), rel) == ""


def test_assistant_speak_by_meaning_not_by_pattern(scorer) -> None:  # type: ignore[no-untyped-def]
    assistant = [
        "i'm ready to assist. what is your query?",  # the line: in no pattern and not in the bank
        "Let me know if you need anything else.",
        "Thank you for asking! Here is what I know.",
    ]
    story_lines = [
        "I was trained to run into fires.",
        "Can I help you with that bag, kiddo?",
        "Do you need help, Lyra?",
        "On the record? Tell me what you saw.",
        "I'm an engineer. I help the Network run.",
    ]
    assert scorer.assistant_like(assistant) == [True] * len(assistant)
    assert scorer.assistant_like(story_lines) == [False] * len(story_lines)


def test_a_line_that_reviews_the_story_from_outside_it_is_rejected(scorer) -> None:  # type: ignore[no-untyped-def]
    critic = [
        # lines the embedded model wrote in a bedtime scene; none of them is in the bank
        "This is a big part of the story. It's funny, but it adds to the mood of the moment.",
        "A story that is both funny and dramatic, with a mix of humor and drama.",
        "The characters in this scene are very well written.",
    ]
    in_character = [
        "I'll read you a story from Mamie Jo's book: the Owl and the Baker.",
        "My story about Nocturne goes out on Friday.",  # a journalist's story
        "Mamie Jo's book holds twenty-two old stories.",
        "Every story needs a good ending, Max.",
        "I don't want to be in a story, I want to be home.",
    ]
    situation = Situation(speaker="theo", answering="", facts=())
    for line in critic:
        assert [c.reject for c in scorer.score([line, "Goodnight, kiddo."], situation)] == ["critic", ""], line
    for line in in_character:
        assert scorer.score([line, "Goodnight, kiddo."], situation)[0].reject == "", line


def test_invented_names_are_the_capitalised_words_nobody_wrote(scorer) -> None:  # type: ignore[no-untyped-def]
    assert invented_names("My best friend is a girl named Sarah, and Elara too.", scorer.known) == ["Sarah", "Elara"]
    assert invented_names("Okay okay okay! Max and I race to the Sky Orchard in Corvale.", scorer.known) == []


def test_the_candidate_that_answers_beats_one_that_recites(story, scorer) -> None:  # type: ignore[no-untyped-def]
    sheet = fact_sheet(story.personas["lyra"], names(story), story.plot.setting)
    situation = Situation("lyra", "Lyra, who is your best friend?", tuple(sheet), relations_of(sheet))
    answers = "Max! Max is my best friend, since the first day of school."
    recites = "I live on the 41st floor of the Halden Spire, it is 2085, and Zara is my mum."
    invents = "My best friend is Sarah Moonwhisper."
    scored = scorer.score([recites, invents, answers], situation)
    winner = best(scored)
    assert winner is not None and winner.text == answers, [c.as_record() for c in scored]
    assert next(c for c in scored if c.text == invents).parts["invented"] >= 1


def test_reading_ones_own_sheet_back_to_the_listener_is_role_confusion(story, scorer) -> None:  # type: ignore[no-untyped-def]
    names = {c: p.name for c, p in story.personas.items()}
    sheet = tuple(fact_sheet(story.personas["max"], names, story.plot.setting))
    situation = Situation("max", "Lyra, what's a dreamscape?", sheet)
    recited = "Lena, you are a noticer: you see the ants on the pavement and the seams at the edge of a dreamscape."
    fine = "It's a dream we all share. You see it too, don't you?"
    scored = scorer.score([recited, fine], situation)
    assert scored[0].reject == "role:own-facts-as-yours" and not scored[1].reject
    # said as his own ("I see ants on the pavement"), the same facts are his to say
    assert not scorer.score(["I see ants on the pavement and the seams at the edge of a dreamscape."], situation)[0].reject


def test_a_rejected_candidate_says_why_and_never_wins(story, scorer) -> None:  # type: ignore[no-untyped-def]
    situation = Situation("lyra", "Who are you?", ("You are Lyra Adair, 10 years old.",))
    scored = scorer.score(["You are Zara, a 50 year old.", "I'm Lyra! Ten and a bit!"], situation, ["", ""])
    assert scored[0].reject == "role:you-are-a-character" and not scored[1].reject
    assert best(scored) is scored[1]
    assert best(scorer.score(["You are Zara."], situation)) is None


def test_best_of_n_records_every_candidate_and_why_the_winner_won(story) -> None:  # type: ignore[no-untyped-def]
    sc, model = scene(story)
    sc.params = GenParams(max_tokens=40, temperature=0.7, candidates=3, seed=5)
    model.enqueue(
        "You are Zara, a 50 year old.",  # role confusion: rejected
        "I live on the 41st floor and it is 2085 and Theo is my dad.",
        "Max! He's my best friend, since the first day of school.",
    )
    sc.say("Lyra, who is your best friend?", name="Sam")
    progress = list(sc.step())
    retries = [p for p in progress if isinstance(p, Retry)]
    assert len(retries) == 2  # the page drops one candidate's text before the next streams
    turn = next(p.event for p in progress if isinstance(p, Wrote) and isinstance(p.event, Turn))
    # three sampled, and what Lyra knows that answers it (said in her words) offered beside them
    assert len(model.calls) == 3 and [c["source"] for c in turn.candidates] == ["model"] * 3 + ["recalled"]
    assert turn.candidates[0]["reject"] == "role:you-are-a-character"
    assert turn.text == turn.candidates[turn.chosen]["text"] and not turn.candidates[turn.chosen]["reject"]
    assert "Max" in turn.text and turn.chosen in (2, 3), turn.candidates
    assert {"answers", "grounded", "voice", "invented"} <= set(turn.candidates[turn.chosen]["parts"])


def test_one_candidate_is_still_checked_by_the_detectors(story) -> None:  # type: ignore[no-untyped-def]
    sc, model = scene(story)
    model.enqueue("You are Zara, a 50 year old.", "Okay okay okay, Max is coming too!")
    sc.direct("force", "lyra")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert turn.text.startswith("Okay okay okay") and "rejected:role:you-are-a-character" in turn.flags
    assert [c["reject"] for c in turn.candidates] == ["role:you-are-a-character", ""] and turn.chosen == 1


def test_speak_takes_the_model_the_context_and_the_params(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story)
    ctx = sc._context("lyra")
    assert build_messages(ctx)[0].role == "system"
    reply = list(speak(ScriptedModel(["Hi!"]), ctx, GenParams(), rng=sc.rng))[-1]
    assert reply.turn.speaker == "lyra"  # type: ignore[union-attr]


def test_a_refused_candidate_leaves_no_words_in_the_transcript(story, tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "scene.jsonl"
    sc, model = scene(story, path=path)
    model.enqueue("Well the gore was everywhere.", "Okay okay okay, sync time!")
    sc.direct("force", "lyra")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert turn.candidates[0]["reject"].startswith("unsafe") and turn.candidates[0]["text"] == ""
    assert "gore" not in path.read_text(encoding="utf-8")


def test_turning_to_someone_else_when_a_visitor_asked_costs_points(story, scorer) -> None:  # type: ignore[no-untyped-def]
    from stage.agents.scorer import misaddressed

    hint = ("Max is my best friend since the first day of Brightwater Primary.",)
    asked = Situation("lyra", "Lyra, who is your best friend?", hint, hints=hint)
    assert misaddressed("Zara, I'm glad you're here.", asked, names(story)) == "zara"
    assert misaddressed("Max, of course! Max.", asked, names(story)) == ""  # the recalled answer, not a call
    assert misaddressed("Max! Obviously Max.", asked, names(story)) == ""
    assert misaddressed("Okay okay okay, it's Max!", asked, names(story)) == ""
    by_zara = Situation("lyra", "Lyra, teeth?", (), asker="zara")
    assert misaddressed("Zara, I already did!", by_zara, names(story)) == ""  # answering the one who asked
    scored = scorer.score(["Zara, I'm glad you're here.", "I'm glad you're here!"], asked)
    assert scored[0].parts["misaddressed"] == 1.0 and scored[1].parts["misaddressed"] == 0.0


@pytest.mark.parametrize(
    ("line", "prose"),
    [
        ("Later that night, when Max was in the kitchen, he noticed something on the table.", True),
        ("When Camille walked into the kitchen, and was immediately drawn to the folder.", True),
        ("She smiled, and looked at the lantern fruit.", True),
        ("I had the nightmare again, Dad.", False),  # the past tense in someone's own words is speech
        ("Max was my best friend before anyone else was.", False),
        ("The Amber Report was leaked on Monday.", False),  # a fact, said
        ("Did Max say he was coming?", False),  # a question is asked of someone
        ("Theo works fourteen-hour shifts.", False),
    ],
)
def test_story_prose_is_told_from_speech(story, line: str, prose: bool) -> None:  # type: ignore[no-untyped-def]
    from stage.agents.scorer import narrates

    assert narrates(line, names(story)) is prose


def test_of_two_lines_the_one_said_to_someone_beats_the_one_that_writes_the_story(story, scorer) -> None:  # type: ignore[no-untyped-def]
    asked = Situation("camille", "What are you doing up so late?", ())
    told, said = scorer.score(
        ["Later that night, Max was up late in the kitchen and read the folder.", "You should be asleep, little brother."],
        asked,
    )
    assert told.parts["narrates"] == 1.0 and said.parts["narrates"] == 0.0
    assert best([told, said]) is said
