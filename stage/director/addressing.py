"""Who is being spoken to: a character named in a line answers next."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

_LEAD = r"(?:^|[.!?]\s+)(?:hey|hi|oh|okay|ok|well|listen|look|so|and|but)?[,\s]*"


def addressee(
    text: str, present: Sequence[str], names: Mapping[str, str], speaker: str, vocative: bool
) -> str:
    """The present character (id) addressed in ``text``, or "".

    People (``vocative=False``) address a character just by naming it; characters only by a vocative
    ("Max, look!", "...right, Max?"), so talking *about* someone does not hand them the floor.
    """
    best: tuple[int, str] | None = None
    for cid in present:
        if cid == speaker or cid not in names:
            continue
        name = re.escape(names[cid])
        pattern = rf"{_LEAD}{name}\b\s*[,!?]|,\s*{name}\s*[.!?]|@{name}\b" if vocative else rf"\b{name}\b"
        m = re.search(pattern, text, flags=re.IGNORECASE | re.MULTILINE)
        if m and (best is None or m.start() < best[0]):
            best = (m.start(), cid)
    return best[1] if best else ""
