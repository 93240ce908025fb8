"""The self-contained HTML report: summary, failures, deltas, plots, tables, and the transcripts with flagged
turns highlighted. Everything is inline (CSS, PNGs), so the file can be mailed or kept as a CI artifact."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

from stage.describe import describe
from stage.evals import plots
from stage.evals.metrics import METRICS
from stage.transcript import ErrorEvent, Event, Turn, read_events
from stage.types import Story

TABLE = (
    "turns",
    "leak_rate",
    "prompt_leak_rate",
    "attribution_errors",
    "break_character_rate",
    "scaffold_rate",
    "repetition_rate",
    "identifiability",
    "grounding",
    "relevance_lift",
    "fallback_rate",
    "latency_p95_ms",
)
NOTES = (
    "repetition",
    "fallback",
    "prompt-leak",
)  # highlighted in amber; a "voice" note goes in the turn's small print
HELP = {
    "turns": "character turns",
    "leaks": "turns that say a key term the speaker could not know",
    "leak_rate": "share of turns that say a lore key term the speaker could not know at that beat",
    "prompt_leak_rate": "share of turns whose prompt (recorded at the model seam) held a key term out of the speaker's scope: a context-assembly leak, whatever the model then said",
    "attribution_errors": "turns with another character's 'Name:' line, or by a character not present / played by a person",
    "break_character_rate": "share of turns with meta talk ('as an AI', 'system prompt', ...)",
    "scaffold_rate": "share of turns that read out a section label of the prompt ('Your goal:', 'You, now:', ...)",
    "repetition_rate": "share of turns with >= 50% trigram overlap with the same speaker's earlier turn",
    "max_self_overlap": "highest trigram overlap of a turn with the same speaker's earlier turns",
    "distinct_1": "unique words / words, per speaker, averaged",
    "distinct_2": "unique word pairs / word pairs, per speaker, averaged",
    "identifiability": "share of turns (4+ words) whose embedding is closest to the speaker's own example lines",
    "grounding": "share of a turn's content words found in the lore chunks it was given",
    "relevance": "mean cosine (MiniLM) of a turn to the line it answers",
    "relevance_lift": "relevance minus the same turns' mean cosine to the lines the other turns answer (shuffled baseline); above 0: replies answer what was said, not only the topic",
    "fallback_rate": "share of turns where every candidate was rejected and a stock line was used",
    "regeneration_rate": "share of turns that needed at least one regeneration",
    "beats_visited": "distinct beats entered",
    "beats_completed": "distinct beats whose exit conditions were all met",
    "budget_used": "turns used / turn budget, for stays that ended",
    "turn_balance": "normalised entropy of who spoke in a beat (1 = even)",
}


@cache
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(Path(__file__).parent / "templates"),
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = fmt
    return env


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer() and abs(value) >= 10):
        return f"{int(value)}"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) < 10 else f"{value:.0f}"
    return str(value)


def _row(
    e: Event, names: dict[str, str], colors: dict[str, str], turns: dict[int, dict[str, Any]]
) -> dict[str, Any]:
    """One transcript line of the report; what it says and who said it come from ``stage.describe``."""
    row: dict[str, Any] = {"kind": e.kind, "seq": e.seq, "beat": e.beat, "who": "", "text": "", "note": ""}
    row.update(title="", meta="", flags=[], level="", judge={}, color="")
    line = describe(e, names)
    if line is None:
        return row
    row.update(who=line.label, text=line.text, note=line.reason or line.detail)
    if line.kind == "beat":  # a heading: the beat, where it is, the director's reason
        row.update(who="", title=line.text, text=line.detail, note=line.reason)
    elif line.kind == "end":
        row.update(who="", title=line.text, text=line.reason, note="")
    if isinstance(e, Turn):
        rec = turns.get(e.seq, {})
        flags = [f for f in rec.get("flags", []) if f["kind"] != "voice"]
        meta = [f"{e.latency_ms:.0f} ms", f"{e.prompt_tokens}+{e.completion_tokens} tokens"]
        meta += [f"voice: {f['detail']}" for f in rec.get("flags", []) if f["kind"] == "voice"]
        if e.lore_ids:
            meta.append("lore: " + ", ".join(e.lore_ids))
        if e.flags:
            meta.append("guards: " + ", ".join(e.flags))
        row.update(
            color=colors.get(e.speaker, "#444"),
            meta=" · ".join(meta),
            flags=flags,
            level="error"
            if any(f["error"] for f in flags)
            else ("warn" if any(f["kind"] in NOTES for f in flags) else ""),
            judge=rec.get("judge", {}),
        )
    return row


def transcript_rows(report_dir: Path, suite: dict[str, Any], story: Story) -> list[dict[str, Any]]:
    path = report_dir / suite["transcript"]
    if not path.is_file():
        missing = ErrorEvent(message=f"the transcript is missing: {path}", where="report")
        return [_row(missing, {}, {}, {})]
    names = {cid: p.name for cid, p in story.personas.items()}
    colors = {cid: p.color for cid, p in story.personas.items()}
    turns = {t["seq"]: t for t in suite["turns"]}
    return [_row(e, names, colors, turns) for e in read_events(path).events if e.kind != "scene"]


def render(
    results: dict[str, Any], story: Story, report_dir: Path, deltas: dict[str, Any] | None = None
) -> str:
    names = {cid: p.name for cid, p in story.personas.items()}
    colors = {cid: p.color for cid, p in story.personas.items()}
    totals = results["totals"]
    all_turns = [t for s in results["suites"] for t in s["turns"]]
    figures = {
        "characters": plots.per_character(totals["per_character"], names, colors),
        "beats": plots.per_beat(
            totals["per_beat"], totals["outcomes"], {b.id: b.position for b in story.plot.beats}
        ),
        "latency": plots.latency(all_turns),
    }
    quiz = results.get("quiz")
    if quiz:
        by_split = {
            s: {
                c: _rate(a for a in quiz["answers"] if a["to"] == c and a["split"] == s and a["kind"] == "fact")
                for c in quiz["per_character"]
            }
            for s in ("dev", "test")
            if any(a["split"] == s for a in quiz["answers"])
        }
        figures["quiz"] = plots.quiz(quiz["per_character"], by_split, names, colors)
    policy = results.get("safety")
    if policy:
        figures["safety"] = plots.safety(policy["per_harm"], policy["per_theme"])
    flagged = {
        s["name"]: sum(1 for t in s["turns"] if any(f["error"] for f in t["flags"]))
        for s in results["suites"]
    }
    return (
        _env()
        .get_template("report.html.j2")
        .render(
            results=results,
            totals=totals,
            deltas=deltas,
            figures=figures,
            names=names,
            colors=colors,
            table=TABLE,
            help=HELP,
            metrics=[m for m in METRICS if m in totals["metrics"]],
            beats={b.id: b for b in story.plot.beats},
            flagged=flagged,
            transcripts={s["name"]: transcript_rows(report_dir, s, story) for s in results["suites"]},
        )
    )


def _rate(answers: Any) -> dict[str, Any]:
    got = list(answers)
    return {"rate": sum(a["right"] for a in got) / len(got) if got else None, "asked": len(got)}


def write(
    results: dict[str, Any], story: Story, report_dir: Path, deltas: dict[str, Any] | None = None
) -> Path:
    path = report_dir / "report.html"
    path.write_text(render(results, story, report_dir, deltas), encoding="utf-8")
    return path
