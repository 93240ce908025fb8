"""Metrics on hand-made transcripts: each kind of problem is detected, and a clean scene scores clean."""

from __future__ import annotations

from collections import Counter

import pytest

from stage.evals.metrics import Scorer, TurnScore, distinct, entropy_balance, summarise
from stage.evals.voice import VoiceModel
from stage.transcript import BeatChange
from stage.types import Story
from tests.evals.support import Script


def kinds(turn: TurnScore) -> set[str]:
    return {f.kind for f in turn.flags}


def test_a_clean_transcript_scores_clean(story: Story, scorer: Scorer) -> None:
    s = Script(story, "bedtime")
    s.say("Hi Lyra! Is your band green yet?")
    s.turn("lyra", "Okay okay okay, my cradle band is almost green! Sync Hour is so close.")
    s.turn("zara", "Band check first, then lights-in. Your Stars matter this week, darling.")
    s.turn("theo", "Hey, kiddo. Sorry I'm late, the ambulance radio never stops.")
    s.turn("lyra", "Dad! You made it! I'm ready to sync in.")
    card = scorer.score(s.events)
    assert all(t.clean for t in card.turns), [t.flags for t in card.turns]
    m = card.metrics
    assert m["turns"] == 4 and m["leaks"] == 0 and m["leak_rate"] == 0
    assert m["attribution_errors"] == 0 and m["break_character_rate"] == 0 and m["repetition_rate"] == 0
    assert m["turn_balance"] is not None and m["turn_balance"] > 0.9


def test_a_leaked_fact_is_detected(story: Story, scorer: Scorer) -> None:
    s = Script(story, "bedtime")
    s.turn("lyra", "Mum says the Tidewater update will make the Orchard brighter!")  # Zara's secret
    s.turn("zara", "Tidewater goes live on the twenty-seventh.")  # her own project: not a leak
    card = scorer.score(s.events)
    lyra, zara = card.turns
    assert "leak" in kinds(lyra) and "leak" not in kinds(zara)
    detail = next(f.detail for f in lyra.flags if f.kind == "leak")
    assert "'tidewater'" in detail and "project-tidewater" in detail and "zara" in detail
    assert card.metrics["leak_rate"] == 0.5 and card.per_character["lyra"]["leak_rate"] == 1.0


def test_a_future_fact_is_a_leak_until_its_beat(story: Story, scorer: Scorer) -> None:
    early = scorer.score(Script(story, "bedtime").turn("lyra", "Will there be a Common Night for us?").events)
    late = scorer.score(Script(story, "new-bedtime").turn("lyra", "Common Night won us the lamp!").events)
    assert "leak" in kinds(early.turns[0]) and "leak" not in kinds(late.turns[0])


def test_a_prompt_holding_out_of_scope_lore_is_flagged(story: Story, scorer: Scorer) -> None:
    s = Script(story, "seeking").turn("lyra", "Okay okay okay, let's go!").turn("max", "Hm.")
    prompts = {
        s.events[-2].seq: "Earlier: Max reads the red folder: children who won't wake.",
        s.events[-1].seq: "Earlier: Camille's red folder, children who won't wake.",  # Max read it: in scope
    }
    card = scorer.score(s.events, prompts)
    lyra, max_ = card.turns
    assert "prompt-leak" in kinds(lyra) and "prompt-leak" not in kinds(max_) and lyra.clean
    assert "'children who won't wake' (camille-desk-notes)" in lyra.flags[0].detail
    assert card.metrics["prompt_leak_rate"] == 0.5 and card.metrics["leak_rate"] == 0
    assert scorer.score(s.events).metrics["prompt_leak_rate"] is None  # nothing recorded, nothing measured


def test_echoing_what_was_said_in_your_presence_is_not_a_leak(story: Story, scorer: Scorer) -> None:
    s = Script(story, "bedtime")
    s.say("Lyra, what is the Great Cascade?")
    s.turn("lyra", "The Great Cascade? I don't know, is it a new dreamscape?")
    s.turn("zara", "Tidewater is nearly ready.")
    s.turn("lyra", "What's Tidewater, Mum?")  # heard from Zara a moment ago
    assert all("leak" not in kinds(t) for t in scorer.score(s.events).turns)


def test_what_was_said_while_you_were_away_is_still_unknown(story: Story, scorer: Scorer) -> None:
    s = Script(story, "bedtime").direct("remove", "lyra")
    s.turn("zara", "Tidewater is nearly ready.")
    s.direct("add", "lyra")
    s.turn("lyra", "Is Tidewater a new game?")
    assert "leak" in kinds(scorer.score(s.events).turns[-1])


def test_a_term_written_in_lore_the_speaker_may_know_is_not_a_leak(story: Story, scorer: Scorer) -> None:
    # 'the loom' is a key term of Zara's beat-9 control-room section, but the everyone-visible section on
    # Nocturne (beat 1) already names the control room: anyone may say it
    card = scorer.score(
        Script(story, "bedtime").turn("theo", "Your mum's up in the Loom again tonight.").events
    )
    assert "leak" not in kinds(card.turns[0])


