"""The results document (results.json): one record per suite, totals over all suites, failure lines."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from stage.errors import DataError
from stage.evals.checks import Check
from stage.evals.metrics import Scorecard, TurnScore, outcomes, summarise
from stage.evals.played import Played
from stage.transcript import Turn
from stage.types import Story


def judge_means(scores: dict[int, dict[str, int]], seqs: set[int] | None = None) -> dict[str, float | None]:
    picked = [v for q, v in scores.items() if seqs is None or q in seqs]
    means: dict[str, float | None] = {}
    for key in ("persona", "time"):
        vals = [v[key] for v in picked if key in v]
        means[f"judge_{key}"] = round(sum(vals) / len(vals), 3) if vals else None
    return means


def turn_record(s: TurnScore, judged: dict[str, int] | None) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "seq": s.seq,
        "beat": s.beat,
        "speaker": s.speaker,
        "words": s.words,
        "overlap": s.overlap,
        "grounding": s.grounding,
        "relevance": s.relevance,
        "shuffled": s.shuffled,
        "voice": s.voice,
        "latency_ms": s.latency_ms,
        "ttft_ms": s.ttft_ms,
        "prompt_tokens": s.prompt_tokens,
        "completion_tokens": s.completion_tokens,
        "regenerations": s.regenerations,
        "flags": [{"kind": f.kind, "detail": f.detail, "error": f.error} for f in s.flags],
    }
    if judged:
        rec["judge"] = judged
    return rec


def suite_record(
    played: Played, card: Scorecard, checks: list[Check], report_dir: Path, judged: dict[int, dict[str, int]]
) -> dict[str, Any]:
    spec = played.suite.spec
    failed = [c for c in checks if not c.ok and not c.soft]
    rec: dict[str, Any] = {
        "name": played.suite.name,
        "file": played.suite.display,
        "description": spec.description,
        "tags": list(spec.tags),
        "start_beat": played.events[1].beat if len(played.events) > 1 else spec.setup.beat,
        "backend": played.settings.backend,
        "model": next((e.model for e in played.events if isinstance(e, Turn) and e.model != "policy"), ""),
        "seed": played.settings.seed,
        "transcript": str(played.transcript.relative_to(report_dir)),
        "seconds": played.seconds,
        "passed": not failed,
        "error": played.error,
        "checks": [c.to_dict() for c in checks],
        "metrics": card.metrics,
        "per_character": card.per_character,
        "per_beat": card.per_beat,
        "segments": [
            {
                "beat": g.beat,
                "outcome": g.outcome,
                "utterances": g.utterances,
                "budget": g.budget,
                "satisfied": g.satisfied,
                "exits": g.exits,
                "turns": dict(g.turns),
            }
            for g in card.segments
        ],
        "turns": [turn_record(s, judged.get(s.seq)) for s in card.turns],
    }
    if judged:
        rec["judge"] = judge_means(judged)
    return rec


def totals(cards: Sequence[Scorecard], story: Story) -> dict[str, Any]:
    """The same metrics over every suite's turns and beat stays together."""
    scores = [s for c in cards for s in c.turns]
    segments = [g for c in cards for g in c.segments]
    order = [b.id for b in story.plot.beats]
    beats = [b for b in order if any(g.beat == b for g in segments)]
    return {
        "metrics": summarise(scores, segments),
        "per_character": {
            cid: summarise([s for s in scores if s.speaker == cid], None)
            for cid in sorted({s.speaker for s in scores})
        },
        "per_beat": {
            b: summarise([s for s in scores if s.beat == b], [g for g in segments if g.beat == b])
            for b in beats
        },
        "outcomes": {b: outcomes([g for g in segments if g.beat == b]) for b in beats},
        "coverage": {
            "characters": sorted({s.speaker for s in scores}),
            "beats": [b for b in order if any(s.beat == b for s in scores)],
        },
    }


def assemble(
    records: Sequence[dict[str, Any]], cards: Sequence[Scorecard], story: Story, judge_label: str = ""
) -> dict[str, Any]:
    """The results document from per-suite records and their scorecards (in the same order)."""
    failures = [line for r in records for line in _lines(r, soft=False)]
    warnings = [line for r in records for line in _lines(r, soft=True)]
    result: dict[str, Any] = {
        "version": 1,
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "backend": sorted({r["backend"] for r in records}),
        "models": sorted({r["model"] for r in records if r["model"]}),
        "suites": list(records),
        "totals": totals(cards, story),
        "failures": failures,
        "warnings": warnings,
    }
    if judge_label:
        flat = [v for r in records for v in _judged(r).values()]
        result["judge"] = {"label": judge_label, **judge_means(dict(enumerate(flat)))}
    return result


def _lines(record: dict[str, Any], soft: bool) -> list[str]:
    return [
        Check(**c).line(record["name"]) for c in record["checks"] if not c["ok"] and bool(c["soft"]) == soft
    ]


def _judged(record: dict[str, Any]) -> dict[int, dict[str, int]]:
    return {t["seq"]: t["judge"] for t in record["turns"] if "judge" in t}


def load_results(path: Path) -> dict[str, Any]:
    """An earlier run's results.json, for ``--compare``."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise DataError(f"{path}: cannot read the old results: {exc.strerror}") from exc
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataError(
            f"{path}: expected a results.json written by `stage eval`, got invalid JSON ({exc})"
        ) from exc
    if not isinstance(data, dict) or "suites" not in data or "totals" not in data:
        raise DataError(
            f"{path}: expected a results.json written by `stage eval` (with 'suites' and 'totals')"
        )
    return data
