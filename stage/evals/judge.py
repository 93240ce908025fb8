"""Optional judge scores, only when ``STAGE_JUDGE_URL`` names an OpenAI-compatible endpoint.

Rubric in the style of PersonaGym (persona consistency) and TimeChara (temporal consistency: no knowledge
from later in the story), 1-5 each. These are a model's opinion, not measurements: they are kept apart
from the deterministic metrics (``judge_*`` keys, a "judge" section in the report) and never gate a run.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Mapping, Sequence
from functools import cache
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from stage.agents.context import sentences
from stage.errors import StageError
from stage.evals.metrics import Scorecard
from stage.llm import make_model
from stage.llm.base import ChatModel, GenParams, complete
from stage.settings import Settings
from stage.transcript import Event, Turn
from stage.types import Message, Story

log = logging.getLogger(__name__)

URL_ENV, MODEL_ENV, KEY_ENV = "STAGE_JUDGE_URL", "STAGE_JUDGE_MODEL", "STAGE_JUDGE_API_KEY"
RUBRIC = ("persona", "time")
_SCORE = re.compile(r"\b(persona|time)\s*[:=]\s*([1-5])\b", re.IGNORECASE)


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(Path(__file__).parent / "prompts"),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def parse(reply: str) -> dict[str, int]:
    return {m.group(1).lower(): int(m.group(2)) for m in _SCORE.finditer(reply)}


class Judge:
    def __init__(self, model: ChatModel, label: str) -> None:
        self.model = model
        self.label = label  # "judge: <model> at <url>", shown wherever its scores are
        self.params = GenParams(max_tokens=16, temperature=0.0)

    def rate(
        self, story: Story, speaker: str, beat_id: str, text: str, recent: Sequence[str]
    ) -> dict[str, int]:
        """Scores for one turn; {} when the judge fails or answers in another format."""
        p = story.personas[speaker]
        beat = story.plot.beat(beat_id)
        later = [b.title for b in story.plot.beats if b.position > beat.position]
        system = (
            _env()
            .get_template("judge_system.j2")
            .render(name=p.name, role=p.role, style=sentences(p.voice.style, 1))
        )
        user = (
            _env()
            .get_template("judge_turn.j2")
            .render(
                name=p.name,
                age=p.age,
                description=sentences(p.description, 2),
                beat=beat,
                later=later,
                recent=list(recent)[-4:],
                text=text,
            )
        )
        try:
            reply = complete(self.model, [Message("system", system), Message("user", user)], self.params)
        except StageError as exc:
            log.warning("the judge failed on a turn of %s: %s", speaker, exc)
            return {}
        scores = parse(reply.text)
        if set(scores) != set(RUBRIC):
            log.warning("the judge answered in an unexpected format: %r", reply.text[:80])
        return scores


def from_env(env: Mapping[str, str] | None = None) -> Judge | None:
    env = os.environ if env is None else env
    url = env.get(URL_ENV, "").strip()
    if not url:
        return None
    model = env.get(MODEL_ENV, "").strip()
    settings = Settings(
        backend="openai", base_url=url, model=model, api_key=env.get(KEY_ENV, ""), retries=1, timeout=60
    )
    return Judge(make_model(settings), f"judge: {model or 'default model'} at {url}")


def judge_turns(
    judge: Judge, story: Story, card: Scorecard, events: Sequence[Event]
) -> dict[int, dict[str, int]]:
    spoken = [e for e in events if isinstance(e, Turn)]
    texts = {
        e.seq: f"{story.personas[e.speaker].name}: {e.text}" for e in spoken if e.speaker in story.personas
    }
    out: dict[int, dict[str, int]] = {}
    for s in card.turns:
        if s.policy or s.words < 4 or s.speaker not in story.personas:
            continue
        recent = [texts[q] for q in sorted(texts) if q < s.seq][-4:]
        scores = judge.rate(story, s.speaker, s.beat, s.text, recent)
        if scores:
            out[s.seq] = scores
    return out
