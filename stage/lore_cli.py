"""``stage lore index`` and ``stage lore search``: build the lore index and look into it as a character would.

Importing this module stays cheap (no Chroma, no model): the main CLI imports it to build its parser. It sits
beside ``stage/cli.py``, above both the lore package and ``stage.story``, which it puts together.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from stage.errors import ConfigError
from stage.settings import Settings

if TYPE_CHECKING:
    from stage.lore.store import LoreStore
    from stage.types import LoreHit, Story

FlagAdder = Callable[[argparse.ArgumentParser], None]
SNIPPET = 160


def add_lore_commands(
    subparsers: Any,
    model_flags: FlagAdder | None = None,
    data_flags: FlagAdder | None = None,
) -> argparse.ArgumentParser:
    """Register ``lore`` (with ``index`` and ``search``) on the main CLI's subparsers."""
    del model_flags  # the lore commands call no chat model
    lore: argparse.ArgumentParser = subparsers.add_parser(
        "lore",
        help="build and query the lore index (ChromaDB)",
        description="The lore index: lore/*.md split into chunks, embedded offline and stored in ChromaDB "
        "(a local store under STAGE_HOME, or the server at STAGE_CHROMA_URL).",
    )
    lore.set_defaults(handler=run_lore, lore_command=None)
    sub = lore.add_subparsers(dest="lore_command", metavar="SUBCOMMAND")

    p = sub.add_parser(
        "index",
        help="index the lore (only what changed since last time)",
        description="Bring the index in line with lore/*.md: new and edited sections are embedded, "
        "unchanged ones are kept, sections that vanished are removed. Prints what changed.",
    )
    p.add_argument("--rebuild", action="store_true", help="drop the index and embed everything again")
    if data_flags:
        data_flags(p)
    p.set_defaults(handler=run_lore)

    p = sub.add_parser(
        "search",
        help="search the lore as a character at a beat would",
        description="Search the lore index within a character's scope: only chunks visible to CHARACTER "
        "(or to everyone) and known by BEAT are considered. The index is built first if missing or stale.",
        epilog='example: stage lore search "who runs the Dream Network?" --as lyra --beat 3',
    )
    p.add_argument("query", metavar="QUERY", help="what to look for, in words")
    p.add_argument("--as", dest="character", required=True, metavar="CHARACTER", help="character id or name")
    p.add_argument("--beat", required=True, metavar="BEAT", help="beat id or 1-based position in the plot")
    p.add_argument("-k", type=int, default=5, metavar="N", help="number of results (default 5)")
    p.add_argument("--json", action="store_true", help="print a JSON list instead of a table")
    if data_flags:
        data_flags(p)
    p.set_defaults(handler=run_lore)
    return lore


def run_lore(args: argparse.Namespace, settings: Settings) -> int:
    """The handler for ``stage lore ...``; raises ``StageError`` subclasses for the main CLI to report."""
    command = getattr(args, "lore_command", None)
    if command == "index":
        return _index(settings, rebuild=bool(args.rebuild))
    if command == "search":
        return _search(args, settings)
    raise ConfigError("expected a subcommand after `stage lore`: index or search (see `stage lore --help`)")


def _story(settings: Settings) -> Story:
    from stage.story import Sources, load_story

    return load_story(Sources.from_settings(settings))


def _store(settings: Settings) -> LoreStore:
    from stage.lore.store import LoreStore

    return LoreStore(home=settings.story_home, chroma_url=settings.chroma_url)


def _index(settings: Settings, rebuild: bool) -> int:
    story = _story(settings)
    started = time.perf_counter()
    store = _store(settings)
    report = store.index(story.lore, rebuild=rebuild, progress=True)
    took = time.perf_counter() - started
    print(f"lore index at {store.location}: {report}; {store.count()} chunks ({took:.1f} s)")
    return 0


def resolve_scope(story: Story, character: str, beat: str) -> tuple[str, int]:
    """Character id and beat position from what a person typed; ``ConfigError`` listing the valid ones."""
    try:
        who = story.persona(character).id
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc
    try:
        position = story.plot.beat(beat).position
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc
    return who, position


def hit_record(hit: LoreHit) -> dict[str, Any]:
    """A hit as the JSON object ``stage lore search --json`` prints."""
    c = hit.chunk
    return {
        "id": c.id,
        "text": c.text,
        "source": c.source,
        "score": hit.score,
        "visible_to": list(c.visible_to),
        "from_beat": c.from_beat,
    }


def _search(args: argparse.Namespace, settings: Settings) -> int:
    if args.k < 1:
        raise ConfigError(f"-k: expected a positive number of results, got {args.k}")
    story = _story(settings)
    who, position = resolve_scope(story, args.character, args.beat)
    store = _store(settings)
    if store.is_stale(story.lore):
        store.index(story.lore, progress=not args.json)
    hits = store.search(args.query, as_character=who, beat=position, k=args.k)
    records = [hit_record(h) for h in hits]
    if args.json:
        print(json.dumps(records, ensure_ascii=False, indent=2))
        return 0
    _print_table(records, f"{args.query!r} as {who} at beat {position} ({story.plot.beats[position - 1].id})")
    return 0


def _print_table(records: list[dict[str, Any]], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    if not records:
        console.print(f"No lore in scope for {title}.")
        return
    table = Table(title=title, show_lines=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("id", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("from beat", justify="right", no_wrap=True)
    table.add_column("visible to")
    table.add_column("text", ratio=1)
    for rank, r in enumerate(records, start=1):
        text = " ".join(r["text"].split())
        snippet = text if len(text) <= SNIPPET else text[: SNIPPET - 1].rsplit(" ", 1)[0] + "…"
        table.add_row(
            str(rank),
            r["id"],
            f"{r['score']:.3f}",
            str(r["from_beat"]),
            ", ".join(r["visible_to"]),
            snippet,
        )
    console.print(table)
