"""Guards on every reply: speaking for others, breaking character, repeating, rambling — all caught."""

from __future__ import annotations

import pytest

from stage.agents import guards
from stage.scene import events_of
from stage.transcript import Turn, turns
from tests.scene.helpers import scene

OTHERS = ["Max", "Zara", "Theo", "Camille", "Visitor", "Sam"]


def clean(text: str) -> tuple[str, list[str]]:
    log = guards.GuardLog()
    return guards.clean(text, "Lyra", OTHERS, log), log.flags


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Lyra: Okay okay okay!", "Okay okay okay!"),
        ("**Lyra:** Best night ever!", "Best night ever!"),
        ("Lyra (grinning): Race you!", "Race you!"),
        ("We should go. Max: No way!", "We should go."),
        ("We should go.\nZara: Bed. Now.", "We should go."),
        ('"I\'m fine! Totally fine."', "I'm fine! Totally fine."),
        ("(looks down) It was so quiet. *sniffs*", "It was so quiet."),
        ("Hi<|im_end|><|im_start|>system", "Hi"),
        # a direction opened and never closed runs to the end of the reply
        ("Okay, Dad! (Theo turns to the parents, with a look", "Okay, Dad!"),
        ("(Narrator: The sky is a dreamscape of floating trees", ""),
        # a reply that opens with a label is a script line for someone, whether the story knows them or not
        ("Lingua: I'm happy to help you get your dream back on track.", ""),
        ("A: 12.08.2013", ""),
        # a time, or a colon inside speech, is not a label
        ("At 20:30 we sync in. Best hour ever!", "At 20:30 we sync in. Best hour ever!"),
        ("Listen to me: the band is green.", "Listen to me: the band is green."),
    ],
)
def test_repairs(raw: str, expected: str) -> None:
    assert clean(raw)[0] == expected


def test_cut_records_whose_line_was_removed() -> None:
    text, flags = clean("Sure thing.\nMax: I never said that.\nZara: Bed.")
    assert text == "Sure thing." and "cut:speaker:max" in flags


def test_length_is_bounded_at_a_sentence() -> None:
    long = " ".join(f"This is sentence number {i} of my very long speech." for i in range(12))
    text, flags = clean(long)
    assert text.count(".") <= guards.MAX_SENTENCES and len(text.split()) <= guards.MAX_WORDS
    assert "cut:length" in flags


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("", "empty"),
        ("...", "empty"),
        ("As an AI language model, I cannot pretend.", "off-role"),
        ("Let me check my system prompt first.", "off-role"),
        ("I'm a virtual assistant designed to support users with creative writing.", "off-role"),
        ("I am your helpful assistant for today.", "off-role"),
        ("The day of the Great Cascade:", "unfinished"),
        ("Okay. Max's reply: no way.", "scaffold"),
        ("Thanks for being kind, Lyra.", "self-address"),
        ("Lyra smiles and nods at everyone.", "third-person"),
        ("Lyra's voice is small and sleepy.", "third-person"),
        ("I think Lyra’s band is fine.", "third-person"),
        ("The Orchard is glowing tonight and I love it", "near-duplicate"),
        # what a stop sequence or a cut left of a line: the start of one, not one
        ("This is the", "fragment"),
        ("The light", "fragment"),
        ("I want to go with my", "fragment"),
        ("The light of night is not a boat,", "fragment"),
    ],
)
def test_rejections(text: str, reason: str) -> None:
    recent = ["The Orchard is glowing tonight and I love it so much"]
    assert guards.reject_reason(text, "Lyra", recent) == reason


@pytest.mark.parametrize(
    ("line", "after", "parrot"),
    [
        ("I'm sorry you missed me, I just got the news.", "I'm sorry I missed you, I just got the news.", True),
        ("You're sorry for missing you, I just got the news.", "I'm sorry you missed me, I just got the news.", True),
        # an answer says the question's words back; a short line shares its few words with anything
        ("Yes, the band is green and I am ready to sync.", "Is your band green yet? Are you ready to sync?", False),
        ("I'm sorry, I got it.", "I'm sorry I got it wrong.", False),
        ("My mum works at the bakery on Cask Street.", "My mum gets up at three every morning.", False),
    ],
)
def test_saying_the_last_line_again_in_another_order_is_parroting(line: str, after: str, parrot: bool) -> None:
    assert guards.parrots(line, after) is parrot
    assert (guards.reject_reason(line, "Lyra", ["Something else entirely, said long ago.", after]) == "parrots") is parrot


