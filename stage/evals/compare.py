"""The difference between two eval runs (``--compare OLD/results.json``): per metric, per suite, pass/fail."""

from __future__ import annotations

from typing import Any

from stage.evals.metrics import METRICS

KEY = (
    "leak_rate",
    "prompt_leak_rate",
    "attribution_errors",
    "break_character_rate",
    "repetition_rate",
    "distinct_2",
    "identifiability",
    "grounding",
    "relevance_lift",
    "fallback_rate",
    "turn_balance",
    "beats_completed",
    "latency_p95_ms",
    "ttft_p95_ms",
)


def verdict(metric: str, delta: float) -> str:
    """'better', 'worse' or '' (no change, or a metric with no good direction)."""
    direction = METRICS.get(metric, None)
    if delta == 0 or direction is None or metric.startswith("judge_"):
        return ""
    return "better" if (delta > 0) == direction else "worse"


def rows(
    old: dict[str, Any], new: dict[str, Any], keys: tuple[str, ...] = tuple(METRICS)
) -> list[dict[str, Any]]:
    out = []
    for k in keys:
        a, b = old.get(k), new.get(k)
        if a is None and b is None:
            continue
        delta = round(b - a, 4) if isinstance(a, int | float) and isinstance(b, int | float) else None
        out.append({"metric": k, "old": a, "new": b, "delta": delta, "verdict": verdict(k, delta or 0)})
    return out


def compare(old: dict[str, Any], new: dict[str, Any], source: str) -> dict[str, Any]:
    old_suites = {s["name"]: s for s in old.get("suites", [])}
    new_suites = {s["name"]: s for s in new.get("suites", [])}
    suites = []
    for name, s in new_suites.items():
        if name not in old_suites:
            continue
        o = old_suites[name]
        suites.append(
            {
                "name": name,
                "old_passed": o.get("passed"),
                "new_passed": s.get("passed"),
                "rows": [r for r in rows(o.get("metrics", {}), s.get("metrics", {}), KEY) if r["delta"]],
            }
        )
    return {
        "source": source,
        "old_created": old.get("created", ""),
        "totals": rows(old["totals"].get("metrics", {}), new["totals"].get("metrics", {})),
        "suites": suites,
        "added": sorted(set(new_suites) - set(old_suites)),
        "removed": sorted(set(old_suites) - set(new_suites)),
    }
