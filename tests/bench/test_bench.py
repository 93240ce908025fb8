"""``stage bench``: its code paths run on tiny sizes and write JSON and a PNG with the expected keys.

Never asserts on time: the numbers depend on the machine and on whoever else is using it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from stage.bench.naive import NaiveLoop
from stage.bench.plot import write_png
from stage.bench.report import table, write_json
from stage.bench.stats import percentile, summary
from stage.bench.turns import TurnRecord, growth, overhead
from stage.cli import main

TOP_KEYS = {"schema", "mode", "machine", "plan", "settings", "turns", "overhead", "growth", "profile"}
TOP_KEYS |= {"concurrency", "memory", "retrieval", "duration_s"}
MACHINE_KEYS = {"cpu", "cores", "memory_gib", "load_average_at_start", "python", "packages"}


def _record(n: int, overflow: bool = False) -> TurnRecord:
    return TurnRecord(
        turn=n,
        speaker="lyra" if n % 2 else "max",
        beat="bedtime",
        cold=n < 3,
        stage_ms=1000.0 + n,
        stage_ttft_ms=500.0,
        model_ttft_ms=450.0,
        stage_prompt_tokens=800,
        stage_evaluated_tokens=200,
        stage_tokens=20,
        calls=1 + n % 2,
        rejected=("repeat:near-duplicate",) if n % 2 else (),
        seam_ms=980.0,
        retrieval_ms=15.0,
        raw_ms=950.0,
        raw_ttft_ms=430.0,
        raw_tokens=20,
        naive_prompt_tokens=0 if overflow else 500 + 40 * n,
        naive_evaluated_tokens=-1 if overflow else 120,
        naive_ttft_ms=None if overflow else 400.0 + 10 * n,
        naive_ms=None if overflow else 900.0,
        naive_overflow=overflow,
    )


def test_percentiles() -> None:
    assert percentile([], 50) is None
    assert percentile([3.0], 95) == 3.0
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert summary([1.0, 2.0, 3.0])["p95"] == pytest.approx(2.9)


def test_overhead_and_growth_summaries() -> None:
    records = [_record(n, overflow=n >= 9) for n in range(1, 11)]
    o = overhead(records)
    assert o["turns"] == 10 and o["per_turn_ratio"] > 1 and o["same_token_count"] == 1.0
    assert set(o["extra_ms"]) == {"total", "retrieval", "client_and_wrappers", "director_prompt_guards_log"}
    assert o["rejections"] == {"repeat": 5}
    g = growth(records, (5, 10), window=3)
    assert set(g["checkpoints"]) == {"5", "10"}
    assert g["naive_overflow_turn"] == 9 and g["checkpoints"]["10"]["naive_overflowed"] is True
    assert g["stage_ttft_ratio_last_to_first"] == 1.0 and g["ok"] is True


class _CountingServer:
    """Stands in for ``LocalServer``: counts a fixed number of tokens, never serves."""

    base_url = "http://127.0.0.1:9/v1"

    def __init__(self, tokens: int) -> None:
        self.tokens = tokens

    def count_tokens(self, text: str) -> int:
        return self.tokens


def test_naive_loop_stops_at_the_context_limit(story: Any) -> None:
    from stage.llm.base import GenParams

    naive = NaiveLoop(story, _CountingServer(4090), None, GenParams(max_tokens=24), n_ctx=4096)  # type: ignore[arg-type]
    beat = story.plot.beats[0]
    first = naive.turn(beat.present[0], beat)
    assert first.overflow and naive.overflow_turn == 1
    assert naive.turn(beat.present[0], beat).overflow and naive.overflow_turn == 1
    messages = naive.messages(beat.present[0])
    assert messages[0].role == "system" and messages[-1].content.startswith("(Narrator:")


def test_json_png_and_table_from_synthetic_results(tmp_path: Path) -> None:
    records = [_record(n) for n in range(1, 6)]
    results: dict[str, Any] = {
        "mode": "synthetic",
        "settings": {"max_tokens": 24, "temperature": 0.0, "seed": 7, "n_ctx": 4096},
        "turns": [r.__dict__ for r in records],
        "overhead": overhead(records),
        "growth": growth(records, (1, 5), window=2),
        "retrieval": {"target_p95_ms": 20.0, "at_chunks": 10, "ok": True, "sizes": []},
        "concurrency": [{"mode": "scene-threads", "levels": []}],
        "memory": {"model_server_stage_peak_rss_mb": 300.0},
    }
    out = write_json(results, tmp_path / "r.json")
    png = write_png(results, tmp_path / "r.png")
    assert json.loads(out.read_text())["overhead"]["turns"] == 5
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert table(results).row_count > 5


def test_bench_refuses_other_backends(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bench", "--backend", "scripted", "--quick"]) == 2
    assert "embedded llama.cpp server" in capsys.readouterr().err


@pytest.mark.model
@pytest.mark.timeout(1800)  # about a minute on a quiet machine; shared cores can make it ten times that
def test_tiny_run_writes_json_and_png(tmp_path: Path) -> None:
    """The whole pipeline on the embedded model at tiny sizes: three servers, three turns, a 24-chunk store."""
    from stage.bench.plan import TINY
    from stage.bench.run import run_plan
    from stage.settings import load_settings

    results = run_plan(TINY, load_settings({"home": tmp_path / "home"}, env={}))
    out = write_json(results, tmp_path / "results.json")
    png = write_png(results, tmp_path / "results.png")
    data = json.loads(out.read_text())
    assert set(data) >= TOP_KEYS and set(data["machine"]) >= MACHINE_KEYS
    assert len(data["turns"]) == TINY.turns
    assert {"per_turn_ratio", "per_token_ratio", "seam_call_ratio", "target", "ok"} <= set(data["overhead"])
    assert set(data["growth"]["checkpoints"]) == {str(c) for c in TINY.checkpoints}
    sizes = data["retrieval"]["sizes"]
    assert [s["chunks"] for s in sizes] == list(TINY.retrieval_sizes)
    assert {"p50", "p95"} <= set(sizes[0]["search_ms"])
    (threads,) = data["concurrency"]
    assert threads["mode"] == "scene-threads"
    assert [lv["sessions"] for lv in threads["levels"]] == list(TINY.levels)
    assert all({"turns_per_min", "latency_ms", "errors"} <= set(lv) for lv in threads["levels"])
    assert any(k.endswith("peak_rss_mb") for k in data["memory"])
    assert data["profile"]["turns"] == TINY.profile_turns and data["profile"]["parts_ms_per_turn"]
    assert png.stat().st_size > 10_000