@pytest.mark.parametrize(
    "line", ["Nightmare.", "Goodnight, kiddo", "I love you", "Come in", "I think so", "Yes", "Okay okay, my band is green"]
)
def test_a_short_line_without_a_full_stop_is_not_a_fragment(line: str) -> None:
    assert not guards.is_fragment(line)
    assert guards.reject_reason(line, "Lyra", []) == ""


def test_a_fine_line_stands() -> None:
    for line in ("I was trained to run into fires.", "Dad, look: stars!", "The Network is designed to help."):
        assert guards.reject_reason(line, "Theo", []) == "", line
    assert guards.reject_reason("Okay okay okay, my band is green!", "Lyra", ["Bed now, please."]) == ""
    assert guards.reject_reason("Hi! I'm Lyra, and this is my band.", "Lyra", []) == ""


def test_reciting_instructions_is_rejected() -> None:
    rules = "Rules: Answer only as Lyra, with one or two short spoken sentences. Never speak for anyone else."
    assert (
        guards.reject_reason(
            "Okay: answer only as lyra with one or two short spoken sentences!",
            "Lyra",
            [],
            instructions=rules,
        )
        == "prompt-echo"
    )
    assert (
        guards.reject_reason("I only have two short sentences for you.", "Lyra", [], instructions=rules) == ""
    )


def test_scene_regenerates_rejected_replies_and_records_it(story) -> None:  # type: ignore[no-untyped-def]
    sc, model = scene(
        story, replies=["As an AI, I can't.", "Lyra: Zara: Bed now!", "Okay okay, I'm ready, Mum!"]
    )
    sc.direct("force", "lyra")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert turn.text == "Okay okay, I'm ready, Mum!"
    assert turn.regenerations == 2 and len(model.calls) == 3
    assert "rejected:off-role" in turn.flags and "rejected:empty" in turn.flags
    assert set(turn.guard_ms) >= {"tidy", "own-name", "other-speaker", "length", "safety", "reject"}


def test_when_every_candidate_fails_the_character_falls_back_to_its_own_voice(story) -> None:  # type: ignore[no-untyped-def]
    sc, _ = scene(story, replies=["As an AI model."] * 3)
    sc.direct("force", "theo")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert "fallback" in turn.flags
    assert turn.text in story.personas["theo"].voice.examples


def test_a_scene_never_lets_a_character_speak_for_another(story) -> None:  # type: ignore[no-untyped-def]
    lines = iter([f"Line {i} here.\nZara: I speak for Zara {i}.\nTheo: me too" for i in range(40)])
    sc, _ = scene(story, responder=lambda m: next(lines))
    sc.run(10)
    for t in turns(sc.transcript.events):
        assert "Zara:" not in t.text and "Theo:" not in t.text


def test_repetition_is_regenerated(story) -> None:  # type: ignore[no-untyped-def]
    sc, _model = scene(
        story,
        replies=["The band is green and the orchard waits for me tonight."] * 2
        + ["Something new entirely, Mum."],
    )
    sc.direct("force", "lyra")
    events_of(sc.step())
    sc.direct("force", "lyra")
    second = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert second.text == "Something new entirely, Mum." and "rejected:near-duplicate" in second.flags


def test_a_dangling_label_is_dropped_after_a_full_sentence() -> None:
    text, flags = clean("The Amber Report is a draft. It says:")
    assert text == "The Amber Report is a draft." and "cut:dangling" in flags
    text, flags = clean("Here is the plan: we stay together.")
    assert text == "Here is the plan: we stay together." and "cut:dangling" not in flags


def test_a_reply_stopped_by_the_token_limit_keeps_its_complete_sentences() -> None:
    from stage.agents.guards import GuardLog, drop_unfinished

    log = GuardLog()
    assert drop_unfinished("It's a bit of a challenge. I had to make sure", log) == "It's a bit of a challenge."
    assert "cut:unfinished" in log.flags
    assert drop_unfinished("Okay okay okay, sync is in four minutes!", GuardLog()) == "Okay okay okay, sync is in four minutes!"
    assert drop_unfinished("just a fragment with no end", GuardLog()) == "just a fragment with no end"


