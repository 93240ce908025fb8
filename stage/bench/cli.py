"""``stage bench [--quick] [--out FILE]``: measure, print a table, write JSON and a PNG plot."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from rich.console import Console

from stage.errors import ConfigError
from stage.settings import ROOT, Settings

FlagAdder = Callable[[argparse.ArgumentParser], None]
DEFAULT_OUT = ROOT / "bench" / "results.json"


def add_bench_commands(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], model_flags: FlagAdder, data_flags: FlagAdder
) -> None:
    p = sub.add_parser(
        "bench",
        help="measure what a turn costs: overhead vs raw llama.cpp, growth vs a naive loop, retrieval, sessions",
        description="Benchmark the stage on the embedded model: overhead against raw llama.cpp, prompt growth "
        "against a naive loop, scoped retrieval at 1k/10k chunks, simultaneous sessions, memory and a profile. "
        "Prints a table and writes JSON plus a PNG. The full run takes 20-40 minutes on 2 cores; --quick a few.",
    )
    p.add_argument("--quick", action="store_true", help="small sizes: a few minutes instead of half an hour")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="results JSON (default bench/results.json)")
    p.add_argument("--png", type=Path, help="plot to write (default: --out with .png)")
    p.add_argument("--turns", type=int, help="scene turns for overhead and growth (full 100, quick 10)")
    p.add_argument(
        "--concurrency",
        choices=("auto", "app", "threads", "both"),
        help="sessions through `stage serve` (app), as Scene threads, both (full default), or the app if it "
        "works and threads otherwise (auto); --quick uses threads",
    )
    p.add_argument(
        "--server-cache-mb",
        type=int,
        help="RAM prompt cache of each of the bench's llama.cpp servers (default 256, as the stage itself)",
    )
    p.add_argument(
        "--server-omp-wait",
        choices=("PASSIVE", "ACTIVE", "default"),
        help="OMP_WAIT_POLICY of the bench's llama.cpp servers (default PASSIVE: usable on shared cores)",
    )
    p.add_argument("--no-retrieval", action="store_true", help="skip the synthetic-lore retrieval benchmark")
    model_flags(p)
    data_flags(p)
    p.set_defaults(handler=run_bench)


def run_bench(args: argparse.Namespace, settings: Settings) -> int:
    from .plan import FULL, QUICK
    from .plot import write_png
    from .report import print_table, write_json
    from .run import run_plan

    if settings.backend != "local":
        raise ConfigError("stage bench measures the embedded llama.cpp server; run it with --backend local")
    plan = QUICK if args.quick else FULL
    if args.turns is not None:
        if args.turns < 1:
            raise ConfigError(f"--turns: expected a positive number, got {args.turns}")
        plan = replace(
            plan,
            turns=args.turns,
            checkpoints=tuple(c for c in plan.checkpoints if c <= args.turns) or (args.turns,),
        )
    if args.concurrency:
        plan = replace(plan, concurrency=args.concurrency)
    if args.server_cache_mb is not None:
        if args.server_cache_mb < 0:
            raise ConfigError(f"--server-cache-mb: expected 0 or more, got {args.server_cache_mb}")
        plan = replace(plan, server_cache_mb=args.server_cache_mb)
    if args.server_omp_wait:
        plan = replace(
            plan, omp_wait_policy=None if args.server_omp_wait == "default" else args.server_omp_wait
        )
    if args.no_retrieval:
        plan = replace(plan, retrieval_sizes=())
    console = Console(stderr=True)
    results = run_plan(plan, settings, console, seed=settings.seed if settings.seed is not None else 7)
    out = write_json(results, args.out)
    png = write_png(results, args.png or args.out.with_suffix(".png"))
    print_table(
        results, Console() if sys.stdout.isatty() else Console(width=130)
    )  # a log file gets full rows
    console.print(f"wrote {out} and {png}")
    return 0