def test_a_hijacked_speaker_is_detected(story: Story, scorer: Scorer) -> None:
    s = Script(story, "dream-meet")
    s.turn("lyra", "The Edge is so white! Max: I want to go dark, Lyra.")
    card = scorer.score(s.events)
    assert "hijack" in kinds(card.turns[0])
    assert "Max" in next(f.detail for f in card.turns[0].flags if f.kind == "hijack")
    assert card.metrics["attribution_errors"] == 1


def test_a_label_the_guard_lets_through_is_still_a_hijack(story: Story, scorer: Scorer) -> None:
    # seen on the embedded model: the guard cuts labels at line or sentence starts only
    s = Script(story, "dream-meet").turn("max", "...Lyra: ...").turn("lyra", "I'll tell you: Max, 20:30!")
    hijack, fine = scorer.score(s.events).turns
    assert "hijack" in kinds(hijack) and "Lyra" in hijack.flags[0].detail
    assert "hijack" not in kinds(fine)


def test_a_speaker_who_is_not_present_is_detected(story: Story, scorer: Scorer) -> None:
    s = Script(story, "bedtime").turn("max", "Hm. What if the Edge is just where they stopped drawing?")
    s.direct("remove", "theo").turn("theo", "Night, kiddo.")
    card = scorer.score(s.events)
    assert [("absent" in kinds(t)) for t in card.turns] == [True, True]
    assert "not in the scene" in card.turns[0].flags[0].detail
    assert card.metrics["attribution_errors"] == 2


def test_a_character_played_by_a_person_must_not_be_voiced_by_the_model(story: Story, scorer: Scorer) -> None:
    s = Script(story, "faults-report", humans=["camille"])
    s.say("On the record, Ms Adair?", as_character="camille")
    s.turn("zara", "The Network is monitored every second.")
    s.turn("camille", "Early draft?")
    card = scorer.score(s.events)
    assert "human" not in kinds(card.turns[0]) and "human" in kinds(card.turns[1])


def test_breaking_character_is_detected(story: Story, scorer: Scorer) -> None:
    s = Script(story, "nightmares").turn("theo", "As an AI language model, I cannot have a daughter.")
    s.turn("lyra", "It was so quiet. Nobody turned around.")
    card = scorer.score(s.events)
    assert "off-role" in kinds(card.turns[0]) and card.metrics["break_character_rate"] == 0.5


def test_reading_out_the_prompt_is_detected(story: Story, scorer: Scorer) -> None:
    # both seen on the embedded model; the labels come from the prompt templates themselves
    s = Script(story, "bedtime").turn("lyra", "You, now: Sync Hour; the End of it all.")
    s.turn("zara", "Your goal: Get to know your enemy, Lyra.").turn("theo", "Here's the thing: I'm late.")
    card = scorer.score(s.events)
    assert ["scaffold" in kinds(t) for t in card.turns] == [True, True, False]
    assert "'You, now:'" in card.turns[0].flags[0].detail and not card.turns[0].clean
    assert card.metrics["scaffold_rate"] == pytest.approx(2 / 3, abs=1e-3)


def test_repetition_is_detected(story: Story, scorer: Scorer) -> None:
    line = "I dreamed of a whale singing in the bakery oven last night"
    s = Script(story, "dream-meet")
    s.turn("max", line).turn("lyra", "Best night ever, right?").turn("max", line + ", Lyra.")
    card = scorer.score(s.events)
    assert "repetition" not in kinds(card.turns[0]) and "repetition" in kinds(card.turns[2])
    assert card.turns[2].overlap >= 0.5 and card.metrics["repetition_rate"] == pytest.approx(1 / 3, abs=1e-3)
    max_d2, lyra_d2 = card.per_character["max"]["distinct_2"], card.per_character["lyra"]["distinct_2"]
    assert max_d2 is not None and lyra_d2 is not None and max_d2 < lyra_d2


def test_distinct_and_balance_helpers() -> None:
    assert distinct(["a b c d"], 1) == 1.0 and distinct(["a a a a"], 1) == 0.25 and distinct([], 2) is None
    assert entropy_balance(Counter({"lyra": 3, "max": 3}), ["lyra", "max"]) == 1.0
    assert entropy_balance(Counter({"lyra": 6}), ["lyra", "max"]) == 0.0
    assert entropy_balance(Counter({"lyra": 6}), ["lyra"]) is None


def test_lore_grounding_reads_the_chunks_a_turn_was_given(story: Story, scorer: Scorer) -> None:
    s = Script(story, "bedtime")
    s.turn(
        "zara",
        "The cradle band reads your brainwaves and the dream lattice weaves one shared dream.",
        lore_ids=("network-how-it-works",),
    )
    s.turn("zara", "Pancakes tomorrow, extra syrup.", lore_ids=("network-how-it-works",))
    s.turn("zara", "Goodnight.")
    grounded, ungrounded, none = scorer.score(s.events).turns
    assert grounded.grounding is not None and grounded.grounding > 0.5
    assert ungrounded.grounding == 0.0 and none.grounding is None


