"""``stage play`` (a headless scene), ``stage ask`` (one reply) and ``stage replay`` (read a transcript)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from stage import runtime, timeline
from stage.describe import DIRECTOR, describe
from stage.errors import ConfigError
from stage.settings import Settings
from stage.timeline import fork
from stage.transcript import Event, Turn, read_events
from stage.types import Story

FlagAdder = Callable[[argparse.ArgumentParser], None]


def add_play_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], model_flags: FlagAdder, data_flags: FlagAdder
) -> None:
    p = sub.add_parser(
        "play",
        help="run a scene headless, printing it live and writing its transcript",
        description="Run a scene headless: the director picks speakers, characters talk, beats advance."
        " Live output on the terminal; the transcript (JSONL) is written as it grows.",
    )
    p.add_argument("--turns", type=int, default=20, help="character turns to play (default 20)")
    p.add_argument("--from-beat", default="1", help="beat id or position to start at (default 1)")
    p.add_argument("--until-beat", help="stop once this beat (id or position) is complete")
    p.add_argument("--out", type=Path, help="transcript file to write (default STAGE_HOME/transcripts/...)")
    p.add_argument("--resume", type=Path, help="continue the scene in this transcript (appends to it)")
    p.add_argument(
        "--fork-at", type=int, help="with --resume: copy events up to this seq into --out and continue there"
    )
    model_flags(p)
    data_flags(p)
    p.set_defaults(handler=run_play)

    p = sub.add_parser(
        "ask",
        help="one reply from one character to a person, at a beat",
        description="Ask a character something as a visitor and print the reply.",
    )
    p.add_argument("character", help="character id or name (e.g. lyra)")
    p.add_argument("message", help="what the visitor says")
    p.add_argument("--beat", default="1", help="beat id or position (default 1)")
    p.add_argument("--name", default="Visitor", help="the visitor's name")
    p.add_argument("--json", action="store_true", help="print the reply as JSON")
    model_flags(p)
    data_flags(p)
    p.set_defaults(handler=run_ask)

    p = sub.add_parser(
        "replay",
        help="print a transcript as the scene it records",
        description="Print a transcript (JSONL) as a readable scene; corrupt lines are reported.",
    )
    p.add_argument("transcript", type=Path)
    p.add_argument(
        "--check",
        action="store_true",
        help="re-drive the recorded inputs through the director and report whether every event matches",
    )
    data_flags(p)
    p.set_defaults(handler=run_replay)


class Printer:
    """Live terminal output: coloured speaker names, beat headers. What each event says, and who said it,
    come from ``stage.describe``; this adds only the terminal's dress (colours, rules)."""

    def __init__(self, story: Story, console: Console | None = None) -> None:
        self.story = story
        self.names = {cid: p.name for cid, p in story.personas.items()}
        self.console = console or Console(highlight=False)

    def __call__(self, e: Event) -> None:
        line = describe(e, self.names)
        if line is None or line.quiet:
            return
        c = self.console
        label, text = escape(line.label), escape(line.text)
        detail = f" ({escape(line.detail)})" if line.detail else ""
        match line.kind:
            case "scene":
                c.print(f"[dim]“{text}” · {escape(line.detail)}[/]")
            case "beat":
                c.rule(f"[bold]{text}[/] — {escape(line.detail)}")
                if line.reason:
                    c.print(f"[dim]{DIRECTOR}: {escape(line.reason)}[/]")
            case "narration":
                c.print(f"[dim]{label}:[/] [italic]{text}[/]")
            case "turn" | "user":
                p = self.story.personas.get(line.speaker.id) if line.speaker is not None else None
                style = f"bold {p.color}" if p is not None else "bold"
                c.print(f"[{style}]{label}:[/] {text}")
            case "end":
                c.rule(f"[bold]{text}[/] — {escape(line.reason)}")
            case "error":
                c.print(f"[red]{label}: {text}{detail}[/]")
            case _:  # a writer's direction, a content-policy notice
                c.print(f"[yellow]{label}: {text}{detail}[/]")


