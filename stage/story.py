"""Load personas, plot and lore together and cross-check them; shared by ``stage check`` and the app."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from stage.cast.schema import PersonaSchema
from stage.datafile import read_yaml, relative, validate
from stage.director.plot_schema import PlotSchema
from stage.errors import DataError
from stage.lore.parse import RawSection, lore_files, parse_markdown
from stage.settings import Settings
from stage.types import EVERYONE, LoreSection, Persona, Plot, Story

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sources:
    characters_dir: Path
    lore_dir: Path
    plot_file: Path

    @classmethod
    def from_settings(cls, s: Settings) -> Sources:
        return cls(s.characters_dir, s.lore_dir, s.plot_file)


def _load_personas(folder: Path, problems: list[str]) -> dict[str, Persona]:
    if not folder.is_dir():
        problems.append(f"{folder}: expected a folder of persona files (*.yaml), found none")
        return {}
    personas: dict[str, Persona] = {}
    files = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
    if not files:
        problems.append(f"{relative(folder)}: expected persona files (*.yaml), found none")
    for path in files:
        display = relative(path)
        data = read_yaml(path, display, problems)
        if data is None:
            continue
        schema = validate(PersonaSchema, data, display, path.read_text(encoding="utf-8"), problems)
        if schema is None:
            continue
        if schema.id != path.stem:
            problems.append(f"{display}: id: expected {path.stem!r} (the file name), got {schema.id!r}")
        if schema.id in personas:
            problems.append(
                f"{display}: id: duplicate id {schema.id!r}, also in {personas[schema.id].source}"
            )
            continue
        personas[schema.id] = schema.to_persona(display)
    return personas


def _load_plot(path: Path, problems: list[str]) -> Plot | None:
    display = relative(path)
    if not path.is_file():
        problems.append(f"{display}: expected a plot file, found none")
        return None
    data = read_yaml(path, display, problems)
    if data is None:
        return None
    schema = validate(PlotSchema, data, display, path.read_text(encoding="utf-8"), problems)
    return schema.to_plot(display) if schema else None


def _load_lore(folder: Path, problems: list[str]) -> list[RawSection]:
    if not folder.is_dir():
        problems.append(f"{folder}: expected a folder of lore files (*.md), found none")
        return []
    sections: list[RawSection] = []
    files = lore_files(folder)
    if not files:
        problems.append(f"{relative(folder)}: expected lore files (*.md), found none")
    for path in files:
        display = relative(path)
        raw = path.read_bytes()
        if b"\x00" in raw:
            problems.append(f"{display}: expected a UTF-8 markdown file, got binary data")
            continue
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            problems.append(f"{display}: expected UTF-8 text, got an invalid byte at offset {exc.start}")
            continue
        if not text.strip():
            problems.append(f"{display}: the file is empty; expected '## ' sections")
            continue
        sections.extend(parse_markdown(text, display, problems))
    return sections


def _check_plot(plot: Plot, personas: set[str], problems: list[str]) -> None:
    seen: set[str] = set()
    for n, beat in enumerate(plot.beats, start=1):
        where = f"{plot.source}: beats.{n - 1}"
        if beat.position != n:
            problems.append(
                f"{where}.position: expected {n} (beats are listed in order), got {beat.position}"
            )
        if beat.id in seen:
            problems.append(f"{where}.id: duplicate beat id {beat.id!r}")
        seen.add(beat.id)
        for who in beat.present:
            if personas and who not in personas:
                problems.append(
                    f"{where}.present: unknown character {who!r}; known: {', '.join(sorted(personas))}"
                )
        if set(beat.goals) != set(beat.present):
            problems.append(
                f"{where}.goals: expected one goal for each present character {sorted(beat.present)},"
                f" got {sorted(beat.goals)}"
            )
        for i, cond in enumerate(beat.exit):
            for who in cond.by:
                if who not in beat.present:
                    problems.append(f"{where}.exit.{i}.by: {who!r} is not present in beat {beat.id!r}")
        if beat.min_turns > beat.turn_budget:
            problems.append(
                f"{where}.min_turns: expected at most turn_budget ({beat.turn_budget}), got {beat.min_turns}"
            )


def _resolve_lore(
    raw: list[RawSection], plot: Plot | None, personas: set[str], problems: list[str]
) -> list[LoreSection]:
    out: list[LoreSection] = []
    seen: dict[str, str] = {}
    for r in raw:
        where = f"{r.source}:{r.line}: section '{r.title}'"
        m = r.meta
        if m.id in seen:
            problems.append(f"{where}: id: duplicate id {m.id!r}, also at {seen[m.id]}")
            continue
        seen[m.id] = f"{r.source}:{r.line}"
        visible = (m.visible_to,) if isinstance(m.visible_to, str) else tuple(m.visible_to)
        if visible == (EVERYONE,) or EVERYONE in visible:
            visible = (EVERYONE,)
        elif personas:
            for who in visible:
                if who not in personas:
                    problems.append(
                        f"{where}: visible_to: unknown character {who!r}; expected 'everyone' or ids of {', '.join(sorted(personas))}"
                    )
        position = 1
        if plot is not None:
            try:
                position = plot.beat(m.from_beat).position
            except KeyError:
                problems.append(
                    f"{where}: from_beat: expected a beat id or a position 1-{len(plot.beats)}, got {m.from_beat!r}"
                )
                continue
        out.append(
            LoreSection(
                m.id,
                r.title,
                r.heading_path,
                r.text,
                r.source,
                r.line,
                tuple(m.tags),
                visible,
                position,
                tuple(m.key_terms),
            )
        )
    return out


def _check_cross(
    personas: dict[str, Persona],
    known: set[str],
    plot: Plot | None,
    lore: list[LoreSection],
    problems: list[str],
) -> None:
    beat_ids = {b.id for b in plot.beats} if plot else set()
    for p in personas.values():
        others = known - {p.id}
        for key in p.relationships:
            if key not in known or key == p.id:
                problems.append(
                    f"{p.source}: relationships.{key}: expected one of the other characters {sorted(others)}"
                )
        # a character must know who everyone they meet on stage is to them; one who never shares a beat with
        # someone (a card imported beside a story) need not
        met = {who for b in plot.beats if p.id in b.present for who in b.present} - {p.id} if plot else others
        missing = (met & known) - set(p.relationships)
        if missing:
            problems.append(
                f"{p.source}: relationships: expected an entry for every character they share a beat with, "
                f"missing {sorted(missing)}"
            )
        for i, secret in enumerate(p.secrets):
            for who in secret.known_by:
                if who not in known or who == p.id:
                    problems.append(
                        f"{p.source}: secrets.{i}.known_by: unknown character {who!r}; expected one of {sorted(others)}"
                    )
        if plot is not None:
            for key in p.arc:
                if key not in beat_ids:
                    problems.append(
                        f"{p.source}: arc.{key}: unknown beat; expected one of {', '.join(sorted(beat_ids))}"
                    )
    if plot is None:
        return
    by_id = {s.id: s for s in lore}
    for n, beat in enumerate(plot.beats):
        for lore_id in beat.unlocks:
            section = by_id.get(lore_id)
            if section is None:
                problems.append(f"{plot.source}: beats.{n}.unlocks: unknown lore section {lore_id!r}")
            elif section.from_beat != beat.position:
                problems.append(
                    f"{plot.source}: beats.{n}.unlocks: {lore_id!r} has from_beat {section.from_beat}, expected {beat.position}"
                )


def load_story(sources: Sources) -> Story:
    """Everything, checked; raises ``DataError`` listing every problem found."""
    problems: list[str] = []
    personas = _load_personas(sources.characters_dir, problems)
    plot = _load_plot(sources.plot_file, problems)
    raw = _load_lore(sources.lore_dir, problems)
    # ids of persona files that failed to load still count as characters, so one broken file does not
    # cascade into "unknown character" problems everywhere it is mentioned
    known = (
        set(personas) | {f.stem for f in sources.characters_dir.glob("*.y*ml")}
        if sources.characters_dir.is_dir()
        else set()
    )
    if plot is not None:
        _check_plot(plot, known, problems)
    lore = _resolve_lore(raw, plot, known, problems)
    _check_cross(personas, known, plot, lore, problems)
    if problems or plot is None:
        raise DataError(problems or ["no plot was loaded"])
    return Story(personas=personas, plot=plot, lore=tuple(lore))