def test_beat_stays_record_how_they_ended(story: Story, scorer: Scorer) -> None:
    s = Script(story, "bedtime")
    s.turn("lyra", "I'm ready to sync in!").turn("theo", "Goodnight, kiddo. Sweet dreams.")
    s.goto("dream-meet").turn("max", "Hm.")
    card = scorer.score(s.events)
    assert [(g.beat, g.outcome) for g in card.segments] == [("bedtime", "writer"), ("dream-meet", "open")]
    assert card.segments[0].satisfied == 2 and card.metrics["beats_visited"] == 2
    s2 = Script(story, "bedtime").turn("lyra", "I'm ready to sync in!").turn("theo", "Sweet dreams, kiddo.")
    s2._add(BeatChange(beat="dream-meet", position=2, present=("lyra", "max")))  # the director moved on
    card2 = scorer.score(s2.events)
    assert card2.segments[0].outcome == "exit" and card2.metrics["beats_completed"] == 1


def test_latency_tokens_fallback_and_regeneration(story: Story, scorer: Scorer) -> None:
    s = Script(story, "bedtime")
    for i in range(1, 11):
        s.turn(
            "lyra" if i % 2 else "zara",
            f"Line number {i} about the band.",
            latency_ms=100.0 * i,
            ttft_ms=10.0 * i,
            prompt_tokens=500 + i,
            completion_tokens=10 + i,
            regenerations=1 if i == 3 else 0,
            flags=("fallback",) if i == 5 else (),
        )
    m = scorer.score(s.events).metrics
    assert m["latency_p50_ms"] == 550.0 and m["latency_p95_ms"] == 955.0 and m["ttft_p50_ms"] == 55.0
    assert m["prompt_tokens_p50"] == 505.5 and m["completion_tokens_p95"] == 19.5
    assert m["fallback_rate"] == 0.1 and m["regeneration_rate"] == 0.1


def test_persona_identifiability_with_the_embedding_model(story: Story, voice: VoiceModel) -> None:
    s = Script(story, "reunion")
    s.turn("lyra", "Okay okay okay, three things! The Orchard, the lantern fruit, and Max. Best ever, right?")
    s.turn("camille", "On the record, or off? Walk me through the documents and the timeline, Ms Adair.")
    s.turn("max", "Hm. What if the quiet is like the sea before the tide comes in... maybe it's ours.")
    s.turn("zara", "Hi.")  # too short to judge
    card = Scorer(story, voice).score(s.events)
    judged = [t for t in card.turns if t.voice is not None]
    assert len(judged) == 3 and card.turns[3].voice is None
    assert card.metrics["identifiability"] is not None and card.metrics["identifiability"] >= 2 / 3
    assert summarise(card.turns, None).get("beats_visited") is None


def test_replies_that_answer_what_was_said_lift_relevance_above_the_shuffled_baseline(
    story: Story, voice: VoiceModel
) -> None:
    def scene(replies: list[str]) -> dict[str, float | None]:
        s = Script(story, "bedtime")
        asks = [
            "Lyra, what colour is your cradle band tonight?",
            "Theo, are you still out on the ambulance?",
            "Zara, how is the rollout at work going?",
        ]
        for ask, (speaker, reply) in zip(asks, zip(("lyra", "theo", "zara"), replies, strict=True), strict=True):
            s.say(ask)
            s.turn(speaker, reply)
        return Scorer(story, voice).score(s.events).metrics

    answered = scene(
        [
            "My band is glowing green, I'm almost ready!",
            "Still on the ambulance, kiddo, one more call.",
            "The rollout is going well, busy day at work.",
        ]
    )
    crossed = scene(  # each reply answers another question
        [
            "Still on the ambulance, one more call.",
            "The rollout is going well, busy day at work.",
            "My band is glowing green, almost ready!",
        ]
    )
    assert answered["relevance_lift"] is not None and crossed["relevance_lift"] is not None
    assert answered["relevance_lift"] > 0 > crossed["relevance_lift"]
    assert answered["relevance"] is not None and crossed["relevance"] is not None
    assert answered["relevance"] > crossed["relevance"]


def test_a_turn_after_its_own_speaker_answers_nobody(story: Story, voice: VoiceModel) -> None:
    s = Script(story, "bedtime")
    s.turn("lyra", "Okay okay okay, my band is almost green!")
    s.turn("zara", "Band check first, then lights-in.")
    card = Scorer(story, voice).score(s.events)
    assert card.turns[0].answering == "" and card.turns[0].relevance is None
    assert card.turns[1].answering.startswith("Okay okay okay")
