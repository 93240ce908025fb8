"""The bench's PNG: the file is a picture of the figure drawn, and the figure plots the numbers it was given."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.image
import matplotlib.pyplot as plt
import pytest

from stage.bench.plot import write_png
from stage.bench.turns import growth, overhead
from tests.bench.records import overflowed, record, results


def _synthetic() -> dict[str, Any]:
    """Eight turns; the naive loop overflows at turn 7; two concurrency levels; one lore size; no profile."""
    records = [
        record(n, stage_ttft_ms=500.0 + 10 * n, stage_prompt_tokens=800 + n, stage_ms=1000.0 + 50 * n,
               raw_ms=900.0 + 40 * n, naive_prompt_tokens=500 + 600 * n, naive_ttft_ms=400.0 + 100 * n)
        if n < 7
        else overflowed(n, stage_ttft_ms=500.0 + 10 * n, stage_prompt_tokens=800 + n)
        for n in range(1, 9)
    ]  # fmt: skip
    levels = [
        {"sessions": 1, "turns_per_min": 12.0, "latency_ms": {"p95": 2000.0}, "errors": 0},
        {"sessions": 4, "turns_per_min": 30.0, "latency_ms": {"p95": 6000.0}, "errors": 1},
    ]
    size = {
        "chunks": 1000,
        "search_ms": {"p50": 2.0, "p95": 5.0},
        "chroma_filters_search_ms": {"p50": 30.0, "p95": 60.0},
    }
    return results(
        records,
        overhead=overhead(records),
        growth=growth(records, (4, 8), window=2),
        concurrency=[{"mode": "scene-threads", "levels": levels}],
        retrieval={"target_p95_ms": 20.0, "at_chunks": 1000, "sizes": [size]},
    )


@pytest.fixture(scope="module")
def drawn(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[dict[str, Any], Path, Any]]:
    """The results, the PNG written from them, and the figure it was saved from (kept open to inspect)."""
    kept: list[Any] = []
    r = _synthetic()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(plt, "close", kept.append)  # write_png closes its figure after saving it
        png = write_png(r, tmp_path_factory.mktemp("plot") / "out" / "results.png")
    (fig,) = kept
    yield r, png, fig
    plt.close(fig)


def _axes(fig: Any, title: str) -> Any:
    (ax,) = [a for a in fig.axes if a.get_title(loc="left").startswith(title)]
    return ax


def _line(ax: Any, label: str) -> tuple[list[float], list[float]]:
    (line,) = [ln for ln in ax.get_lines() if ln.get_label() == label]
    return [float(x) for x in line.get_xdata()], [float(y) for y in line.get_ydata()]


def test_the_png_is_the_figure_at_its_size(drawn: tuple[dict[str, Any], Path, Any]) -> None:
    r, png, fig = drawn
    head = png.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    assert (width, height) == tuple(round(v * fig.dpi) for v in fig.get_size_inches())
    assert matplotlib.image.imread(png).shape[:2] == (height, width)
    assert fig.get_suptitle().startswith(f"stage bench ({r['mode']})")
    assert len(fig.axes) == 7  # six panels and the concurrency panel's latency axis


def test_the_growth_panels_plot_the_turns_given(drawn: tuple[dict[str, Any], Path, Any]) -> None:
    r, _png, fig = drawn
    turns = r["turns"]
    tokens = _axes(fig, "Prompt tokens by turn")
    assert _line(tokens, "stage") == (
        [t["turn"] for t in turns],
        [float(t["stage_prompt_tokens"]) for t in turns],
    )
    naive_x, naive_y = _line(tokens, "naive loop")  # stops where the naive loop overflowed
    assert naive_x == [t["turn"] for t in turns if not t["naive_overflow"]] == [1, 2, 3, 4, 5, 6]
    assert naive_y == [float(t["naive_prompt_tokens"]) for t in turns[:6]]
    n_ctx = r["settings"]["n_ctx"]
    flat = [ln for ln in tokens.get_lines() if list(ln.get_ydata()) == [n_ctx, n_ctx]]
    assert len(flat) == 1  # the context limit
    overflow = [ln for ln in tokens.get_lines() if list(ln.get_xdata()) == [7, 7]]
    assert len(overflow) == 1 and r["growth"]["naive_overflow_turn"] == 7

    ttft = _axes(fig, "Time to first token by turn")
    _x, stage_s = _line(ttft, "stage (step start → first token)")
    assert stage_s == pytest.approx([t["stage_ttft_ms"] / 1000 for t in turns])
    _x, naive_s = _line(ttft, "naive loop (whole history)")
    assert naive_s == pytest.approx([t["naive_ttft_ms"] / 1000 for t in turns[:6]])


def test_the_overhead_and_concurrency_panels_carry_their_numbers(
    drawn: tuple[dict[str, Any], Path, Any],
) -> None:
    r, _png, fig = drawn
    over = _axes(fig, "Turn time: stage vs the same calls raw")
    assert f"median ratio {r['overhead']['per_turn_ratio']}×" in over.get_title(loc="left")
    _x, stage_s = _line(over, "stage turn")
    _x, raw_s = _line(over, "same calls, raw httpx")
    assert stage_s == pytest.approx([t["stage_ms"] / 1000 for t in r["turns"]])
    assert raw_s == pytest.approx([t["raw_ms"] / 1000 for t in r["turns"]])

    levels = r["concurrency"][0]["levels"]
    conc = _axes(fig, "Simultaneous sessions")
    assert [p.get_height() for p in conc.patches] == [lv["turns_per_min"] for lv in levels]
    assert [t.get_text() for t in conc.get_xticklabels()] == [str(lv["sessions"]) for lv in levels]
    assert [t.get_text() for t in conc.texts] == [f"{lv['errors']} err" for lv in levels]

    profile = _axes(fig, "Where a turn's time goes")  # nothing measured: said, not drawn
    assert [t.get_text() for t in profile.texts] == ["not measured in this run"] and not profile.patches


def test_the_retrieval_panel_has_a_bar_per_measure_and_the_target(
    drawn: tuple[dict[str, Any], Path, Any],
) -> None:
    r, _png, fig = drawn
    ret = r["retrieval"]
    (size,) = ret["sizes"]
    ax = _axes(fig, "Scoped lore search latency")
    bars = {c.get_label(): [p.get_height() for p in c] for c in ax.containers}
    assert bars == {
        "whole search (p50)": [size["search_ms"]["p50"]],
        "whole search (p95)": [size["search_ms"]["p95"]],
        "Chroma's filters (baseline) (p50)": [size["chroma_filters_search_ms"]["p50"]],
        "Chroma's filters (baseline) (p95)": [size["chroma_filters_search_ms"]["p95"]],
    }
    target = ret["target_p95_ms"]
    assert [list(ln.get_ydata()) for ln in ax.get_lines()] == [[target, target]]
    assert [t.get_text() for t in ax.get_xticklabels()] == [f"{size['chunks']:,} chunks"]
