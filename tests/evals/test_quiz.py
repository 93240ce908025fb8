"""The knowledge quiz: its file, its judge, a run through the real stage on the scripted backend, the report."""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from pathlib import Path

import pytest

from stage.agents.retrieval import KeywordRetriever
from stage.errors import DataError
from stage.evals import quiz
from stage.llm.base import GenParams
from stage.llm.scripted import ScriptedModel
from stage.types import Message, Story
from tests.evals.test_cli import stage_eval


def test_the_shipped_quiz_covers_every_character_in_both_halves(story: Story) -> None:
    questions = quiz.load_quiz(story)
    facts = [q for q in questions if q.kind == "fact"]
    assert len(facts) >= 80
    per = Counter((q.to, q.split) for q in facts)
    for cid in story.personas:
        assert per[(cid, "dev")] >= 6 and per[(cid, "test")] >= 6, cid
        assert any(q.kind == "scope" and q.to == cid for q in questions), cid
    for q in questions:  # the question must not hand over its own answer
        assert not any(quiz.mentions(q.ask, t) for t in q.accept), q.id


def test_a_bad_quiz_file_names_the_file_and_the_field(story: Story, tmp_path: Path) -> None:
    bad = tmp_path / "quiz.yaml"
    bad.write_text(
        "description: x\nquestions:\n"
        "  - {id: a, to: kyra, topic: t, split: dev, ask: 'Who?', accept: ['Max']}\n"
        "  - {id: b, to: lyra, topic: t, split: train, ask: 'Who?', accept: ['Max']}\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError) as info:
        quiz.load_quiz(story, bad)
    text = str(info.value)
    assert "quiz.yaml" in text and "split" in text and "'dev' or 'test'" in text
    bad.write_text(
        "description: x\nquestions:\n  - {id: a, to: kyra, topic: friends, split: dev, ask: 'Who?', accept: ['Max']}\n",
        encoding="utf-8",
    )
    with pytest.raises(DataError, match=r"questions\[0\] \(a\): to: expected one of .*lyra.*, got 'kyra'"):
        quiz.load_quiz(story, bad)


def test_the_judge_wants_the_fact_as_a_word_and_scope_wants_it_absent() -> None:
    fact = quiz.Question("q", "lyra", "bedtime", "friends", "dev", "fact", "Who?", ("Max",), ())
    assert quiz.judge(fact, "Max! Obviously.")
    assert not quiz.judge(fact, "The maximum of fun.")
    scope = quiz.Question("s", "lyra", "bedtime", "scope", "dev", "scope", "What happens?", (), ("cascade",))
    assert quiz.judge(scope, "I don't know yet!") and not quiz.judge(scope, "The Cascade!")


def test_a_run_asks_through_the_stage_and_counts_by_character(story: Story) -> None:
    questions = [q for q in quiz.load_quiz(story) if q.split == "dev"][:12]

    def responder(messages: list[Message]) -> str:
        # answers right only when the prompt carries the fact: the quiz measures what reached the model
        user = messages[-1].content
        terms = next(q.accept for q in questions if q.ask in user or q.ask.split(", ", 1)[-1] in user)
        prompt = "\n".join(m.content for m in messages)
        known = [t for t in terms if re.search(rf"(?<!\w){re.escape(t)}(?!\w)", prompt, re.IGNORECASE)]
        return f"Oh, that's {known[0]}, of course." if known else "Hmm, I forget."

    model = ScriptedModel(responder=responder)
    answers = list(
        quiz.run(questions, story=story, model=model, retriever=KeywordRetriever(story.lore), params=GenParams())
    )
    assert len(answers) == len(questions) and all(a.turn is not None for a in answers)
    assert all(a.turn.speaker == a.question.to for a in answers if a.turn)
    acc = quiz.accuracy(answers, key=lambda a: a.question.to)
    assert acc["all"].asked == len(questions) and 0 < acc["all"].right <= len(questions)
    summary = quiz.summary(answers, "dev")
    assert summary["quiz_accuracy"] == pytest.approx(
        sum(a.right for a in answers if a.question.kind == "fact")
        / sum(a.question.kind == "fact" for a in answers)
    )
    assert set(summary["per_character"]) <= set(story.personas)


def test_a_fallback_line_never_counts_as_an_answer(story: Story) -> None:
    q = next(q for q in quiz.load_quiz(story) if q.to == "lyra" and q.kind == "fact")
    # put as a statement, so no recalled fact is offered; every candidate is empty, so Lyra says one of her own
    # example lines, whatever they contain
    q = dataclasses.replace(q, ask=q.ask.rstrip("?") + ".")
    model = ScriptedModel(responder=lambda messages: "...")
    answer = quiz.ask(q, story=story, model=model, retriever=KeywordRetriever(story.lore), params=GenParams())
    assert answer.turn is not None and "fallback" in answer.turn.flags and not answer.right


def test_a_recalled_answer_stands_where_a_fallback_would_and_is_judged_like_any_reply(story: Story) -> None:
    q = next(q for q in quiz.load_quiz(story) if q.id == "lyra-mum-name")
    model = ScriptedModel(responder=lambda messages: "...")
    answer = quiz.ask(q, story=story, model=model, retriever=KeywordRetriever(story.lore), params=GenParams())
    assert answer.turn is not None and "fallback" not in answer.turn.flags and "recalled" in answer.turn.flags
    assert answer.right == quiz.judge(q, answer.turn.text)


def test_stage_eval_quiz_writes_accuracy_and_a_per_character_chart(tmp_path: Path) -> None:
    run = stage_eval(tmp_path / "home", tmp_path / "report", "--quiz", "dev", "--backend", "scripted")
    assert run.out.returncode == 0, run.out.stderr
    q = run.results["quiz"]
    assert q["split"] == "dev" and set(q["per_character"]) == {"lyra", "max", "zara", "theo", "camille"}
    assert 0 <= q["quiz_accuracy"] <= 1 and all(a["split"] == "dev" for a in q["answers"])
    assert run.results["suites"] == []  # no suite named: only the quiz ran
    assert 'id="quiz"' in run.html and 'alt="knowledge quiz per character"' in run.html
    assert "knowledge quiz (dev)" in run.out.stdout
