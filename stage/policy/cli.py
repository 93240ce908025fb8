"""``stage policy``: fit the content policy's classifier on the dev half, or see what it makes of a line."""

from __future__ import annotations

import argparse
import json
from typing import Any

from stage.settings import Settings


def add_policy_commands(subparsers: Any, model_flags: Any, data_flags: Any) -> None:
    p = subparsers.add_parser(
        "policy",
        help="the child-safety content policy: fit its classifier, or check a line",
        description="The content policy refuses harmful text by word pattern and by meaning (a small classifier "
        "over the MiniLM embedding). `fit` rebuilds stage/policy/head.npz from the dev half of evals/safety.yaml "
        "(never the test half; `stage eval --safety test` reports on that); `check` shows the verdict on a line.",
    )
    sub = p.add_subparsers(dest="policy_command", metavar="ACTION", required=True)
    f = sub.add_parser("fit", help="fit the classifier on the labelled set's dev half and save it",
                       description="Fit the classifier on the dev half (and the story's own lines), choose its "
                       "threshold out of fold, and write stage/policy/head.npz.")
    data_flags(f)
    f.add_argument("--epochs", type=int, default=400, help="training steps (default 400)")
    f.add_argument("--l2", type=float, default=1e-4, help="weight decay (default 1e-4)")
    f.add_argument("--dry-run", action="store_true", help="report, but do not write the file")
    f.set_defaults(handler=run_fit)
    c = sub.add_parser("check", help="the policy's verdict on each line given",
                       description="Print the verdict and the classifier's probabilities for each line.")
    c.add_argument("lines", nargs="+", metavar="TEXT")
    c.add_argument("--as", dest="character", default="", help="judge it as a line of this character "
                   "(their boundaries apply)")
    data_flags(c)
    c.set_defaults(handler=run_check)


def run_fit(args: argparse.Namespace, settings: Settings) -> int:
    from rich.console import Console

    from stage.lore.embed import embedding_function
    from stage.policy import fit
    from stage.policy.head import HEAD_FILE
    from stage.policy.labelled import half, load_set
    from stage.story import Sources, load_story

    console = Console(stderr=True)
    story = load_story(Sources.from_settings(settings))
    dev = half(load_set(), "dev")  # both sides: what people type and what characters say
    with console.status("fitting") as status:
        head, report = fit.fit(
            dev, story, embedding_function(), fit.Settings(epochs=args.epochs, l2=args.l2),
            tick=lambda what: status.update(what),
        )
    print(json.dumps({k: v for k, v in report.items() if k not in ("missed", "refused")}, indent=2))
    for label in ("missed", "refused"):
        for line in report[label]:
            print(f"  {label} (out of fold): {line}")
    if not args.dry_run:
        head.save()
        print(f"wrote {HEAD_FILE} (threshold {head.threshold}, strict {head.strict})")
    return 0


def run_check(args: argparse.Namespace, settings: Settings) -> int:
    from stage.policy.features import featurise
    from stage.policy.harms import Harm, boundary_harms
    from stage.policy.verdict import default_policy
    from stage.story import Sources, load_story

    policy = default_policy()
    bounds: frozenset[Harm] = frozenset()
    if args.character:
        story = load_story(Sources.from_settings(settings))
        bounds = boundary_harms(story.personas[args.character].boundaries)
    for line in args.lines:
        v = policy.check(line, boundaries=bounds)
        probs = policy.head.harms(policy.head.probabilities(featurise([line], policy.embed))[0])
        top = ", ".join(f"{h.value} {p:.2f}" for h, p in sorted(probs.items(), key=lambda kv: -kv[1])[:3])
        verdict = "allowed" if v.allowed else f"refused: {v.category} (by {v.by})"
        print(f"{verdict:32} [{top}]  {line}")
    return 0
