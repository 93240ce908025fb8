"""The results for people: one rich table (measured vs target), and the JSON file."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table


def _ms(x: float | None) -> str:
    return "—" if x is None else f"{x:,.0f} ms" if x >= 100 else f"{x:.1f} ms"


def _mark(ok: bool | None) -> str:
    return "" if ok is None else "[green]✓[/]" if ok else "[red]✗[/]"


def table(r: dict[str, Any]) -> Table:
    t = Table(title=f"stage bench ({r.get('mode')})", title_justify="left", show_lines=False)
    t.add_column("measure")
    t.add_column("stage", justify="right")
    t.add_column("baseline", justify="right")
    t.add_column("target", justify="right")
    t.add_column("", justify="center")
    o = r.get("overhead") or {}
    if o:
        t.add_row(
            "overhead: turn time, stage ÷ raw llama.cpp (median of per-turn ratios)",
            f"{o['per_turn_ratio']}×",
            f"{_ms(o['stage_turn_ms'])} vs {_ms(o['raw_turn_ms'])}",
            f"≤ {o['target']}×",
            _mark(o["ok"]),
        )
        t.add_row("overhead: per token (median)", f"{o['per_token_ratio']}×", "", "", "")
        t.add_row("overhead: one model call, seam ÷ raw", f"{o['seam_call_ratio']}×", "", "", "")
        extra = o.get("extra_ms") or {}
        t.add_row(
            "  extra per turn: retrieval / client+wrappers / rest",
            f"{_ms(extra.get('retrieval'))} / {_ms(extra.get('client_and_wrappers'))} / "
            f"{_ms(extra.get('director_prompt_guards_log'))}",
            "",
            "",
            "",
        )
        t.add_row("model calls per turn (1 + regenerations)", str(o["model_calls_per_turn"]), "", "", "")
    g = r.get("growth") or {}
    for turn, p in (g.get("checkpoints") or {}).items():
        naive = (
            "overflow"
            if p["naive_overflowed"]
            else f"{_ms(p['naive_ttft_ms'])}, {p['naive_prompt_tokens']} tok"
        )
        t.add_row(
            f"turn {turn}: TTFT, prompt tokens (stage vs naive)",
            f"{_ms(p['stage_ttft_ms'])}, {p['stage_prompt_tokens']:.0f} tok",
            naive,
            "",
            "",
        )
    if g:
        t.add_row(
            "TTFT at last checkpoint ÷ first (stage)",
            f"{g['stage_ttft_ratio_last_to_first']}×",
            f"naive overflows at turn {g['naive_overflow_turn'] or '—'}",
            f"≤ {g['target']}×",
            _mark(g["ok"]),
        )
        t.add_row(
            "prompt tokens, most in any turn",
            str(g["stage_prompt_tokens_max"]),
            str(g["naive_prompt_tokens_max"]),
            f"< {r['settings']['n_ctx']}",
            _mark(g["stage_prompt_tokens_max"] < r["settings"]["n_ctx"]),
        )
    ret = r.get("retrieval") or {}
    for s in ret.get("sizes") or []:
        big = s["chunks"] == ret.get("at_chunks")
        t.add_row(
            f"scoped search at {s['chunks']:,} chunks: p50 / p95",
            f"{_ms(s['search_ms']['p50'])} / {_ms(s['search_ms']['p95'])}",
            f"Chroma's filters {_ms((s.get('chroma_filters_search_ms') or {}).get('p50'))} / "
            f"{_ms((s.get('chroma_filters_search_ms') or {}).get('p95'))}",
            f"p95 ≤ {ret['target_p95_ms']} ms" if big else "",
            _mark(ret.get("ok")) if big else "",
        )
    srv = r.get("retrieval_server") or {}
    if srv.get("error"):
        t.add_row("scoped search, `chroma run` server", "[red]failed[/]", srv["error"][:60], "", "")
    for s in srv.get("sizes") or []:
        t.add_row(
            # the query embeddings are cached from the local run's searches, so compare with the embedding left out
            f"scoped search at {s['chunks']:,} chunks, `chroma run` server, query embedding cached: p50 / p95",
            f"{_ms(s['search_with_cached_embedding_ms']['p50'])} / {_ms(s['search_with_cached_embedding_ms']['p95'])}",
            f"its own filters {_ms(s['chroma_filters_search_ms']['p50'])}; indexing {s['index_chunks_per_s']} chunks/s",
            "",
            "",
        )
    for c in r.get("concurrency") or []:
        if c.get("error"):
            t.add_row(f"sessions ({c['mode']})", "[red]failed[/]", c["error"][:60], "", _mark(False))
        for lv in c.get("levels") or []:
            t.add_row(
                f"{lv['sessions']} session(s) ({c['mode']}): turns/min, p95, errors",
                f"{lv['turns_per_min']}/min, p95 {_ms(lv['latency_ms']['p95'])}",
                f"{lv['errors']} errors",
                "0 errors",
                _mark(lv["errors"] == 0),
            )
    rem = r.get("remote") or {}
    for lv in [*(rem.get("levels") or []), *([rem["baseline_one_at_a_time"]] if rem.get("baseline_one_at_a_time") else [])]:
        limit = "one call at a time (baseline)" if lv.get("limit") == 1 else f"limit {lv.get('limit')}"
        t.add_row(
            f"{lv['sessions']} session(s), remote endpoint with {rem['slots']} slots, {limit}: turns/min, p95",
            f"{lv['turns_per_min']}/min ({lv.get('speedup', '—')}× one session), p95 {_ms(lv['latency_ms']['p95'])}",
            f"{lv['errors']} errors; ideal {lv.get('ideal_speedup', '—')}×",
            "≥ 0.8 × ideal, 0 errors" if lv.get("limit") != 1 else "",
            _mark(lv["errors"] == 0 and (lv.get("speedup") or 0) >= 0.8 * (lv.get("ideal_speedup") or 0))
            if lv.get("limit") != 1
            else "",
        )
    alt = r.get("alternating") or {}
    if alt:
        a, one = alt["stage_slots"], alt["one_slot"]
        t.add_row(
            f"TTFT, {len(alt['characters'])} characters alternating: {a['slots']} slots vs 1 slot (p50 / p95)",
            f"{_ms(a['ttft_ms']['p50'])} / {_ms(a['ttft_ms']['p95'])}",
            f"{_ms(one['ttft_ms']['p50'])} / {_ms(one['ttft_ms']['p95'])}",
            "",
            "",
        )
    for lv in (alt.get("raw_ceiling") or {}).get("levels") or []:
        t.add_row(
            f"{lv['streams']} parallel stream(s), raw llama.cpp: calls/min, tokens/s",
            f"{lv['calls_per_min']}/min ({lv['speedup']}× one stream), {lv['tokens_per_s']} tok/s",
            f"{lv['errors']} errors",
            "",
            "",
        )
    for name, mb in (r.get("memory") or {}).items():
        if isinstance(mb, int | float) and name.endswith("_mb"):
            t.add_row(
                f"peak RSS: {name.replace('_peak_rss_mb', '').replace('_', ' ')}", f"{mb:,.0f} MB", "", "", ""
            )
    p = r.get("profile") or {}
    if p:
        t.add_row(
            "profiled turn: waiting on llama.cpp / stage CPU",
            f"{_ms(p['waiting_on_model_server_ms_per_turn'])} / {_ms(p['stage_cpu_ms_per_turn'])}",
            "",
            "",
            "",
        )
    return t


def print_table(results: dict[str, Any], console: Console | None = None) -> None:
    (console or Console()).print(table(results))


def write_json(results: dict[str, Any], path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(results, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
