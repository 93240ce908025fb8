"""The ``stage`` command. Each subcommand turns a ``StageError`` into one sentence and an exit code."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

from stage import __version__
from stage.errors import DataError, StageError
from stage.settings import BACKENDS, Settings, load_settings

Handler = Callable[[argparse.Namespace, Settings], int]


def _model_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("model")
    g.add_argument(
        "--backend",
        choices=BACKENDS,
        help="local (embedded SmolLM2, default), openai (any "
        "OpenAI-compatible endpoint), or scripted (deterministic, for tests) [STAGE_BACKEND]",
    )
    g.add_argument("--base-url", help="OpenAI-compatible endpoint for --backend openai [STAGE_BASE_URL]")
    g.add_argument("--model", help="model name at the endpoint [STAGE_MODEL]")
    g.add_argument(
        "--timeout", type=float, help="seconds without progress before a call is retried [STAGE_TIMEOUT]"
    )
    g.add_argument("--retries", type=int, help="retries after a failed model call [STAGE_RETRIES]")
    g.add_argument("--seed", type=int, help="random seed for sampling and the scripted backend [STAGE_SEED]")
    g.add_argument(
        "--candidates",
        type=int,
        help="replies sampled per character turn, the best one chosen (1-8) [STAGE_CANDIDATES]",
    )


def _data_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("story data")
    g.add_argument(
        "--story",
        help="story folder: characters/, lore/, plot.yaml, evals/ (default: the Dream Network, in this "
        "checkout) [STAGE_STORY]",
    )
    g.add_argument(
        "--characters", dest="characters_dir", help="folder of persona files [STAGE_CHARACTERS_DIR]"
    )
    g.add_argument("--lore", dest="lore_dir", help="folder of lore files [STAGE_LORE_DIR]")
    g.add_argument("--plot", dest="plot_file", help="plot file [STAGE_PLOT_FILE]")
    g.add_argument("--home", help="folder for the lore index, transcripts and server state [STAGE_HOME]")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stage",
        description="The stage: LLM characters play a story (the Dream Network unless --story names "
        "another), a director moves the plot, people watch, join and direct in the browser.",
        epilog="Settings come from defaults < stage.toml (or STAGE_CONFIG) < STAGE_* variables < flags.",
    )
    parser.add_argument("--version", action="version", version=f"stage {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens (to stderr)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser(
        "doctor",
        help="check the setup: model file, embedded server, endpoint, data folder",
        description="Check the setup, one line per check; exits non-zero if any check fails "
        "(3 when the model endpoint cannot be reached).",
    )
    _model_flags(p)
    _data_flags(p)
    p.set_defaults(handler=_lazy("stage.doctor", "run_doctor"))

    p = sub.add_parser(
        "check",
        help="validate persona, lore and plot files",
        description="Validate characters/*.yaml, lore/*.md and the plot file, with cross-references."
        " Prints every problem (file, line, field, expected) and exits 2 if there is any.",
    )
    _data_flags(p)
    p.set_defaults(handler=_run_check)

    p = sub.add_parser(
        "serve",
        help="open the stage in the browser (http://127.0.0.1:7860)",
        description="Serve the Gradio app: watch the characters, join the conversation, direct.",
    )
    _model_flags(p)
    _data_flags(p)
    p.add_argument("--host", help="interface to bind (default 127.0.0.1: this machine only) [STAGE_HOST]")
    p.add_argument("--port", type=int, help="port (default 7860) [STAGE_PORT]")
    p.add_argument("--auth", help="require a login, as USER:PASS [STAGE_AUTH]")
    p.set_defaults(handler=_lazy("stage.ui.app", "run_serve"))

    for module, adder in (
        ("stage.lore_cli", "add_lore_commands"),
        ("stage.play", "add_play_commands"),
        ("stage.scenes_cli", "add_scene_commands"),
        ("stage.evals.cli", "add_eval_commands"),
        ("stage.bench.cli", "add_bench_commands"),
        ("stage.policy.cli", "add_policy_commands"),
        ("stage.story_cli", "add_story_commands"),
    ):
        try:
            mod = __import__(module, fromlist=[adder])
        except (
            ModuleNotFoundError
        ) as exc:  # a part not built in this checkout; any other import error is a bug
            if exc.name is None or not module.startswith(exc.name):
                raise
            continue
        getattr(mod, adder)(sub, _model_flags, _data_flags)
    return parser


def _lazy(module: str, name: str) -> Handler:
    def handler(args: argparse.Namespace, settings: Settings) -> int:
        mod = __import__(module, fromlist=[name])
        result: int = getattr(mod, name)(args, settings)
        return result

    return handler


def _run_check(args: argparse.Namespace, settings: Settings) -> int:
    from stage.story import Sources, load_story

    story = load_story(Sources.from_settings(settings))
    print(
        f"✓ {len(story.personas)} characters, {len(story.plot.beats)} beats, {len(story.lore)} lore sections: all valid"
    )
    return 0


SETTING_FLAGS = (
    "backend",
    "base_url",
    "model",
    "timeout",
    "retries",
    "seed",
    "candidates",
    "home",
    "story",
    "characters_dir",
    "lore_dir",
    "plot_file",
    "host",
    "port",
)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    if not getattr(args, "handler", None):
        parser.print_help()
        return 0
    flags: dict[str, Any] = {k: getattr(args, k, None) for k in SETTING_FLAGS}
    try:
        settings = load_settings(flags)
        code: int = args.handler(args, settings)
        return code
    except DataError as exc:
        for problem in exc.problems:
            print(problem, file=sys.stderr)
        print(f"{len(exc.problems)} problem(s) found.", file=sys.stderr)
        return exc.exit_code
    except StageError as exc:
        print(f"stage: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("stage: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
