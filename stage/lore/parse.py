"""The world bible's format: markdown ``## Heading`` sections, each followed by a YAML metadata HTML comment.

## How the Dream Network works
<!--
id: network-how-it-works
tags: [network]
visible_to: everyone          # or [zara, camille]
from_beat: bedtime            # beat id or 1-based position
key_terms: ["dream lattice"]  # terms whose mention reveals this section (used by evals)
-->
Text, with ### sub-headings that belong to the section.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from stage.cast.schema import Id
from stage.datafile import validate

META_RE = re.compile(r"\A\s*<!--(.*?)-->", re.DOTALL)
Term = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=2)]


class SectionMeta(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Id
    tags: list[Id] = Field(default_factory=list)
    visible_to: Id | list[Id]
    from_beat: Id | int
    key_terms: list[Term] = Field(default_factory=list)


@dataclass(frozen=True)
class RawSection:
    """A section as read, before beat references are resolved against the plot."""

    meta: SectionMeta
    title: str
    heading_path: tuple[str, ...]
    text: str
    source: str
    line: int


def parse_markdown(text: str, display: str, problems: list[str]) -> list[RawSection]:
    """Split a lore file into sections; append a message per malformed one (and keep going)."""
    lines = text.splitlines()
    title = ""
    heads: list[int] = []
    for i, line in enumerate(lines):
        if line.startswith("# ") and not title and not heads:
            title = line[2:].strip()
        elif line.startswith("## "):
            heads.append(i)
    if not heads:
        problems.append(
            f"{display}: expected at least one '## Heading' section with a <!-- metadata --> block"
        )
        return []
    before = "\n".join(lines[: heads[0]]).strip()
    if before and not before.startswith("# "):
        problems.append(f"{display}:1: text before the first '## ' section belongs to no section")
    sections = []
    for n, start in enumerate(heads):
        end = heads[n + 1] if n + 1 < len(heads) else len(lines)
        heading = lines[start][3:].strip()
        body = "\n".join(lines[start + 1 : end])
        where = f"{display}:{start + 1}"
        match = META_RE.match(body)
        if not match:
            problems.append(
                f"{where}: section '{heading}': expected a <!-- ... --> metadata block under the heading"
            )
            continue
        try:
            data = yaml.safe_load(match.group(1))
        except yaml.YAMLError as exc:
            problems.append(f"{where}: section '{heading}': invalid YAML in the metadata block: {exc}")
            continue
        meta = validate(SectionMeta, data, f"{where}: section '{heading}'", None, problems)
        if meta is None:
            continue
        prose = body[match.end() :].strip()
        if not prose:
            problems.append(f"{where}: section '{heading}': expected text after the metadata block, got none")
            continue
        path = (title, heading) if title else (heading,)
        sections.append(RawSection(meta, heading, path, prose, display, start + 1))
    return sections


def lore_files(lore_dir: Path) -> list[Path]:
    return sorted(p for p in lore_dir.glob("*.md") if p.name.lower() != "readme.md")
