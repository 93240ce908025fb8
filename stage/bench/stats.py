"""Small summaries of timing samples: medians, percentiles, ratios (NaN-free, empty-safe)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (0-100), linearly interpolated; ``None`` for no samples."""
    xs = sorted(v for v in values if not math.isnan(v))
    if not xs:
        return None
    if len(xs) == 1:
        return xs[0]
    pos = (len(xs) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def median(values: Iterable[float]) -> float | None:
    return percentile(values, 50)


def ratio(a: float | None, b: float | None) -> float | None:
    if a is None or b is None or b <= 0:
        return None
    return a / b


def summary(values: Sequence[float], digits: int = 2) -> dict[str, float | int | None]:
    """n, p50, p95, min and max of ``values``, rounded."""
    return {
        "n": len(values),
        "p50": rounded(percentile(values, 50), digits),
        "p95": rounded(percentile(values, 95), digits),
        "min": rounded(min(values), digits) if values else None,
        "max": rounded(max(values), digits) if values else None,
    }


def rounded(x: float | None, digits: int = 2) -> float | None:
    return None if x is None else round(x, digits)
