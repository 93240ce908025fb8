"""The bench's table as a person reads it: the ratios it prints are the ratios of the timings it was given.

Every timing here is made up and known, so each printed number can be worked out by hand from the inputs.
"""

from __future__ import annotations

import io
import re
import statistics

from rich.console import Console

from stage.bench.report import print_table
from stage.bench.turns import growth, overhead
from tests.bench.records import record, results


def _rows(r: dict[str, object]) -> dict[str, list[str]]:
    """The printed table, row label -> the other cells, as plain text."""
    buf = io.StringIO()
    print_table(r, Console(file=buf, width=300, color_system=None, force_terminal=False))
    rows: dict[str, list[str]] = {}
    for line in buf.getvalue().splitlines():
        cells = [c.strip() for c in line.split("│")]
        if len(cells) >= 6 and cells[1]:  # a bordered row: "", label, stage, baseline, target, mark, ""
            rows[cells[1]] = cells[2:-1]
    return rows


def _row(rows: dict[str, list[str]], prefix: str) -> list[str]:
    (label,) = [k for k in rows if k.startswith(prefix)]
    return rows[label]


def _ratio(cell: str) -> float:
    m = re.fullmatch(r"([\d.]+)×", cell)
    assert m, cell
    return float(m.group(1))


def _ms(text: str) -> list[float]:
    """Every ``1,234 ms`` / ``12.5 ms`` in ``text``, in order."""
    return [float(x.replace(",", "")) for x in re.findall(r"([\d,]+(?:\.\d+)?) ms", text)]


def _overhead_table(pairs: list[tuple[float, float]]) -> tuple[dict[str, object], list[str]]:
    records = [record(n, stage_ms=s, raw_ms=r, seam_ms=r + 5) for n, (s, r) in enumerate(pairs, start=1)]
    o = overhead(records)
    return o, _row(_rows(results(records, overhead=o)), "overhead: turn time")


def test_a_constant_overhead_prints_as_the_ratio_of_the_two_timings_it_shows() -> None:
    raw = [800.0, 1000.0, 1250.0, 2000.0, 500.0]
    o, (stage, baseline, target, mark) = _overhead_table([(1.08 * r, r) for r in raw])
    stage_ms, raw_ms = _ms(baseline)
    assert (stage_ms, raw_ms) == (1080.0, statistics.median(raw))  # the medians, printed in full ms
    assert _ratio(stage) == round(stage_ms / raw_ms, 3) == 1.08
    assert target == f"≤ {o['target']}×" and mark == "✓"  # 1.08 is within the 1.10 target


def test_the_overhead_ratio_is_the_median_of_per_turn_ratios_and_its_mark_follows_the_target() -> None:
    """Turn by turn the two sides are paired, so the row's ratio is the median of the per-turn ratios (as
    bench/README.md says); the two timings beside it are each side's own median. With uneven ratios they differ,
    and the JSON keeps the ratio of the medians too."""
    pairs = [(1000.0, 500.0), (1500.0, 1000.0), (1100.0, 1000.0), (2400.0, 2000.0), (700.0, 1000.0)]
    o, (stage, baseline, _target, mark) = _overhead_table(pairs)
    per_turn = statistics.median(s / r for s, r in pairs)
    stage_ms, raw_ms = _ms(baseline)
    assert _ratio(stage) == round(per_turn, 3) == 1.2
    assert (stage_ms, raw_ms) == (
        statistics.median(s for s, _ in pairs),
        statistics.median(r for _, r in pairs),
    )
    assert o["ratio_of_medians"] == round(stage_ms / raw_ms, 3) == 1.1
    assert mark == "✗" and o["ok"] is False  # 1.2 is over the 1.10 target


def test_growth_rows_print_the_window_medians_and_their_ratio() -> None:
    """TTFT at each checkpoint is the median over the window ending there, leaving out a character's first
    turn; the ratio row is the last checkpoint's TTFT over the first one's."""
    ttft = {1: 9000.0, 2: 400.0, 3: 500.0, 4: 600.0, 5: 700.0, 6: 640.0, 7: 800.0, 8: 900.0}
    speakers = {1: "lyra", 2: "lyra", 3: "max", 4: "max", 5: "lyra", 6: "max", 7: "lyra", 8: "max"}
    seen: set[str] = set()
    records = []
    for n, ms in ttft.items():
        records.append(record(n, speaker=speakers[n], cold=speakers[n] not in seen, stage_ttft_ms=ms))
        seen.add(speakers[n])
    g = growth(records, (4, 8), window=3)
    rows = _rows(results(records, growth=g))
    first = statistics.median([ttft[2], ttft[4]])  # turns 2-4 less turn 3, max's first turn
    last = statistics.median([ttft[6], ttft[7], ttft[8]])
    (at_4,) = _ms(_row(rows, "turn 4: TTFT")[0])
    (at_8,) = _ms(_row(rows, "turn 8: TTFT")[0])
    assert (at_4, at_8) == (first, last) == (500.0, 800.0)
    stage, _naive, target, mark = _row(rows, "TTFT at last checkpoint")
    assert _ratio(stage) == round(at_8 / at_4, 3) == round(last / first, 3)
    assert target == f"≤ {g['target']}×" and mark == "✗"  # 1.6 is over the 1.3 target


def test_prompt_token_row_marks_a_stage_prompt_at_the_context_limit() -> None:
    n_ctx = results([])["settings"]["n_ctx"]  # type: ignore[index]
    under = [record(1, stage_prompt_tokens=900, naive_prompt_tokens=n_ctx - 1), record(2)]
    at_limit = [record(1, stage_prompt_tokens=n_ctx, naive_prompt_tokens=300), record(2)]
    for records, mark in ((under, "✓"), (at_limit, "✗")):
        g = growth(records, (1, 2), window=1)
        stage, naive, target, printed_mark = _row(_rows(results(records, growth=g)), "prompt tokens, most")
        assert int(stage) == max(r.stage_prompt_tokens for r in records)
        assert int(naive) == max(r.naive_prompt_tokens for r in records)
        assert target == f"< {n_ctx}" and printed_mark == mark
