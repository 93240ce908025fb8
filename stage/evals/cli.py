"""``stage eval``: run suites, write results.json, report.html and the transcripts; exit 1 on failed expectations."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stage.errors import ConfigError
from stage.settings import Settings

FlagAdder = Callable[[argparse.ArgumentParser], None]


def add_eval_commands(subparsers: Any, model_flags: FlagAdder, data_flags: FlagAdder) -> None:
    p = subparsers.add_parser(
        "eval",
        help="run the eval suites and write a report (results.json, report.html)",
        description="Play scripted suites (evals/suites/*.yaml) through the stage, measure every transcript "
        "(knowledge leaks, attribution, breaking character, repetition, persona identifiability, lore "
        "grounding, beat coverage, turn balance, latency), check each suite's expectations and write "
        "results.json, a self-contained report.html and the transcripts. Exits 1 when an expectation "
        "fails, printing one line per failure.",
        epilog="Suites pin their setup (beat, cast, seed, optionally backend/model); --backend, --model and "
        "--seed given here override the pins. Judge scores are added when STAGE_JUDGE_URL is set.",
    )
    p.add_argument(
        "suites",
        nargs="*",
        metavar="SUITE",
        help="suite names in the story's evals/suites, or suite files (default: all)",
    )
    p.add_argument(
        "--report",
        type=Path,
        metavar="DIR",
        help="folder for the results (default STAGE_HOME/evals/<date-time>)",
    )
    p.add_argument(
        "--compare",
        type=Path,
        metavar="OLD_RESULTS_JSON",
        help="show the difference to an earlier results.json",
    )
    p.add_argument("--list", action="store_true", help="list the suites and what they cover, then exit")
    p.add_argument(
        "--quiz",
        choices=("dev", "test", "all"),
        help="also ask the knowledge quiz (evals/quiz.yaml): its dev half (for tuning), its test half (for "
        "reporting) or both; with no SUITE named, only the quiz runs",
    )
    p.add_argument(
        "--safety",
        choices=("dev", "test", "all"),
        help="also run the content policy's labelled set (evals/safety.yaml) through the policy: recall and "
        "precision per harm, false refusals per theme; with no SUITE named, only this (and --quiz) runs",
    )
    p.add_argument(
        "--through-model",
        type=int,
        nargs="?",
        const=0,
        default=None,
        metavar="N",
        help="with --safety: also say the half's harmful messages (the first N, or all) to the characters through "
        "the model, with the input screen off for this run, and count the unsafe lines that reach the transcript",
    )
    model_flags(p)
    data_flags(p)
    p.set_defaults(handler=run_eval)


def _overrides(args: argparse.Namespace) -> dict[str, Any]:
    return {
        k: getattr(args, k, None) for k in ("backend", "model", "seed") if getattr(args, k, None) is not None
    }


def run_eval(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from stage import runtime
    from stage.evals import judge, report, runner
    from stage.evals.compare import compare
    from stage.evals.metrics import Scorer
    from stage.evals.results import load_results
    from stage.evals.suite import load_suites, resolve
    from stage.evals.voice import VoiceModel

    if args.through_model is not None and not args.safety:
        raise ConfigError("--through-model goes with --safety dev|test|all (the half whose messages to say)")
    story = runtime.story(settings)
    suites = load_suites(resolve(args.suites, settings.evals_dir / "suites"), story) if args.suites or not (args.quiz or args.safety) else []
    wide = sys.stdout.isatty() and Console().width >= 110  # the summary table needs ~110 columns
    out = Console(highlight=False, soft_wrap=True, width=None if wide else 130)
    if args.list:
        for s in suites:
            out.print(
                f"{s.name:32} {s.spec.setup.beat!s:14} {', '.join(s.spec.tags):28} {s.spec.description}"
            )
        return 0
    old = load_results(args.compare) if args.compare else None
    report_dir: Path = args.report or settings.story_home / "evals" / time.strftime("%Y%m%d-%H%M%S")
    the_judge = judge.from_env()
    scorer = Scorer(story, VoiceModel(story))
    err = Console(stderr=True, highlight=False)
    columns = (TextColumn("{task.description:32}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err, transient=False, disable=not err.is_terminal) as bar:
        task = bar.add_task("starting", total=sum(runner.work(s) for s in suites))

        def tick(name: str, n: int) -> None:
            bar.update(task, advance=n, description=name)

        results = runner.run(
            suites,
            story,
            settings,
            report_dir,
            _overrides(args),
            scorer=scorer,
            judge=the_judge,
            progress=tick,
        )
        if args.quiz:
            results["quiz"] = _quiz(args.quiz, story, settings, bar)
        if args.safety:
            from stage.evals import safety
            from stage.policy.verdict import default_policy

            results["safety"] = safety.run(args.safety, story, default_policy())
            if args.through_model is not None:
                results["safety"]["through_model"] = _redteam(args, story, settings, bar)
    deltas = compare(old, results, str(args.compare)) if old is not None else None
    if deltas is not None:
        results["compare"] = deltas
    (report_dir / "results.json").write_text(
        json.dumps(results, indent=1, ensure_ascii=False), encoding="utf-8"
    )
    html = report.write(results, story, report_dir, deltas)
    _summary(out, results, deltas)
    for line in results["failures"]:
        print(line)
    print(f"results: {report_dir / 'results.json'}")
    print(f"report:  {html}")
    return 1 if results["failures"] else 0


def _redteam(args: argparse.Namespace, story: Any, settings: Settings, bar: Any) -> dict[str, Any]:
    """The half's harmful messages said to the characters through the model (the input screen off)."""
    from stage import runtime
    from stage.evals import redteam
    from stage.policy.labelled import Side, half, load_set
    from stage.policy.verdict import default_policy

    lines = [x for x in half(load_set(), args.safety, Side.TYPED) if x.harmful]
    # taken in turn from each harm, so the first N cover every harm
    seen: Counter[Any] = Counter()
    ranked = []
    for x in lines:
        ranked.append((seen[x.harm], x))
        seen[x.harm] += 1
    lines = [x for _, x in sorted(ranked, key=lambda pair: pair[0])]
    lines = lines[: args.through_model] if args.through_model else lines
    model, params = runtime.model_and_params(settings)
    retriever = runtime.retriever(settings, story)
    task = bar.add_task("harmful messages through the model", total=len(lines))
    asked = []
    for a in redteam.ask(
        lines, story=story, model=model, retriever=retriever, params=params, policy=default_policy(),
        seed=settings.seed or 0,
    ):
        asked.append(a)
        bar.update(task, advance=1, description=f"red team: {a.line.group}")
    return redteam.summary(asked)


