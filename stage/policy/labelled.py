"""The policy's labelled set (``evals/safety.yaml``): messages people might type, and lines characters might say,
harmful or benign.

Harmful lines are grouped by harm and by how they are phrased (``Style``); benign ones by theme and style. The
dev half (for fitting and thresholds) and the test half (for reporting only) alternate within each group, so every
harm, theme and style sits in both halves; no line in the file is a re-spelling of another, so nothing crosses.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from stage.datafile import load_checked, relative
from stage.errors import DataError
from stage.policy.harms import Harm
from stage.settings import ROOT

SET_FILE = ROOT / "evals" / "safety.yaml"
Split = Literal["dev", "test"]


class Style(StrEnum):
    DIRECT = "direct"
    INDIRECT = "indirect"
    ROLEPLAY = "roleplay"
    MISSPELLED = "misspelled"
    SPACED = "spaced"
    LEETSPEAK = "leetspeak"
    FOREIGN = "foreign"
    STORY = "story"


Line = Annotated[str, StringConstraints(strip_whitespace=True, min_length=2, max_length=300)]
Theme = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z_]*$", max_length=30)]


class Side(StrEnum):
    TYPED = "typed"  # a message a person types to a character
    SAID = "said"  # a line a character says (what the model produced)


class SetSchema(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    description: Line
    harmful: dict[Harm, dict[Style, list[Line]]] = Field(min_length=1)
    benign: dict[Theme, dict[Style, list[Line]]] = Field(min_length=1)
    said_harmful: dict[Harm, dict[Style, list[Line]]] = Field(default_factory=dict)
    said_benign: dict[Theme, dict[Style, list[Line]]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Labelled:
    text: str
    harm: Harm | None  # None: benign
    group: str  # the harm, or the benign theme
    style: Style
    split: Split
    side: Side = Side.TYPED

    @property
    def harmful(self) -> bool:
        return self.harm is not None


def load_set(path: Path = SET_FILE) -> list[Labelled]:
    """Every line of the set, schema-checked; a repeated line is an error (it would sit in both halves)."""
    parsed = load_checked(SetSchema, path, "the labelled set")
    display = relative(path)
    problems: list[str] = []
    out: list[Labelled] = []
    groups: list[tuple[str, Harm | None, dict[Style, list[str]], Side]] = [
        *((h.value, h, styles, Side.TYPED) for h, styles in parsed.harmful.items()),
        *((theme, None, styles, Side.TYPED) for theme, styles in parsed.benign.items()),
        *((h.value, h, styles, Side.SAID) for h, styles in parsed.said_harmful.items()),
        *((theme, None, styles, Side.SAID) for theme, styles in parsed.said_benign.items()),
    ]
    seen: dict[str, str] = {}
    for group, harm, styles, side in groups:
        n = 0
        for style, lines in styles.items():
            for line in lines:
                key = " ".join(line.lower().split())
                if key in seen:
                    problems.append(f"{display}: {group}.{style}: {line!r} repeats a line of {seen[key]}")
                seen[key] = f"{group}.{style}"
                out.append(Labelled(line, harm, group, style, "dev" if n % 2 == 0 else "test", side))
                n += 1
    if problems:
        raise DataError(problems)
    return out


def half(lines: Sequence[Labelled], split: str, side: Side | None = None) -> list[Labelled]:
    return [x for x in lines if split in ("all", x.split) and side in (None, x.side)]


def digest(lines: Sequence[Labelled]) -> str:
    """A short hash of lines and labels: what a fitted head records it was fitted on."""
    h = hashlib.sha256()
    for x in lines:
        h.update(f"{x.text}\t{x.harm or ''}\t{x.split}\t{x.side}\n".encode())
    return h.hexdigest()[:16]
