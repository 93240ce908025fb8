"""``stage scenes`` (the scene library from the terminal) and ``stage lines`` (swipe, choose, edit, delete,
rewind a transcript's lines: the page's line controls, for scripts and for people without a browser)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from stage import runtime
from stage.errors import ConfigError
from stage.settings import Settings

FlagAdder = Callable[[argparse.ArgumentParser], None]


def add_scene_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], model_flags: FlagAdder, data_flags: FlagAdder
) -> None:
    p = sub.add_parser(
        "scenes",
        help="list the scene library (every shelf on this machine), or restore a deleted scene",
        description="The scenes people played in the browser, by shelf (one per browser or login), the"
        " most recently played first: title, beat, turns, last played, the last line. Continue one with"
        " `stage play --resume FILE`.",
    )
    p.add_argument("--trash", action="store_true", help="list the deleted scenes instead")
    p.add_argument("--restore", metavar="FILE", type=Path, help="move this deleted scene back to its shelf")
    data_flags(p)
    p.set_defaults(handler=run_scenes)

    p = sub.add_parser(
        "lines",
        help="show a transcript's line with seqs, or change it: swipe, choose, edit, delete, rewind",
        description="Print the line of a transcript that counts (its swipes, edits, deletes and rewinds"
        " applied), each line with its seq; with an option, change it first. Every change is a new event"
        " appended to the file: the log is never rewritten, and `stage replay --check` still holds.",
    )
    p.add_argument("transcript", type=Path)
    g = p.add_mutually_exclusive_group()
    g.add_argument("--swipe", type=int, metavar="SEQ", help="another reply for this character turn")
    g.add_argument(
        "--choose", type=int, nargs=2, metavar=("SEQ", "N"), help="alternative N (1 = first) stands"
    )
    g.add_argument("--edit", nargs=2, metavar=("SEQ", "TEXT"), help="correct this line")
    g.add_argument("--delete", type=int, metavar="SEQ", help="this line no longer counts")
    g.add_argument(
        "--rewind", type=int, metavar="SEQ", help="go back to this event (later ones become a branch)"
    )
    g.add_argument("--rename", metavar="TITLE", help="the scene's title in the library")
    model_flags(p)
    data_flags(p)
    p.set_defaults(handler=run_lines)


def run_scenes(args: argparse.Namespace, settings: Settings) -> int:
    from stage.library import TRASH, Library

    story = runtime.story(settings)
    lib = Library(settings.story_home / "scenes", {c: p.name for c, p in story.personas.items()})
    if args.restore is not None:
        try:
            target = lib.restore_file(args.restore)
        except ConfigError as exc:
            raise ConfigError(f"--restore {exc}") from None
        print(f"restored: {target}")
        return 0
    shelves = lib.owners()
    shown = 0
    for shelf in shelves:
        entries = lib.listing(shelf / TRASH if args.trash else shelf)
        if not entries:
            continue
        print(f"shelf {shelf.name} ({len(entries)} scene(s)):")
        for e in entries:
            print(f"  {e.label}{' · ended' if e.ended else ''}")
            print(f"      {e.gist or '(nothing said yet)'}")
            print(f"      {e.path}")
            shown += 1
    if not shown:
        print(f"no {'deleted ' if args.trash else ''}scenes under {lib.root}")
    return 0


def run_lines(args: argparse.Namespace, settings: Settings) -> int:
    from stage.play import Printer
    from stage.scene import Scene, events_of
    from stage.transcript import Narration, Turn, UserLine

    if not args.transcript.is_file():
        raise ConfigError(f"{args.transcript}: no such transcript")
    story = runtime.story(settings)
    changing = any(
        getattr(args, k) is not None for k in ("swipe", "choose", "edit", "delete", "rewind", "rename")
    )
    model, params = runtime.model_and_params(settings) if args.swipe is not None else (None, None)
    from stage.llm.base import GenParams
    from stage.llm.scripted import ScriptedModel

    scene = Scene.resume(
        story,
        model or ScriptedModel(),  # never asked unless --swipe
        runtime.keyword_retriever(story) if args.swipe is None else runtime.retriever(settings, story),
        args.transcript,
        params or GenParams(),
    )
    try:
        if args.swipe is not None:
            events_of(scene.swipe(args.swipe))
        elif args.choose is not None:
            scene.choose(args.choose[0], args.choose[1] - 1)
        elif args.edit is not None:
            scene.edit(_seq(args.edit[0]), args.edit[1])
        elif args.delete is not None:
            scene.delete(args.delete)
        elif args.rewind is not None:
            scene.rewind(args.rewind)
        elif args.rename is not None:
            scene.rename(args.rename)
    finally:
        scene.transcript.close()
    printer = Printer(story)
    for e in scene.line:
        if isinstance(e, Turn | UserLine | Narration):  # the lines a change can name, with their seqs
            shown, count = scene.tree.count(e.seq)
            marks = f" [{shown + 1}/{count}]" if count > 1 else ""
            marks += " [edited]" if scene.tree.is_edited(e.seq) else ""
            printer.console.print(f"#{e.seq}{marks}", style="dim", markup=False, end=" ")
        printer(e)
    branches = scene.tree.branches()
    for b in branches:
        print(f"branch: parts after #{b.parts_at}, {b.turns} line(s), ends at #{b.tip} (--rewind {b.tip})")
    if changing:
        print(f"appended to {args.transcript}", file=sys.stderr)
    return 0


def _seq(raw: str) -> int:
    try:
        return int(raw)
    except ValueError:
        raise ConfigError(f"--edit SEQ TEXT: SEQ must be a number, got {raw!r}") from None
