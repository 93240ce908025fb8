"""``stage bench``: its summaries, the naive loop's context limit, the command's refusal, and (model-marked) the
whole pipeline at tiny sizes. The table, the plot and prompt growth have their own files.

Never asserts that something is fast: the numbers depend on the machine and on whoever else is using it. It
asserts how the numbers relate: a ratio is the ratio of the timings it came from, parts add up to the whole.
"""

from __future__ import annotations

import io
import json
import statistics
import struct
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from stage.bench.naive import NaiveLoop
from stage.bench.plot import write_png
from stage.bench.report import print_table, write_json
from stage.bench.stats import percentile, summary
from stage.bench.turns import overhead
from stage.cli import main
from stage.llm.base import GenParams
from tests.bench.records import record
from tests.fakes import chunk


def test_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([4.0, float("nan"), 1.0], 100) == 4.0  # NaN left out, order does not matter
    assert summary([1.0, 2.0, 3.0]) == {"n": 3, "p50": 2.0, "p95": 2.9, "min": 1.0, "max": 3.0}
    assert summary([]) == {"n": 0, "p50": None, "p95": None, "min": None, "max": None}


@given(st.lists(st.floats(min_value=0, max_value=1e6), min_size=1, max_size=40))
def test_percentiles_are_ordered_and_within_the_samples(xs: list[float]) -> None:
    p0, p50, p95, p100 = (percentile(xs, q) for q in (0, 50, 95, 100))
    assert p0 == min(xs) and p100 == max(xs)
    assert p0 <= p50 <= p95 <= p100  # type: ignore[operator]
    assert p50 == pytest.approx(statistics.median(xs))


def test_overhead_splits_the_extra_time_into_parts_that_add_up() -> None:
    """Each turn: stage = raw + 15 ms retrieval + 10 ms client/wrappers + 20 ms rest. A turn with no raw replay
    is left out of every figure."""
    raw = [900.0, 1000.0, 1300.0, 2000.0]
    records = [
        record(n, raw_ms=r, seam_ms=r + 10, retrieval_ms=15.0, stage_ms=r + 45, calls=1 + n % 2,
               rejected=("repeat:near-duplicate",) * (n % 2) + ("off-role:assistant",) * (n == 4),
               stage_tokens=20, raw_tokens=20 if n < 4 else 25)
        for n, r in enumerate(raw, start=1)
    ]  # fmt: skip
    records.append(record(5, raw_ms=0.0, stage_ms=99_999.0, calls=1))  # its replay failed: not compared
    o = overhead(records)
    assert o["turns"] == len(raw)
    parts = o["extra_ms"].copy()
    total = parts.pop("total")
    assert parts == {"retrieval": 15, "client_and_wrappers": 10, "director_prompt_guards_log": 20}
    assert total == sum(parts.values())
    assert o["stage_turn_ms"] - o["raw_turn_ms"] == total
    assert o["per_turn_ratio"] == round(statistics.median((r + 45) / r for r in raw), 3)
    assert o["seam_call_ratio"] == round(statistics.median((r + 10) / r for r in raw), 3)
    assert o["per_turn_ratio"] > o["seam_call_ratio"] > 1  # the whole turn costs more than its model calls
    assert o["model_calls_per_turn"] == (2 + 1 + 2 + 1) / 4
    assert o["rejections"] == {"repeat": 2, "off-role": 1}
    assert o["same_token_count"] == 3 / 4


class _CountingServer:
    """Stands in for ``LocalServer``: every prompt counts ``tokens``."""

    base_url = "http://naive.invalid/v1"

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    def count_tokens(self, text: str) -> int:
        return self.tokens


def _one_line(request: httpx.Request) -> httpx.Response:
    body = chunk("Hello there") + chunk(", friend.", "stop") + b"data: [DONE]\n\n"
    return httpx.Response(200, content=body, headers={"content-type": "text/event-stream"})


@pytest.mark.parametrize(("prompt", "overflows"), [(4096 - 24, False), (4096 - 23, True)])
def test_the_naive_loop_overflows_exactly_when_prompt_and_reply_pass_the_context(
    story: Any, prompt: int, overflows: bool
) -> None:
    with httpx.Client(transport=httpx.MockTransport(_one_line)) as client:
        naive = NaiveLoop(story, _CountingServer(prompt), client, GenParams(max_tokens=24), n_ctx=4096)  # type: ignore[arg-type]
        beat = story.plot.beats[0]
        first, second = beat.present[0], beat.present[1]
        t1 = naive.turn(first, beat)
        assert (t1.prompt_tokens, t1.overflow) == (prompt, overflows)
        assert naive.overflow_turn == (1 if overflows else None)
        t2 = naive.turn(second, beat)
        assert t2.overflow is overflows  # once it overflowed, it stays overflowed
    said = [m.content for m in naive.messages(second)]
    assert naive.messages(second)[0].role == "system"
    assert said[1] == f"(Narrator: {beat.summary})"
    if overflows:
        assert len(said) == 2  # nothing was said: only the persona and the beat's narration
    else:  # the whole history, own lines as the assistant's, others' with their names
        name = story.personas[first].name
        assert said[2] == f"{name}: Hello there, friend." and naive.messages(first)[2].role == "assistant"


