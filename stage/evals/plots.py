"""The report's plots as base64 PNGs (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping, Sequence
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

PROBLEMS = (
    "leak_rate",
    "prompt_leak_rate",
    "break_character_rate",
    "scaffold_rate",
    "repetition_rate",
    "fallback_rate",
    "regeneration_rate",
)
QUALITY = ("identifiability", "grounding", "distinct_2")
OUTCOME_COLORS = {"exit": "#2e7d32", "budget": "#f9a825", "writer": "#1565c0", "open": "#9e9e9e"}
plt.rcParams.update({"font.size": 9, "axes.spines.top": False, "axes.spines.right": False})


def _png(fig: Any) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _label(metric: str) -> str:
    return metric.replace("_rate", "").replace("_", " ")


def per_character(
    per_char: Mapping[str, Mapping[str, Any]], names: Mapping[str, str], colors: Mapping[str, str]
) -> str:
    chars = list(per_char)
    fig, axes = plt.subplots(
        1, 2, figsize=(11.5, 3.6), gridspec_kw={"width_ratios": [len(PROBLEMS), len(QUALITY)]}
    )
    width = 0.8 / max(1, len(chars))
    for ax, metrics, title in (
        (axes[0], PROBLEMS, "Problems per turn (lower is better)"),
        (axes[1], QUALITY, "Quality (higher is better)"),
    ):
        for i, cid in enumerate(chars):
            values = [per_char[cid].get(m) or 0.0 for m in metrics]
            xs = [j + (i - (len(chars) - 1) / 2) * width for j in range(len(metrics))]
            ax.bar(xs, values, width, label=names.get(cid, cid), color=colors.get(cid, None))
        ax.set_xticks(range(len(metrics)), [_label(m).replace(" ", "\n") for m in metrics])
        if all(not (per_char[c].get(m) or 0.0) for c in chars for m in metrics):
            ax.text(0.5, 0.5, "all zero", transform=ax.transAxes, ha="center", color="#2e7d32", fontsize=12)
        ax.set_ylim(0, 1)
        ax.set_title(title, loc="left", fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    if chars:  # a quiz-only run has no turns per character, so nothing to name in a legend
        axes[1].legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return _png(fig)


def per_beat(
    per_beat: Mapping[str, Mapping[str, Any]],
    outcome_counts: Mapping[str, Mapping[str, int]],
    positions: Mapping[str, int],
) -> str:
    beats = list(per_beat)
    labels = [f"{positions.get(b, 0)}. {b}" for b in beats]
    fig, axes = plt.subplots(2, 1, figsize=(11, 5.2), sharex=True)
    bottom = [0.0] * len(beats)
    for outcome, color in OUTCOME_COLORS.items():
        counts = [float(outcome_counts.get(b, {}).get(outcome, 0)) for b in beats]
        if any(counts):
            axes[0].bar(labels, counts, bottom=bottom, color=color, label=outcome)
            bottom = [a + c for a, c in zip(bottom, counts, strict=True)]
    axes[0].set_title("How each stay in a beat ended", loc="left", fontsize=10)
    axes[0].set_ylabel("stays")
    if beats:  # a run with no suites (only the quiz or the labelled set) has no beats to label
        axes[0].legend(frameon=False, ncol=4, loc="lower right", bbox_to_anchor=(1.0, 1.0))
    for metric, style in (
        ("turn_balance", "o-"),
        ("identifiability", "s--"),
        ("leak_rate", "x:"),
        ("grounding", "d-."),
    ):
        ys = [per_beat[b].get(metric) for b in beats]
        axes[1].plot(labels, [float("nan") if y is None else y for y in ys], style, label=_label(metric))
    axes[1].set_ylim(-0.02, 1.05)
    axes[1].set_title("Per beat (0-1)", loc="left", fontsize=10)
    axes[1].legend(frameon=False, ncol=4, loc="lower right", bbox_to_anchor=(1.0, 1.0))
    axes[1].grid(axis="y", alpha=0.3)
    plt.setp(axes[1].get_xticklabels(), rotation=30, ha="right")
    return _png(fig)


def latency(turns: Sequence[Mapping[str, Any]]) -> str:
    lat = [float(t["latency_ms"]) for t in turns]
    ttft = [float(t["ttft_ms"]) for t in turns]
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.0))
    for ax, values, title, color in (
        (axes[0], ttft, "Time to first token (ms)", "#6a1b9a"),
        (axes[1], lat, "Turn latency, all attempts (ms)", "#00838f"),
    ):
        if values:
            ax.hist(values, bins=min(30, max(5, len(values) // 3)), color=color, alpha=0.85)
            for q, ls in ((50, "-"), (95, "--")):
                v = float(np.percentile(values, q))  # as the metrics compute it
                ax.axvline(v, color="black", linestyle=ls, linewidth=1)
                ax.annotate(f"p{q} {v:.0f}", (v, ax.get_ylim()[1] * (0.9 if q == 50 else 0.75)), fontsize=8)
        ax.set_title(title, loc="left", fontsize=10)
        ax.set_ylabel("turns")
    return _png(fig)


def quiz(
    per_character: Mapping[str, Mapping[str, Any]],
    per_split: Mapping[str, Mapping[str, Mapping[str, Any]]],
    names: Mapping[str, str],
    colors: Mapping[str, str],
) -> str:
    """Knowledge-quiz accuracy per character (one bar per half of the quiz when both were asked)."""
    chars = list(per_character)
    splits = [s for s in ("dev", "test") if s in per_split] or ["all"]
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    width = 0.8 / len(splits)
    for j, split in enumerate(splits):
        source = per_split.get(split, per_character) if split != "all" else per_character
        values = [(source.get(c) or {}).get("rate") or 0.0 for c in chars]
        xs = [i + (j - (len(splits) - 1) / 2) * width for i in range(len(chars))]
        bars = ax.bar(
            xs, values, width, label=split, color=[colors.get(c, "#888") for c in chars], alpha=1.0 - 0.45 * j
        )
        for bar, v in zip(bars, values, strict=True):
            ax.text(bar.get_x() + bar.get_width() / 2, v + 0.02, f"{v:.0%}", ha="center", fontsize=8)
    ax.axhline(0.9, color="#2e7d32", lw=1, ls="--", label="goal 90%")
    ax.set_xticks(range(len(chars)), [names.get(c, c) for c in chars])
    ax.set_ylim(0, 1.1)
    ax.set_ylabel("right answers")
    ax.set_title("Knowledge quiz: plain questions about their own lives")
    ax.legend(fontsize=8, loc="upper right")
    return _png(fig)


def safety(per_harm: Mapping[str, Mapping[str, Any]], per_theme: Mapping[str, float | None]) -> str:
    """The content policy on its labelled set: harmful lines caught per harm, benign lines refused per theme."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.4))
    harms = list(per_harm)
    caught = [per_harm[h].get("recall") or 0.0 for h in harms]
    left.barh(harms, caught, color="#3a6ea5")
    left.axvline(0.98, color="#2e7d32", lw=1, ls="--", label="goal 98%")
    left.set_xlim(0, 1.05)
    left.invert_yaxis()
    left.set_title("harmful lines caught", fontsize=10)
    left.legend(fontsize=8, loc="lower left")
    themes = list(per_theme)
    refused = [per_theme[t] or 0.0 for t in themes]
    right.barh(themes, refused, color="#c0392b")
    right.axvline(0.02, color="#2e7d32", lw=1, ls="--", label="limit 2%")
    right.set_xlim(0, max(0.1, max(refused, default=0) * 1.2))
    right.invert_yaxis()
    right.set_title("benign lines wrongly refused", fontsize=10)
    right.legend(fontsize=8, loc="lower right")
    for ax, vals in ((left, caught), (right, refused)):
        for i, v in enumerate(vals):
            ax.text(v, i, f" {v:.0%}", va="center", fontsize=8)
    fig.tight_layout()
    return _png(fig)
