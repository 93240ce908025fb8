"""The results as one PNG: growth (TTFT, prompt tokens), overhead, retrieval, concurrency, profile."""

from __future__ import annotations

from pathlib import Path
from typing import Any

STAGE, NAIVE, RAW, TARGET = "#4f46e5", "#e11d48", "#64748b", "#16a34a"


def _series(turns: list[dict[str, Any]], key: str) -> tuple[list[int], list[float]]:
    pts = [(t["turn"], t[key]) for t in turns if t.get(key) is not None]
    return [p[0] for p in pts], [float(p[1]) for p in pts]


def _empty(ax: Any, title: str) -> None:
    ax.set_title(title, loc="left", fontsize=10, fontweight="bold")
    ax.text(0.5, 0.5, "not measured in this run", ha="center", va="center", transform=ax.transAxes, color=RAW)
    ax.set_xticks([])
    ax.set_yticks([])


def _ttft(ax: Any, r: dict[str, Any]) -> None:
    turns = r.get("turns") or []
    if not turns:
        return _empty(ax, "Time to first token by turn")
    x, y = _series(turns, "stage_ttft_ms")
    ax.plot(
        x, [v / 1000 for v in y], color=STAGE, lw=1.2, marker=".", label="stage (step start → first token)"
    )
    x, y = _series(turns, "naive_ttft_ms")
    ax.plot(x, [v / 1000 for v in y], color=NAIVE, lw=1.2, marker=".", label="naive loop (whole history)")
    cold = [(t["turn"], t["stage_ttft_ms"] / 1000) for t in turns if t.get("cold")]
    if cold:
        ax.scatter(
            *zip(*cold, strict=True), s=40, facecolors="none", edgecolors=STAGE, label="character's 1st turn"
        )
    _overflow(ax, r)
    ax.set_title("Time to first token by turn", loc="left", fontsize=10, fontweight="bold")
    ax.set_xlabel("turn")
    ax.set_ylabel("seconds")
    ax.legend(fontsize=7, loc="upper left")


def _overflow(ax: Any, r: dict[str, Any]) -> None:
    turn = (r.get("growth") or {}).get("naive_overflow_turn")
    if turn:
        ax.axvline(turn, color=NAIVE, ls=":", lw=1)
        ax.annotate(f"naive overflows\n{r['settings']['n_ctx']} ctx", (turn, 0.97), xycoords=("data", "axes fraction"),
                    fontsize=7, color=NAIVE, ha="right", va="top")  # fmt: skip


def _tokens(ax: Any, r: dict[str, Any]) -> None:
    turns = r.get("turns") or []
    if not turns:
        return _empty(ax, "Prompt tokens by turn")
    x, y = _series(turns, "stage_prompt_tokens")
    ax.plot(x, y, color=STAGE, lw=1.2, label="stage")
    pts = [(t["turn"], t["naive_prompt_tokens"]) for t in turns if t["naive_prompt_tokens"]]
    if pts:
        ax.plot(*zip(*pts, strict=True), color=NAIVE, lw=1.2, label="naive loop")
    ax.axhline(r["settings"]["n_ctx"], color=RAW, ls="--", lw=1)
    ax.text(1, r["settings"]["n_ctx"], " context limit", fontsize=7, color=RAW, va="bottom")
    _overflow(ax, r)
    ax.set_title("Prompt tokens by turn", loc="left", fontsize=10, fontweight="bold")
    ax.set_xlabel("turn")
    ax.set_ylabel("tokens")
    ax.legend(fontsize=7, loc="center left")


def _overhead(ax: Any, r: dict[str, Any]) -> None:
    turns = r.get("turns") or []
    if not turns:
        return _empty(ax, "Stage turn vs raw llama.cpp")
    x, y = _series(turns, "stage_ms")
    ax.plot(x, [v / 1000 for v in y], color=STAGE, lw=1.2, label="stage turn")
    x, y = _series(turns, "raw_ms")
    ax.plot(x, [v / 1000 for v in y], color=RAW, lw=1.2, ls="--", label="same calls, raw httpx")
    o = r.get("overhead") or {}
    ax.set_title(
        f"Turn time: stage vs the same calls raw\nmedian ratio {o.get('per_turn_ratio')}× (target ≤ {o.get('target')}×)",
        loc="left", fontsize=10, fontweight="bold",
    )  # fmt: skip
    ax.set_xlabel("turn")
    ax.set_ylabel("seconds per turn")
    ax.legend(fontsize=7, loc="upper left")