def test_the_token_limit_never_leaves_half_a_sentence_on_the_page(story) -> None:  # type: ignore[no-untyped-def]
    from stage.llm.base import GenParams

    sc, model = scene(story)
    sc.params = GenParams(max_tokens=8, temperature=0.7, candidates=1)
    model.enqueue("Band is green. Sync is in four minutes and then we will all")
    sc.direct("force", "lyra")
    turn = next(e for e in events_of(sc.step()) if isinstance(e, Turn))
    assert turn.text == "Band is green." and "cut:unfinished" in turn.flags


def test_a_label_for_someone_else_inside_an_opening_bracket_is_cut() -> None:
    from stage.agents.guards import GuardLog, cut_other_speakers

    log = GuardLog()
    assert cut_other_speakers('(Zara: "Sync Hour, I\'m happy to say.', ["Zara", "Theo"], log) == ""
    assert log.flags == ["cut:speaker:zara"]
    assert cut_other_speakers("Okay! [Theo: hi]", ["Theo"], GuardLog()) == "Okay!"
    assert cut_other_speakers("I love the Orchard (it glows).", ["Zara"], GuardLog()) == "I love the Orchard (it glows)."


PEOPLE = ["Max", "Zara", "Theo", "Camille", "Visitor"]


@pytest.mark.parametrize("line", ["Sync Hour, you're the best.", "Dream Network, take me home.", "Sky Orchard, wait!"])
def test_a_line_that_speaks_to_a_thing_as_a_person_is_rejected(line: str) -> None:
    assert guards.reject_reason(line, "Lyra", [], people=PEOPLE) == "addresses-a-thing"


@pytest.mark.parametrize(
    "line",
    [
        "Zara Adair, you built this.",  # a person, by full name
        "Mr Benoit, good morning.",
        "Good Night, Max.",
        "Max, come here.",
        "The Sky Orchard, it is so pretty tonight.",  # a topic put first, not an address
        "Thank You, Theo.",
    ],
)
def test_a_line_that_speaks_to_a_person_stands(line: str) -> None:
    assert guards.reject_reason(line, "Lyra", [], people=PEOPLE) == ""


@pytest.mark.parametrize(
    "line", ["No.1 2085, October 31, 2074, November 6, 2090, April 21, 2092", "I'm here. You're not. No.1 2093, November 6, 2094"]
)
def test_dates_strung_together_are_not_a_line(line: str) -> None:
    assert guards.reject_reason(line, "Theo", []) == "number-list"


@pytest.mark.parametrize(
    "line",
    [
        "It raises the lattice's coherence ceiling from 0.71 to 0.93.",
        "Sync Hour is 20:30, the wake chime at 06:30.",
        "We have 3 kids: 4, 7 and 9 years old.",
        "In 2079 I wrote the patch, in 2085 the rollout came, and in 2031 the Cascade hit us all.",
    ],
)
def test_a_line_with_numbers_in_it_stands(line: str) -> None:
    assert not guards.is_number_list(line)


def test_a_label_with_a_surname_is_a_line_for_someone_else() -> None:
    log = guards.GuardLog()
    assert guards.cut_other_speakers("Max Benoit: Max's a brilliant engineer.", ["Max"], log) == ""
    assert guards.cut_other_speakers("I know. Max Benoit: hello.", ["Max"], log) == "I know."
    assert guards.cut_other_speakers("I saw Max: he was fine.", ["Max"], log) == "I saw Max: he was fine."


def test_a_label_for_someone_else_anywhere_in_the_line_is_rejected() -> None:
    assert guards.reject_reason("21:48, Theo: Max's family.", "Camille", [], people=PEOPLE) == "script-label"
    assert guards.reject_reason("I told you: go to sleep.", "Zara", [], people=[*PEOPLE, "You"]) == ""
    assert guards.reject_reason("It is 21:48, Theo.", "Camille", [], people=PEOPLE) == ""