def run_play(args: argparse.Namespace, settings: Settings) -> int:
    from stage.scene import Scene

    st = runtime.story(settings)
    model, params = runtime.model_and_params(settings)
    retr = runtime.retriever(settings, st, progress=sys.stderr.isatty())
    printer = Printer(st)
    if args.resume:
        if not args.resume.is_file():
            raise ConfigError(f"--resume {args.resume}: no such transcript")
        path = args.resume
        if args.fork_at is not None:
            out = args.out or runtime.transcript_path(settings, "fork")
            fork(read_events(args.resume).events, args.fork_at, out).close()
            path = out
        scene = Scene.resume(st, model, retr, path, params)
        printer.console.print(
            f"[dim]resuming {path} at event {scene.transcript.next_seq}, beat {scene.state.beat.id}[/]"
        )
        for e in scene.line[-3:]:
            printer(e)
        if scene.ended:
            printer.console.print(
                "this story is complete: nothing to play. Start a new scene, or branch this one with "
                "--fork-at SEQ --out FILE."
            )
    else:
        out = args.out or runtime.transcript_path(settings)
        scene = Scene.new(
            st,
            model,
            retr,
            out,
            params,
            from_beat=args.from_beat,
            seed=settings.seed or 0,
            backend=settings.backend,
        )
        for e in scene.transcript.events:
            printer(e)
    from stage.scene import Wrote

    try:
        for item in scene.play(args.turns, until_beat=args.until_beat):
            if isinstance(item, Wrote):
                printer(item.event)
    finally:
        scene.transcript.close()
        printer.console.print(f"[dim]transcript: {scene.transcript.path}[/]")
    return 0


def run_ask(args: argparse.Namespace, settings: Settings) -> int:
    from stage.agents.inputs import clean_user_text
    from stage.scene import Scene, events_of
    from stage.transcript import Action

    st = runtime.story(settings)
    try:
        who = st.persona(args.character)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc
    clean_user_text(args.message)  # an empty message is refused (exit 2) before any model starts
    model, params = runtime.model_and_params(settings)
    retr = runtime.retriever(settings, st)
    scene = Scene.new(
        st, model, retr, None, params, from_beat=args.beat, seed=settings.seed or 0, backend=settings.backend
    )
    if who.id not in scene.state.present:
        scene.direct(Action.ADD, target=who.id)
    scene.say(
        f"{who.name}, {args.message}" if who.name.lower() not in args.message.lower() else args.message,
        name=args.name,
    )
    turn = next((e for e in reversed(scene.transcript.events) if isinstance(e, Turn)), None)
    if turn is None or turn.speaker != who.id:
        turn = next((e for e in events_of(scene.step()) if isinstance(e, Turn)), None)
    if turn is None:
        raise ConfigError("no reply was produced")
    if args.json:
        print(
            json.dumps(
                {
                    "speaker": turn.speaker,
                    "text": turn.text,
                    "beat": turn.beat,
                    "lore_ids": list(turn.lore_ids),
                    "model": turn.model,
                    "tokens": {"prompt": turn.prompt_tokens, "completion": turn.completion_tokens},
                    "latency_ms": turn.latency_ms,
                },
                ensure_ascii=False,
            )
        )
    else:
        Printer(st)(turn)
    return 0


def run_replay(args: argparse.Namespace, settings: Settings) -> int:
    st = runtime.story(settings)
    result = read_events(args.transcript)
    printer = Printer(st)
    for e in timeline.line(result.events):  # as it now reads: swipes, edits, deletes and rewinds applied
        printer(e)
    for problem in result.problems:
        print(problem, file=sys.stderr)
    if args.check:
        from stage.replay import replay

        outcome = replay(st, result.events, runtime.keyword_retriever(st))
        if outcome.divergence:
            print(f"replay diverges: {outcome.divergence}", file=sys.stderr)
            return 1
        print(f"replay matches: {len(result.events)} events reproduced")
    return 0
