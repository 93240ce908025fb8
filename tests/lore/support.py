"""Test helpers: the shipped lore loaded without the characters folder (only lore + plot are needed)."""

from __future__ import annotations

import random
import shutil
from collections.abc import Iterator
from pathlib import Path

import yaml

from stage.director.plot_schema import PlotSchema
from stage.errors import DataError
from stage.lore.parse import lore_files, parse_markdown
from stage.settings import ROOT, Settings
from stage.types import EVERYONE, LoreSection, Plot

LORE_DIR = ROOT / "lore"
PLOT_FILE = LORE_DIR / "plot.yaml"


def load_lore(lore_dir: Path = LORE_DIR, plot_file: Path = PLOT_FILE) -> tuple[Plot, tuple[LoreSection, ...]]:
    """Plot and lore sections with beat references resolved to positions (no persona cross-checks, so a
    test may delete a lore file that the plot's ``unlocks`` mention)."""
    problems: list[str] = []
    plot_data = yaml.safe_load(plot_file.read_text(encoding="utf-8"))
    plot = PlotSchema.model_validate(plot_data).to_plot(plot_file.name)
    sections = []
    for path in lore_files(lore_dir):
        for r in parse_markdown(path.read_text(encoding="utf-8"), f"lore/{path.name}", problems):
            m = r.meta
            visible = (m.visible_to,) if isinstance(m.visible_to, str) else tuple(m.visible_to)
            visible = (EVERYONE,) if EVERYONE in visible else visible
            position = plot.beat(m.from_beat).position
            sections.append(
                LoreSection(m.id, r.title, r.heading_path, r.text, r.source, r.line, tuple(m.tags), visible,
                            position, tuple(m.key_terms))
            )  # fmt: skip
    if problems:
        raise DataError(problems)
    return plot, tuple(sections)


def characters_of(plot: Plot, sections: tuple[LoreSection, ...]) -> list[str]:
    names = {who for b in plot.beats for who in b.present}
    names |= {who for s in sections for who in s.visible_to if who != EVERYONE}
    return sorted(names)


def copy_lore(dest: Path) -> Path:
    """A writable copy of lore/ (with plot.yaml) under ``dest``."""
    target = dest / "lore"
    shutil.copytree(LORE_DIR, target)
    return target


def write_lore(folder: Path, name: str, sections: list[dict[str, str]]) -> Path:
    """A small lore file: each section a dict with heading, id, visible_to, from_beat, text (and tags)."""
    folder.mkdir(parents=True, exist_ok=True)
    parts = [f"# {name.title()}\n"]
    for s in sections:
        parts.append(
            f"## {s['heading']}\n<!--\nid: {s['id']}\ntags: [{s.get('tags', 'test')}]\n"
            f"visible_to: {s['visible_to']}\nfrom_beat: {s['from_beat']}\n-->\n{s['text']}\n"
        )
    path = folder / f"{name}.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


def settings_for(home: Path, chroma_url: str = "", lore_dir: Path = LORE_DIR) -> Settings:
    return Settings(home=home, chroma_url=chroma_url, lore_dir=lore_dir, plot_file=lore_dir / "plot.yaml")


def lorem(words: int, seed: int) -> str:
    rng = random.Random(seed)
    vocab = (
        "lantern",
        "orchard",
        "tide",
        "spire",
        "signal",
        "harbour",
        "violet",
        "quiet",
        "engine",
        "thread",
    )
    return " ".join(rng.choice(vocab) for _ in range(words))


def paragraphs(n: int, words: int, seed: int) -> Iterator[str]:
    for i in range(n):
        yield lorem(words, seed + i).capitalize() + "."