def test_bench_refuses_other_backends(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--backend", "scripted", "--quick"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "embedded llama.cpp server" in err and "--backend local" in err


@pytest.mark.model
@pytest.mark.timeout(1800)  # about a minute on a quiet machine; shared cores can make it ten times that
def test_sessions_against_a_remote_endpoint_use_its_slots_and_queue_past_them() -> None:
    """The simulated endpoint serves 4 at once: the stage's limit fills them, the 8 sessions beyond queue, none
    fails; one call at a time for everyone (the old process-wide lock) is the baseline of the same run."""
    from stage.bench.remote import remote_levels

    r = remote_levels((1, 4, 8), turns=2, slots=4, token_ms=20, tokens=6, candidates=2)
    by = {lv["sessions"]: lv for lv in r["levels"]}
    assert all(lv["errors"] == 0 and lv["turns"] == lv["sessions"] * 2 for lv in r["levels"])
    assert by[4]["server_peak_busy"] == 4 and by[8]["server_peak_busy"] == 4, "the limit is used, never passed"
    assert by[8]["latency_ms"]["p50"] > 1.5 * by[4]["latency_ms"]["p50"], "past the slots, turns queue"
    base = r["baseline_one_at_a_time"]
    assert base["server_peak_busy"] == 1 and base["errors"] == 0
    assert by[4]["turns_per_min"] > 2 * base["turns_per_min"], "four slots serve more than one at a time"


def test_tiny_run_measures_what_it_reports(tmp_path: Path) -> None:
    """The whole pipeline on the embedded model at tiny sizes: three servers, three turns, a 24-chunk store."""
    from stage.bench.plan import TINY
    from stage.bench.run import run_plan
    from stage.settings import load_settings

    results = run_plan(TINY, load_settings({"home": tmp_path / "home"}, env={}))
    data = json.loads(write_json(results, tmp_path / "results.json").read_text())
    turns = data["turns"]
    assert [t["turn"] for t in turns] == list(range(1, TINY.turns + 1))
    for t in turns:  # the parts of a turn sit inside it
        assert 0 < t["stage_ttft_ms"] <= t["stage_ms"]
        assert 0 < t["seam_ms"] <= t["stage_ms"] and 0 <= t["retrieval_ms"] <= t["stage_ms"]
        assert 0 < t["model_ttft_ms"] <= t["seam_ms"]
        assert t["calls"] >= 1 and t["raw_ms"] > 0 and 0 <= t["stage_tokens"] <= t["calls"] * TINY.max_tokens
        assert t["stage_prompt_tokens"] > 0 and (t["naive_overflow"] or t["naive_prompt_tokens"] > 0)
    o = data["overhead"]
    assert o["turns"] == len(turns)
    assert o["per_turn_ratio"] == round(statistics.median(t["stage_ms"] / t["raw_ms"] for t in turns), 3)
    assert set(data["growth"]["checkpoints"]) == {str(c) for c in TINY.checkpoints}
    assert data["growth"]["stage_prompt_tokens_max"] == max(t["stage_prompt_tokens"] for t in turns)
    sizes = data["retrieval"]["sizes"]
    assert [s["chunks"] for s in sizes] == list(TINY.retrieval_sizes)
    assert all(s["search_ms"]["n"] == s["queries"] > 0 for s in sizes)
    assert all(0 < s["search_ms"]["p50"] <= s["search_ms"]["p95"] for s in sizes)
    (threads,) = data["concurrency"]
    assert [lv["sessions"] for lv in threads["levels"]] == list(TINY.levels)
    for lv in threads["levels"]:
        assert lv["errors"] == 0 and lv["turns"] == lv["sessions"] * TINY.session_turns
        assert lv["turns_per_min"] == pytest.approx(lv["turns"] / lv["wall_s"] * 60, rel=0.02)
    rss = [mb for k, mb in data["memory"].items() if k.endswith("peak_rss_mb")]
    assert rss and all(mb > 0 for mb in rss)
    assert data["profile"]["turns"] == TINY.profile_turns
    (served,) = data["retrieval_server"]["sizes"]  # the same search with the lore in a `chroma run` server
    assert served["chunks"] == min(TINY.retrieval_sizes) and 0 < served["search_ms"]["p50"] <= served["search_ms"]["p95"]
    alt = data["alternating"]
    assert len(alt["characters"]) == 5, "the reunion's five characters take turns"
    for side in ("stage_slots", "one_slot"):
        assert alt[side]["ttft_ms"]["n"] == 5 * TINY.alternating_rounds and alt[side]["ttft_ms"]["p50"] > 0
    ceiling = alt["raw_ceiling"]["levels"]
    assert [lv["streams"] for lv in ceiling] == list(TINY.levels) and all(lv["errors"] == 0 for lv in ceiling)
    assert all(lv["tokens"] > 0 and lv["tokens_per_s"] > 0 for lv in ceiling)
    rem = data["remote"]
    assert [lv["sessions"] for lv in rem["levels"]] == list(TINY.remote_levels)
    assert all(lv["errors"] == 0 and lv["turns"] == lv["sessions"] * rem["turns_per_session"] for lv in rem["levels"])
    assert rem["served"] == rem["candidates_per_turn"] * sum(lv["turns"] for lv in [*rem["levels"], rem["baseline_one_at_a_time"]])
    # what a person reads: the table's ratio is the JSON's, the PNG is the full-size figure
    buf = io.StringIO()
    print_table(data, Console(file=buf, width=300, color_system=None))
    (row,) = [ln for ln in buf.getvalue().splitlines() if "overhead: turn time" in ln]
    assert f"{o['per_turn_ratio']}×" in row
    head = write_png(data, tmp_path / "results.png").read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and struct.unpack(">II", head[16:24]) == (18 * 110, 10 * 110)
