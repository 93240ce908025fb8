"""Transcripts out of and into the page: JSONL and readable Markdown downloads; loading a saved transcript."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Sequence
from pathlib import Path

from stage.describe import DIRECTOR, describe
from stage.errors import DataError
from stage.timeline import Tree, line
from stage.transcript import (
    Action,
    BeatChange,
    Direction,
    Event,
    Narration,
    SceneEnd,
    SceneStart,
    Turn,
    UserLine,
    read_events,
    to_dict,
)
from stage.types import Story

MAX_LOAD_BYTES = 5 * 1024 * 1024
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>#|])")


def jsonl(events: Sequence[Event]) -> str:
    return "".join(json.dumps(to_dict(e), ensure_ascii=False) + "\n" for e in events)


def md_text(text: str) -> str:
    """Text that Markdown shows as written (no raw HTML, links or emphasis from people's or models' words)."""
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def markdown(story: Story, events: Sequence[Event]) -> str:
    """The scene as a script a person can read (what each event says comes from ``stage.describe``)."""
    names = {cid: p.name for cid, p in story.personas.items()}
    out: list[str] = []
    for e in events:
        line = describe(e, names)
        if line is None or line.quiet:
            continue
        if isinstance(e, SceneStart):
            when = time.strftime("%Y-%m-%d %H:%M", time.localtime(e.ts)) if e.ts else ""
            out.append(f"# {md_text(line.text)}\n")
            out.append(f"*{when} · backend {md_text(e.backend or '?')} · {md_text(line.detail)}*\n")
        elif isinstance(e, BeatChange):
            present = ", ".join(names.get(c, c) for c in e.present) or "nobody"
            out.append(f"\n## {md_text(line.text)}\n")
            out.append(f"*{md_text(line.detail)}* — present: {md_text(present)}\n")
            if line.reason:
                out.append(f"> {DIRECTOR}: {md_text(line.reason)}\n")
        elif isinstance(e, Narration):
            out.append(f"*{md_text(line.label.capitalize())}: {md_text(line.text)}*\n")
        elif isinstance(e, Turn):
            out.append(f"**{md_text(line.label)}:** {md_text(line.text)}  ")
            detail = f"{e.completion_tokens} tokens, {e.latency_ms / 1000:.1f} s"
            lore = f"; lore: {', '.join(e.lore_ids)}" if e.lore_ids else ""
            out.append(f"<sub>{DIRECTOR}: {md_text(line.reason)} ({detail}{md_text(lore)})</sub>\n")
        elif isinstance(e, UserLine):
            note = f"  \n<sub>note: {md_text(line.detail)}</sub>" if line.detail else ""
            out.append(f"**{md_text(line.label)}:** {md_text(line.text)}{note}\n")
        elif isinstance(e, SceneEnd):
            out.append(f"\n**{md_text(line.text)}** — {md_text(line.reason)}\n")
        else:  # a direction, an error, a safety notice
            detail = f" ({md_text(line.detail)})" if line.detail else ""
            out.append(f"*[{md_text(line.label)}: {md_text(line.text)}{detail}]*\n")
    return "\n".join(out)


def write_exports(folder: Path, story: Story, events: Sequence[Event]) -> tuple[Path, Path]:
    """The scene as ``scene-<start>.jsonl`` and ``.md`` in ``folder`` (rewritten in place each time)."""
    start = events[0].ts if events else time.time()
    stem = "scene-" + time.strftime("%Y%m%d-%H%M%S", time.localtime(start))
    folder.mkdir(parents=True, exist_ok=True)
    js, md = folder / f"{stem}.jsonl", folder / f"{stem}.md"
    js.write_text(jsonl(events), encoding="utf-8")
    md.write_text(markdown(story, line(events)), encoding="utf-8")  # the line as it now reads; the JSONL is the log
    return js, md


def load_transcript(path: Path, story: Story) -> tuple[list[Event], list[str]]:
    """Events of a saved transcript that this story can continue, and the corrupt lines that were skipped.

    Raises ``DataError`` naming the file when it is too big, holds no scene, or names beats or characters
    this story does not have."""
    shown = path.name
    if path.stat().st_size > MAX_LOAD_BYTES:
        raise DataError(f"{shown}: too big to load (over {MAX_LOAD_BYTES // (1024 * 1024)} MB)")
    result = read_events(path)
    problems = [p.replace(str(path), shown) for p in result.problems]
    events = result.events
    if not events or not isinstance(events[0], SceneStart):
        raise DataError(f"{shown}: not a stage transcript (it must begin with a 'scene' event)")
    beats = {b.id for b in story.plot.beats}
    unknown_beats = sorted({e.beat for e in events if e.beat and e.beat not in beats})
    people: set[str] = set()
    for e in events:
        if isinstance(e, SceneStart | BeatChange):
            people.update(e.present)
        elif isinstance(e, Turn):
            people.add(e.speaker)
        elif isinstance(e, UserLine) and e.as_character:
            people.add(e.as_character)
        elif isinstance(e, Direction) and e.action not in (Action.GOTO, Action.INJECT) and e.target:
            people.add(e.target)
    unknown_people = sorted(people - set(story.personas))
    wrong = []
    if unknown_beats:
        wrong.append(f"beats this story does not have: {', '.join(unknown_beats)}")
    if unknown_people:
        wrong.append(f"characters this story does not have: {', '.join(unknown_people)}")
    if wrong:
        raise DataError(f"{shown}: recorded with another story ({'; '.join(wrong)})")
    try:
        Tree.of(events)  # every swipe, edit, delete and rewind names an event the file has
    except DataError as exc:
        raise DataError([f"{shown}: {p}" for p in exc.problems]) from None
    return events, problems
