"""The knowledge quiz (``evals/quiz.yaml``): plain questions a visitor asks a character about their own life.

Each question goes to one character at one beat, through the real stage (``Scene.say`` then one turn, as
``stage ask`` does), and the reply is right when it contains one of the accepted terms. Scope questions ask
about what the character cannot know yet: right when the reply contains none of the rejected terms. The quiz
is split in a dev half (for tuning prompts and scorers) and a test half (for reporting only).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from stage.agents.retrieval import Retriever
from stage.cast.schema import Id, Text
from stage.datafile import load_checked, relative
from stage.errors import DataError
from stage.llm.base import ChatModel, GenParams
from stage.scene import Scene, events_of
from stage.settings import ROOT
from stage.transcript import Action, Turn
from stage.types import Story

QUIZ_FILE = ROOT / "evals" / "quiz.yaml"
Split = Literal["dev", "test"]
Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=80)]


class QuestionSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$", max_length=60)]
    to: Id
    beat: str | int = 1
    topic: Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=30)]
    split: Split
    kind: Literal["fact", "scope"] = "fact"
    ask: Text
    accept: list[Term] = Field(default_factory=list)
    reject: list[Term] = Field(default_factory=list)

    @model_validator(mode="after")
    def _terms(self) -> QuestionSchema:
        if self.kind == "fact" and not self.accept:
            raise ValueError("a fact question needs accept: terms, one of which a right answer contains")
        if self.kind == "scope" and not self.reject:
            raise ValueError("a scope question needs reject: terms that a reply must not contain")
        return self


class QuizSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Text
    questions: list[QuestionSchema] = Field(min_length=1)


@dataclass(frozen=True)
class Question:
    id: str
    to: str
    beat: str
    topic: str
    split: Split
    kind: Literal["fact", "scope"]
    ask: str
    accept: tuple[str, ...]
    reject: tuple[str, ...]


@dataclass(frozen=True)
class Answer:
    question: Question
    reply: str
    right: bool
    turn: Turn | None  # None when the character gave no turn (a refused question, an error)


def load_quiz(story: Story, path: Path = QUIZ_FILE) -> list[Question]:
    """The quiz, schema-checked and cross-checked against the story; every problem named by file and field."""
    quiz = load_checked(QuizSchema, path, "the quiz")
    display = relative(path)
    problems: list[str] = []
    out: list[Question] = []
    seen: set[str] = set()
    for n, q in enumerate(quiz.questions):
        where = f"{display}: questions[{n}] ({q.id})"
        if q.id in seen:
            problems.append(f"{where}: id: expected a unique id, got a repeat")
        seen.add(q.id)
        if q.to not in story.personas:
            problems.append(f"{where}: to: expected one of {', '.join(story.personas)}, got {q.to!r}")
            continue
        try:
            beat = story.plot.beat(q.beat).id
        except KeyError as exc:
            problems.append(f"{where}: beat: {exc.args[0]}")
            continue
        out.append(Question(q.id, q.to, beat, q.topic, q.split, q.kind, q.ask, tuple(q.accept), tuple(q.reject)))
    if problems:
        raise DataError(problems)
    return out


def mentions(text: str, term: str) -> bool:
    """``term`` as a whole word or phrase, case-insensitive ("Max" in "Max!" but not in "maximum")."""
    return re.search(rf"(?<!\w){re.escape(term)}(?!\w)", text, flags=re.IGNORECASE) is not None


def judge(question: Question, reply: str) -> bool:
    if question.kind == "scope":
        return not any(mentions(reply, t) for t in question.reject)
    return any(mentions(reply, t) for t in question.accept)


def ask(
    question: Question,
    *,
    story: Story,
    model: ChatModel,
    retriever: Retriever,
    params: GenParams,
    seed: int = 0,
) -> Answer:
    """One question through the real stage: the visitor names the character, who answers next."""
    scene = Scene.new(story, model, retriever, None, params, from_beat=question.beat, seed=seed, backend="quiz")
    who = story.personas[question.to]
    if who.id not in scene.state.present:
        scene.direct(Action.ADD, who.id)
    text = question.ask if re.search(rf"\b{re.escape(who.name)}\b", question.ask) else f"{who.name}, {question.ask}"
    said = scene.say(text, name="Visitor")
    turn = next((e for e in said if isinstance(e, Turn)), None)  # a refusal answers at once
    if turn is None:
        turn = next((e for e in events_of(scene.step()) if isinstance(e, Turn)), None)
    if turn is None or turn.speaker != who.id:
        return Answer(question, "" if turn is None else turn.text, False, turn)
    if question.kind == "fact" and "fallback" in turn.flags:
        # one of the persona's canned lines, said because every reply was rejected: not an answer, even if it
        # happens to name the fact
        return Answer(question, turn.text, False, turn)
    return Answer(question, turn.text, judge(question, turn.text), turn)


def run(
    questions: Iterable[Question],
    *,
    story: Story,
    model: ChatModel,
    retriever: Retriever,
    params: GenParams,
    seed: int = 0,
) -> Iterator[Answer]:
    """Every question, as it is answered (a generator, so a caller can show progress)."""
    for q in questions:
        yield ask(q, story=story, model=model, retriever=retriever, params=params, seed=seed)


@dataclass(frozen=True)
class Accuracy:
    right: int
    asked: int

    @property
    def rate(self) -> float | None:
        return self.right / self.asked if self.asked else None


def accuracy(answers: Iterable[Answer], key: Callable[[Answer], str]) -> dict[str, Accuracy]:
    """Right / asked, grouped by ``key`` (a character, a split, a topic ...), plus ``all``."""
    right: dict[str, int] = defaultdict(int)
    asked: dict[str, int] = defaultdict(int)
    for a in answers:
        for k in (key(a), "all"):
            asked[k] += 1
            right[k] += a.right
    return {k: Accuracy(right[k], asked[k]) for k in sorted(asked)}


def summary(answers: Sequence[Answer], split: str) -> dict[str, Any]:
    """The quiz's part of results.json: accuracy overall, per character and per half, and every answer."""

    def rates(group: Iterable[Answer], key: Callable[[Answer], str]) -> dict[str, Any]:
        return {k: {"right": v.right, "asked": v.asked, "rate": v.rate} for k, v in accuracy(group, key).items()}

    facts = [a for a in answers if a.question.kind == "fact"]
    scope = [a for a in answers if a.question.kind == "scope"]
    per_char = rates(facts, lambda a: a.question.to)
    return {
        "split": split,
        "quiz_accuracy": per_char.get("all", {}).get("rate"),
        "per_character": {k: v for k, v in per_char.items() if k != "all"},
        "per_split": rates(facts, lambda a: a.question.split),
        "per_topic": rates(facts, lambda a: a.question.topic),
        "scope_kept": rates(scope, lambda a: a.question.to).get("all", {}).get("rate"),
        "fallback_rate": (sum("fallback" in a.turn.flags for a in answers if a.turn) / len(answers))
        if answers
        else None,
        # answered with the character's own recalled fact rather than a sampled line (right or not)
        "recalled_rate": (sum("recalled" in a.turn.flags for a in answers if a.turn) / len(answers))
        if answers
        else None,
        "recalled_right": sum(a.right for a in facts if a.turn and "recalled" in a.turn.flags),
        "sampled_right": sum(a.right for a in facts if a.turn and "recalled" not in a.turn.flags),
        "answers": [
            {
                "id": a.question.id,
                "to": a.question.to,
                "split": a.question.split,
                "kind": a.question.kind,
                "topic": a.question.topic,
                "ask": a.question.ask,
                "reply": a.reply,
                "right": a.right,
                "flags": list(a.turn.flags) if a.turn else [],
            }
            for a in answers
        ],
    }
