"""``stage new``, ``stage import`` and ``stage export``: stories as folders, and cards in and out of them."""

from __future__ import annotations

import argparse
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stage.errors import ConfigError
from stage.settings import Settings

FlagAdder = Callable[[argparse.ArgumentParser], None]
TEMPLATE = Path(__file__).resolve().parent / "story_template"
FORMATS = ("card-v2", "card-v3", "png", "world-info")


def add_story_commands(sub: Any, model_flags: FlagAdder, data_flags: FlagAdder) -> None:
    p = sub.add_parser(
        "new",
        help="start a story folder: a small valid story whose comments teach the format",
        description="Write a small, valid story (two characters, two beats, lore, an eval suite) into DIR, with "
        "comments that say what each field does. Play it with `stage serve --story DIR`.",
    )
    p.add_argument("dir", type=Path, metavar="DIR", help="the new story's folder (must not exist, or be empty)")
    p.set_defaults(handler=run_new)

    p = sub.add_parser(
        "import",
        help="bring in Character Cards (V1/V2/V3: JSON, PNG, CHARX) and lorebooks",
        description="Read Character Card V1/V2/V3 files (JSON, PNG with a 'chara' or 'ccv3' chunk, CHARX) and "
        "SillyTavern world info or V3 lorebooks, and write persona YAML and lore Markdown into a story folder "
        "(made, with a one-beat plot, if it does not exist). Prints where each field went and every field that "
        "has no place here. All or nothing: when any file is wrong, or the story would not pass `stage check`, "
        "nothing is written.",
        epilog="example: stage import wren.png lighthouse-world.json --story stories/lighthouse",
    )
    p.add_argument("files", type=Path, nargs="+", metavar="FILE", help="card or lorebook files")
    p.add_argument(
        "--story",
        dest="into",
        type=Path,
        metavar="DIR",
        help="the story folder to import into (default: STAGE_STORY, or the Dream Network in this checkout)",
    )
    p.set_defaults(handler=run_import)

    p = sub.add_parser(
        "export",
        help="write a character as a card other tools open (or the lore as world info)",
        description="Write CHARACTER as a Character Card V2 or V3 JSON file, or a PNG portrait carrying both; "
        "'lore' as CHARACTER writes the story's lore as SillyTavern world info. `stage import` of the result "
        "gives back the same persona.",
        epilog="examples: stage export max --format png; stage export lore --format world-info",
    )
    p.add_argument("character", help="character id or name, or 'lore'")
    p.add_argument("--format", choices=FORMATS, default=None, help="card-v2 (default), card-v3, png; world-info for lore")
    p.add_argument("--out", type=Path, help="file to write (default: <id>.card.json, <id>.png, world-info.json)")
    data_flags(p)
    p.set_defaults(handler=run_export)


def run_new(args: argparse.Namespace, settings: Settings) -> int:
    target: Path = args.dir
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ConfigError(f"{target}: already exists and is not an empty folder; `stage new` writes a fresh story")
    shutil.copytree(TEMPLATE, target, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__"))
    print(f"✓ a new story in {target}: 2 characters, 2 beats, 3 lore sections, 1 eval suite")
    print(f"  check it:  stage check --story {target}")
    print(f"  play it:   stage serve --story {target}")
    print(f"  add cards: stage import CARD.png --story {target}")
    return 0


def run_import(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from stage.cards.importer import import_cards

    story: Path = args.into or settings.story
    out = Console(highlight=False, soft_wrap=True)
    with out.status("reading and checking the cards…"):
        done = import_cards(args.files, story)
    for shown, report in done.reports:
        out.print(f"[bold]{shown}[/bold]")
        for line in report.placed:
            out.print(f"  → {line}")
        for line in report.unplaced:
            out.print(f"  [yellow]✗ {line}[/yellow]")
    out.print(f"wrote {len(done.written)} file(s) into {story}:")
    for path in done.written:
        out.print(f"  {path}")
    out.print(f"next: stage check --story {story}; stage serve --story {story}")
    return 0


def run_export(args: argparse.Namespace, settings: Settings) -> int:
    from stage import runtime
    from stage.cards import export

    story = runtime.story(settings)
    if args.character.strip().lower() == "lore":
        if args.format not in (None, "world-info"):
            raise ConfigError(f"--format {args.format}: the lore exports as world-info only")
        path = args.out or Path("world-info.json")
        path.write_text(json.dumps(export.world_info(story), ensure_ascii=False, indent=2), encoding="utf-8")
        print(f"✓ {len(story.lore)} lore sections as world info: {path}")
        return 0
    try:
        p = story.persona(args.character)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc
    fmt = args.format or "card-v2"
    if fmt == "world-info":
        raise ConfigError("--format world-info is for 'lore'; a character exports as card-v2, card-v3 or png")
    if fmt == "png":
        path = args.out or Path(f"{p.id}.png")
        path.write_bytes(export.portrait_png(p, story))
    else:
        path = args.out or Path(f"{p.id}.card.json")
        doc = export.card(p, story, v3=fmt == "card-v3")
        path.write_text(json.dumps(doc, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"✓ {p.name} as {fmt}: {path}")
    return 0
