"""``stage import``: cards and lorebooks into a story folder, all or nothing.

Every file is read, mapped and screened first; the new files are then checked together with the story as it is
(in a scratch copy, by the same ``load_story`` that ``stage check`` runs) and only written when all of it is valid.
A story folder that does not exist yet is created, with a one-beat plot, so an imported card plays at once.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import yaml

from stage.cards.read import CardError, RawCard, read_card
from stage.cards.screen import persona_texts, screen
from stage.cards.to_story import (
    BEAT,
    Character,
    Report,
    Section,
    book_sections,
    character,
    lore_markdown,
    one_beat_plot,
    persona_yaml,
    slug,
)
from stage.cast.schema import persona_of
from stage.datafile import relative
from stage.errors import DataError
from stage.story import Sources, load_story
from stage.types import Story

MET = "Someone you have just met."  # the relationship written between cards imported into one new scene


@dataclass(frozen=True)
class Imported:
    written: tuple[Path, ...]
    reports: tuple[tuple[str, Report], ...]  # (file shown, what went where)
    story: Path
    made_plot: bool


def plot_path(story: Path) -> Path | None:
    return next((p for p in (story / "plot.yaml", story / "lore" / "plot.yaml") if p.is_file()), None)


def import_cards(paths: Sequence[Path], story: Path, *, embed: Any = None, policy: Any = None) -> Imported:
    """Read, map, screen and check everything; write it all or raise ``CardError``/``DataError`` (nothing written)."""
    if not paths:
        raise CardError("stage import: expected at least one card or lorebook file")
    if story.exists() and not story.is_dir():
        raise CardError(f"{relative(story)}: expected a story folder (or a new one's name), got a file")
    taken = {p.stem for p in (story / "characters").glob("*.y*ml")}
    lore_taken = {p.stem for p in (story / "lore").glob("*.md")}
    existing_lore = lore_ids_in(story)  # read once: the story's own files, not what this run adds
    existing_plot = plot_path(story)
    beat_ids, on_stage = _beats(existing_plot)
    # characters first: a lorebook's section that only they may know needs them known, whatever the order given
    cards = sorted((read_card(p) for p in paths), key=lambda c: c.is_book)
    cast: dict[str, Character] = {}
    files: dict[Path, str] = {}
    reports: list[tuple[str, Report]] = []
    lore_ids: list[str] = []
    report_of: dict[str, Report] = {}
    for card in cards:
        report = Report()
        if card.is_book:
            prefix = slug(card.source.stem, lore_taken, fallback="lore")
            sections = _settle(book_sections(card, prefix, report), existing_lore, taken | set(cast), beat_ids, report)
            name = str(card.data.get("name") or card.source.stem)
            files[story / "lore" / f"{prefix}.md"] = lore_markdown(name, sections)
            lore_taken.add(prefix)
            lore_ids += [s.id for s in sections]
            _screen(card, [(f"entries ({s.title})", s.text) for s in sections], embed, policy)
        else:
            pid = slug(str(card.data.get("name") or card.source.stem), taken | set(cast))
            c = character(card, pid, report)
            c = replace(c, lore=tuple(_settle(list(c.lore), existing_lore, taken | {pid}, beat_ids, report)))
            _screen(card, _persona_texts(c), embed, policy)
            cast[pid] = c
            report_of[pid] = report
            if c.lore:
                stem = slug(f"{pid}-card", lore_taken, fallback="lore")
                files[story / "lore" / f"{stem}.md"] = lore_markdown(f"{c.persona['name']}'s card", c.lore)
                lore_taken.add(stem)
                lore_ids += [s.id for s in c.lore]
        reports.append((card.name, report))
    made_plot = existing_plot is None
    known = taken | set(cast)
    for pid, c in cast.items():
        report = report_of[pid]
        _fit(c, pid, known, beat_ids | ({BEAT} if made_plot else set()), report)
        if made_plot and len(cast) > 1:
            for other in cast:
                if other != pid and other not in c.persona.setdefault("relationships", {}):
                    c.persona["relationships"][other] = MET
                    report.put(f"relationships.{other}: the card does not say; wrote {MET!r} (edit it)")
        elif not made_plot and pid not in on_stage:
            report.put(f"in no beat of {relative(existing_plot or story)} yet: add {pid!r} to a beat's present list")
        files[story / "characters" / f"{pid}.yaml"] = persona_yaml(c)
    if made_plot:
        if not cast:
            raise CardError(f"{relative(story)}: has no plot and no characters; import a character card first")
        title = " and ".join(str(c.persona["name"]) for c in cast.values())
        plot = one_beat_plot(title, cast, lore_ids)
        header = "# A one-beat plot made by `stage import` from the card's scenario: add beats as the story grows.\n"
        files[story / "plot.yaml"] = header + yaml.safe_dump(plot, sort_keys=False, allow_unicode=True, width=1000)
    _check(story, files)
    written = _write(files)
    return Imported(tuple(written), tuple(reports), story, made_plot)


def card_persona(path: Path, story: Story, *, embed: Any = None, policy: Any = None) -> tuple[dict[str, Any], Report]:
    """A dropped card as a persona for one scene: read, mapped and screened like an import, checked against the
    persona schema, and fitted to ``story`` (relationships and arc only with who and what it has). Its lore
    stays out: a scene's lore is the story's index; ``stage import`` brings a card's lore into the story."""
    card = read_card(path)
    if card.is_book:
        raise CardError(f"{card.name}: this is a lorebook, not a character; `stage import` adds it to a story")
    report = Report()
    pid = slug(str(card.data.get("name") or card.source.stem), set(story.personas))
    c = character(card, pid, report)
    _screen(card, _persona_texts(c), embed, policy)
    _fit(c, pid, set(story.personas) | {pid}, {b.id for b in story.plot.beats}, report)
    if c.lore:
        report.skip(f"lore: {len(c.lore)} section(s) not used in this scene; `stage import` adds them to a story")
    persona_of(c.persona, card.name)
    return c.persona, report