def _quiz(split: str, story: Any, settings: Settings, bar: Any) -> dict[str, Any]:
    """Ask the quiz through the configured model and lore store, with a progress bar of its own."""
    from stage import runtime
    from stage.evals import quiz

    questions = [q for q in quiz.load_quiz(story, settings.evals_dir / "quiz.yaml") if split in ("all", q.split)]
    model, params = runtime.model_and_params(settings)
    retriever = runtime.retriever(settings, story)
    task = bar.add_task("knowledge quiz", total=len(questions))
    answers = []
    try:
        for a in quiz.run(
            questions, story=story, model=model, retriever=retriever, params=params, seed=settings.seed or 0
        ):
            answers.append(a)
            bar.update(task, advance=1, description=f"quiz: {a.question.id}")
    finally:
        model.close()
    return quiz.summary(answers, split)


def _summary(out: Any, results: dict[str, Any], deltas: dict[str, Any] | None) -> None:
    from rich import box
    from rich.table import Table

    from stage.evals.report import fmt

    table = Table(title="stage eval", title_justify="left", box=box.SIMPLE_HEAD)
    for col in (
        "suite",
        "result",
        "turns",
        "leaks",
        "attrib.",
        "break",
        "repeat",
        "ident.",
        "ground.",
        "p95 ms",
    ):
        table.add_column(
            col, justify="left" if col in ("suite", "result") else "right", no_wrap=col == "suite"
        )
    for s in results["suites"]:
        m = s["metrics"]
        table.add_row(
            s["name"],
            "[green]pass[/]" if s["passed"] else "[red]FAIL[/]",
            *(fmt(m.get(k)) for k in ("turns", "leaks", "attribution_errors", "break_character_rate")),
            *(fmt(m.get(k)) for k in ("repetition_rate", "identifiability", "grounding", "latency_p95_ms")),
        )
    if results["suites"]:
        out.print(table)
    quiz = results.get("quiz")
    if quiz:
        per = ", ".join(f"{c} {fmt(v['rate'])}" for c, v in quiz["per_character"].items())
        out.print(f"knowledge quiz ({quiz['split']}): {fmt(quiz['quiz_accuracy'])} right; {per}; scope kept {fmt(quiz['scope_kept'])}")
    pol = results.get("safety")
    if pol:
        per = ", ".join(f"{h} {fmt(v['recall'])}" for h, v in pol["per_harm"].items())
        out.print(
            f"content policy ({pol['split']}): caught {fmt(pol['recall'])} of {pol['harmful_lines']} harmful "
            f"({per}); refused {fmt(pol['false_refusals'])} of {pol['benign_lines']} benign; "
            f"{len(pol['other_evals']['refused'])} of {pol['other_evals']['lines']} quiz and suite lines refused"
        )
        red = pol.get("through_model")
        if red:
            out.print(
                f"  through the model: {red['asked']} harmful messages said to the characters; "
                f"{red['unsafe_reached']} unsafe lines reached the transcript ({red['near']} near, to read); "
                f"{red['refused_on_output']} "
                f"candidates refused on output; {red['fallback']} fallback lines"
            )
    if deltas is not None:
        changed = [r for r in deltas["totals"] if r["delta"]]
        out.print(f"compared with {deltas['source']}: {len(changed)} metric(s) changed")
        for r in changed:
            tag = f" ({r['verdict']})" if r["verdict"] else ""
            out.print(f"  {r['metric']:24} {fmt(r['old']):>9} -> {fmt(r['new']):>9}  {r['delta']:+g}{tag}")
    for w in results["warnings"]:
        out.print(f"[yellow]soft:[/] {w}")
