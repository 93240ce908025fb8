"""Prompt growth over a long scene, through the bench's own lockstep: the stage's prompt stays flat while the
naive loop's grows with every line, until it no longer fits the context.

No model server: the stage plays on the scripted backend (its prompt tokens are words, as the scripted model
counts them), the raw replay and the naive loop talk to an in-process HTTP stand-in, and the naive loop's
prompt is counted in words of its ChatML too. The runs take about a second each.
"""

from __future__ import annotations

import itertools
import statistics
from collections import defaultdict
from typing import Any

import httpx
import pytest

from stage.bench.instrument import Recording, TimedRetriever
from stage.bench.naive import NaiveLoop
from stage.bench.plan import FULL
from stage.bench.run import long_story
from stage.bench.turns import TurnRecord, growth, lockstep
from stage.llm.base import GenParams
from stage.llm.scripted import ScriptedModel
from stage.runtime import keyword_retriever
from stage.scene import Scene
from tests.fakes import chunk

TURNS = FULL.turns  # the full bench's 100 turns
MAX_TOKENS = 24


class _WordCounter:
    """Stands in for ``LocalServer`` in the naive loop: counts words, the scripted model's token unit."""

    base_url = "http://naive.invalid/v1"

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def _reply(request: httpx.Request) -> httpx.Response:
    """An OpenAI-style stream of one short line, for the raw replay and the naive loop."""
    body = chunk("I remember the park and") + chunk(" the stars.", "stop") + b"data: [DONE]\n\n"
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


def play(story: Any, turns: int, n_ctx: int, seed: int = 7) -> list[TurnRecord]:
    params = GenParams(max_tokens=MAX_TOKENS, temperature=0.0, seed=seed)
    recorder = Recording(ScriptedModel(seed=seed))
    timed = TimedRetriever(keyword_retriever(story))
    scene = Scene.new(long_story(story), recorder, timed, None, params, seed=seed, backend="scripted")
    with httpx.Client(transport=httpx.MockTransport(_reply)) as client:
        naive = NaiveLoop(story, _WordCounter(), client, params, n_ctx=n_ctx)  # type: ignore[arg-type]
        return lockstep(scene, recorder, timed, client, "http://raw.invalid/v1", naive, turns, settle_s=0.0)


@pytest.fixture(scope="module")
def long_scene(story: Any) -> list[TurnRecord]:
    """100 turns with room for everything: the naive loop never overflows, so its growth shows in full."""
    return play(story, TURNS, n_ctx=10**9)


def _slope(records: list[TurnRecord], key: str) -> float:
    return statistics.linear_regression([r.turn for r in records], [getattr(r, key) for r in records]).slope


def test_the_stage_prompt_stays_flat_while_the_naive_prompt_grows(long_scene: list[TurnRecord]) -> None:
    assert [r.turn for r in long_scene] == list(range(1, TURNS + 1))
    assert len({r.beat for r in long_scene}) >= 5  # the long scene goes through many beats
    stage = [r.stage_prompt_tokens for r in long_scene]
    naive = [r.naive_prompt_tokens for r in long_scene]
    assert min(stage) > 0 and min(naive) > 0
    # past the first beats, each turn adds a line to the naive prompt and next to nothing to the stage's
    settled = long_scene[25:]
    naive_slope, stage_slope = _slope(settled, "naive_prompt_tokens"), _slope(settled, "stage_prompt_tokens")
    assert naive_slope > 5, naive_slope
    assert stage_slope < naive_slope / 10, (stage_slope, naive_slope)
    # the stage's largest prompt late in the scene is about its largest early on; the naive one keeps growing
    assert max(stage[50:]) <= 1.25 * max(stage[:25]), (max(stage[:25]), max(stage[50:]))
    assert statistics.median(naive[-10:]) >= 3 * statistics.median(naive[:10])
    assert naive[-1] > 2 * stage[-1]


def test_the_naive_prompt_resends_the_whole_history(long_scene: list[TurnRecord]) -> None:
    """Each character's naive prompt is larger on every turn it speaks than on the one before."""
    by_speaker: dict[str, list[int]] = defaultdict(list)
    for r in long_scene:
        by_speaker[r.speaker].append(r.naive_prompt_tokens)
    assert len(by_speaker) >= 2
    for speaker, sizes in by_speaker.items():
        assert all(b > a for a, b in itertools.pairwise(sizes)), (speaker, sizes)


def test_growth_checkpoints_summarise_the_same_turns(long_scene: list[TurnRecord]) -> None:
    g = growth(long_scene, FULL.checkpoints, FULL.window)
    points = g["checkpoints"]
    assert list(points) == [str(c) for c in FULL.checkpoints]
    by_turn = {r.turn: r for r in long_scene}
    for c, p in points.items():
        window = [by_turn[t] for t in p["turns"]]
        assert all(int(c) - FULL.window < t <= int(c) for t in p["turns"])
        assert p["stage_prompt_tokens"] == statistics.median(r.stage_prompt_tokens for r in window)
        assert p["naive_prompt_tokens"] == by_turn[int(c)].naive_prompt_tokens
    first, last = points[str(FULL.checkpoints[0])], points[str(FULL.checkpoints[-1])]
    assert last["stage_prompt_tokens"] <= 1.25 * first["stage_prompt_tokens"]
    assert last["naive_prompt_tokens"] >= 3 * first["naive_prompt_tokens"]
    assert g["stage_prompt_tokens_max"] == max(r.stage_prompt_tokens for r in long_scene)
    assert g["naive_prompt_tokens_max"] == max(r.naive_prompt_tokens for r in long_scene)
    assert g["naive_overflow_turn"] is None


def test_the_naive_loop_overflows_a_context_the_stage_stays_inside(story: Any) -> None:
    """With a context the naive prompt outgrows, the naive loop overflows once its prompt plus the reply no
    longer fits, and stays overflowed; the stage plays all 100 turns within the same limit."""
    n_ctx = 1024  # words: the stage's prompt is about 600, the naive one passes 1,700 by turn 100
    records = play(story, TURNS, n_ctx=n_ctx)
    over = [r.turn for r in records if r.naive_overflow]
    assert over, "the naive loop never overflowed"
    first = over[0]
    assert over == list(range(first, TURNS + 1))  # once it overflows, every later turn does
    assert records[first - 1].naive_prompt_tokens + MAX_TOKENS > n_ctx
    assert records[first - 2].naive_prompt_tokens + MAX_TOKENS <= n_ctx
    assert all(r.naive_prompt_tokens == 0 and r.naive_ttft_ms is None for r in records[first:])
    assert max(r.stage_prompt_tokens for r in records) + MAX_TOKENS <= n_ctx
    g = growth(records, FULL.checkpoints, FULL.window)
    assert g["naive_overflow_turn"] == first
    assert g["checkpoints"]["100"]["naive_overflowed"] is True