def _retrieval(ax: Any, r: dict[str, Any]) -> None:
    sizes = (r.get("retrieval") or {}).get("sizes") or []
    if not sizes:
        return _empty(ax, "Scoped lore search")
    labels = [f"{s['chunks']:,} chunks" for s in sizes]
    kinds = [
        ("search_ms", "whole search", STAGE),
        ("query_embedding_ms", "query embedding", "#f59e0b"),
        ("rank_ms", "snapshot ranking", "#0ea5e9"),
        ("chroma_filters_search_ms", "Chroma's filters (baseline)", "#a855f7"),
    ]
    kinds = [k for k in kinds if k[0] in sizes[0]]
    width = 0.8 / (2 * len(kinds))
    for k, (key, name, color) in enumerate(kinds):
        for j, q in enumerate(("p50", "p95")):
            xs = [i + (k * 2 + j - len(kinds) + 0.5) * width for i in range(len(sizes))]
            ys = [s[key][q] or 0 for s in sizes]
            ax.bar(
                xs,
                ys,
                width,
                color=color,
                alpha=1.0 if q == "p95" else 0.5,
                label=f"{name} ({q})",
                edgecolor="white",
            )
    target = (r.get("retrieval") or {}).get("target_p95_ms", 20)
    ax.axhline(target, color=TARGET, ls="--", lw=1)
    ax.text(-0.45, target, f" target p95 {target} ms", fontsize=7, color=TARGET, va="bottom")
    ax.set_xticks(range(len(sizes)), labels)
    ax.set_ylabel("milliseconds")
    ax.set_title(
        "Scoped lore search latency, log scale (p50 light, p95 dark)",
        loc="left",
        fontsize=10,
        fontweight="bold",
    )
    top = max([target] + [s[key]["p95"] or 0 for s in sizes for key, _n, _c in kinds])
    ax.set_yscale("log")  # the baseline is 10-30x the stage's search
    ax.set_ylim(0.05, top * 4)
    ax.legend(fontsize=6, ncol=2, loc="upper left")


def _concurrency(ax: Any, r: dict[str, Any]) -> None:
    runs = [c for c in r.get("concurrency") or [] if c.get("levels")]
    if not runs:
        return _empty(ax, "Simultaneous sessions")
    twin = ax.twinx()
    width = 0.8 / len(runs)
    colors = (STAGE, "#a5b4fc")
    for k, c in enumerate(runs):
        levels = c["levels"]
        xs = [i + (k - (len(runs) - 1) / 2) * width for i in range(len(levels))]
        tpm = [lv["turns_per_min"] or 0 for lv in levels]
        ax.bar(xs, tpm, width, color=colors[k % 2], label=f"turns/min ({c['mode']})")
        for x, y, lv in zip(xs, tpm, levels, strict=True):
            ax.text(
                x,
                y,
                f"{lv['errors']} err",
                ha="center",
                va="bottom",
                fontsize=7,
                color=NAIVE if lv["errors"] else RAW,
            )
        p95 = [(lv["latency_ms"]["p95"] or 0) / 1000 for lv in levels]
        twin.plot(
            xs,
            p95,
            color=NAIVE,
            marker="os"[k % 2],
            ls="-" if k == 0 else "--",
            label=f"p95 latency ({c['mode']})",
        )
    ax.set_xticks(range(len(runs[0]["levels"])), [str(lv["sessions"]) for lv in runs[0]["levels"]])
    ax.set_xlabel("simultaneous sessions")
    ax.set_ylabel("turns per minute (all sessions)")
    twin.set_ylabel("p95 latency per turn (s)", color=NAIVE)
    ax.set_title(
        "Simultaneous sessions: throughput and p95 latency", loc="left", fontsize=10, fontweight="bold"
    )
    h1, l1 = ax.get_legend_handles_labels()
    h2, l2 = twin.get_legend_handles_labels()
    ax.legend(h1 + h2, l1 + l2, fontsize=7, loc="upper center")
    ax.set_ylim(0, max(lv["turns_per_min"] or 0 for c in runs for lv in c["levels"]) * 1.4 or 1)


def _profile(ax: Any, r: dict[str, Any]) -> None:
    p = r.get("profile") or {}
    parts = dict(p.get("parts_ms_per_turn") or {})
    if not parts:
        return _empty(ax, "Where a turn's time goes")
    waiting = p.get("waiting_on_model_server_ms_per_turn", 0.0)
    seam = parts.pop("model call through the seam", 0.0)
    items = [("client CPU in the seam (LangChain, openai, httpx)", max(0.0, seam - waiting))]
    items += sorted(parts.items(), key=lambda kv: -kv[1])[:9]
    names = [k for k, _ in items][::-1]
    vals = [max(v, 0.01) for _, v in items][::-1]
    ax.barh(names, vals, color=STAGE)
    ax.set_xscale("log")
    for y, v in enumerate(vals):
        ax.text(v, y, f" {v:,.1f}", va="center", fontsize=7)
    ax.tick_params(axis="y", labelsize=7)
    ax.set_xlabel("ms per turn, cumulative (log scale)")
    ax.set_title(
        f"A turn under cProfile ({p.get('turns')} turns):\n{waiting / 1000:.1f} s waiting on llama.cpp, "
        f"{p.get('stage_cpu_ms_per_turn', 0):,.0f} ms stage CPU",
        loc="right",
        fontsize=10,
        fontweight="bold",
    )


def write_png(results: dict[str, Any], path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.ticker import MaxNLocator

    fig, axes = plt.subplots(2, 3, figsize=(18, 10), dpi=110)
    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    _ttft(axes[0][0], results)
    _tokens(axes[0][1], results)
    _overhead(axes[0][2], results)
    _retrieval(axes[1][0], results)
    _concurrency(axes[1][1], results)
    _profile(axes[1][2], results)
    m = results.get("machine") or {}
    s = results.get("settings") or {}
    fig.suptitle(
        f"stage bench ({results.get('mode')}) — {m.get('cpu')}, {m.get('cores')} cores, {m.get('memory_gib')} GiB, "
        f"load {m.get('load_average_at_start')}; SmolLM2-135M Q4_1, max_tokens {s.get('max_tokens')}, "
        f"temperature {s.get('temperature')}, seed {s.get('seed')}",
        fontsize=11,
    )
    fig.tight_layout(rect=(0, 0, 1, 0.96))
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path