def lore_ids_in(story: Path) -> set[str]:
    """The ids of the story's lore sections, read from their metadata blocks."""
    ids: set[str] = set()
    for path in (story / "lore").glob("*.md"):
        ids |= set(re.findall(r"^id:\s*([a-z][a-z0-9_-]*)", path.read_text(encoding="utf-8", errors="replace"), re.M))
    return ids


def _settle(sections: list[Section], existing: set[str], known: set[str], beats: set[str], report: Report) -> list[Section]:
    """Sections restored from this stage's export: one the story has already is left out, and so is one only
    characters this story lacks may know (a secret never becomes everyone's); a beat the story lacks falls back
    to the first."""
    out = []
    for s in sections:
        if s.id in existing:
            report.skip(f"lore {s.id!r}: the story has it already; left out")
            continue
        vis = s.visible_to
        if not isinstance(vis, str) and not set(vis) <= known:
            vis = tuple(v for v in vis if v in known)
            if not vis:
                report.skip(f"lore {s.id!r}: only {', '.join(s.visible_to)} may know it, and this story lacks them; left out")
                continue
        beat = s.from_beat if s.from_beat in beats or s.from_beat == 1 else 1  # a beat by id, this story's
        if (vis, beat) != (s.visible_to, s.from_beat):
            report.skip(f"lore {s.id!r}: names people or a beat not in this story; visible to {vis}, from beat {beat}")
        out.append(replace(s, visible_to=vis, from_beat=beat))
    return out


def _beats(plot: Path | None) -> tuple[set[str], set[str]]:
    """The plot's beat ids, and everyone present in some beat."""
    if plot is None:
        return set(), set()
    try:
        doc = yaml.safe_load(plot.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return set(), set()  # the check below reports the plot's own problems
    beats = [b for b in doc.get("beats", []) if isinstance(b, dict)] if isinstance(doc, dict) else []
    return {str(b.get("id")) for b in beats}, {str(w) for b in beats for w in b.get("present") or []}


def _fit(c: Character, pid: str, known: set[str], beats: set[str], report: Report) -> None:
    """A persona restored from this stage's own export may name people and beats this story does not have."""
    p = c.persona
    for key, kept in (("relationships", known - {pid}), ("arc", beats)):
        values = p.get(key) or {}
        dropped = sorted(set(values) - kept)
        if dropped:
            p[key] = {k: v for k, v in values.items() if k in kept}
            report.skip(f"{key}.{', '.join(dropped)}: not in this story; left out")
    for secret in p.get("secrets") or []:
        gone = sorted(set(secret.get("known_by", [])) - (known - {pid}))
        if gone:
            secret["known_by"] = [w for w in secret["known_by"] if w not in gone]
            report.skip(f"secrets known_by {', '.join(gone)}: not in this story; left out")


def _persona_texts(c: Character) -> list[tuple[str, str]]:
    return [*persona_texts(c.persona), *((f"character_book ({s.title})", s.text) for s in c.lore)]


def _screen(card: RawCard, fields: list[tuple[str, str]], embed: Any, policy: Any) -> None:
    findings = screen(fields, embed=embed, policy=policy)
    if findings:
        f = findings[0]
        more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
        raise CardError(
            f"{card.name}: {f.where}: holds {f.what}: {f.text[:100]!r}{more}; nothing was imported"
        )


def _check(story: Path, files: dict[Path, str]) -> None:
    """The story with the new files, checked in a scratch copy; problems name the real paths."""
    with tempfile.TemporaryDirectory(prefix="stage-import-") as tmp:
        scratch = Path(tmp) / "story"
        scratch.mkdir()
        for part in ("characters", "lore"):
            if (story / part).is_dir():
                shutil.copytree(story / part, scratch / part)
        if (story / "plot.yaml").is_file():
            shutil.copy2(story / "plot.yaml", scratch / "plot.yaml")
        for path, text in files.items():
            target = scratch / path.relative_to(story)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        plot = plot_path(scratch)
        try:
            load_story(Sources(scratch / "characters", scratch / "lore", plot or scratch / "plot.yaml"))
        except DataError as exc:
            real = relative(story)
            problems = [p.replace(str(scratch), real).replace(str(scratch.resolve()), real) for p in exc.problems]
            raise DataError([*problems, "nothing was imported (the story with these files would not pass `stage check`)"]) from exc


def _write(files: dict[Path, str]) -> list[Path]:
    """Each file via a temporary name and a rename, so none is ever half-written."""
    for path in files:
        if path.exists():
            raise CardError(f"{relative(path)}: already exists; nothing was imported")
    done: list[Path] = []
    try:
        for path, text in files.items():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.importing")
            tmp.write_text(text, encoding="utf-8")
            os.replace(tmp, path)
            done.append(path)
    except OSError as exc:
        for path in done:
            path.unlink(missing_ok=True)
        raise CardError(f"{relative(path)}: cannot write it ({exc.strerror}); nothing was imported") from exc
    return done


