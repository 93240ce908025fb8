"""Expectations of a suite, checked after its run: per step (speakers, mentions, beat, clean turns) and per run
(metric thresholds). Each check reads as ``expected ..., got ...``."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from stage.evals.knowledge import normalise, term_pattern
from stage.evals.metrics import Metrics, TurnScore
from stage.evals.suite import Bound, RunExpect, StepExpect

SHOWN = 90


@dataclass(frozen=True)
class Check:
    where: str  # "step 3" or "run"
    expected: str
    got: str
    ok: bool
    soft: bool = False

    def line(self, suite: str) -> str:
        return f"{suite}: {self.where}: expected {self.expected}, got {self.got}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _quote(s: TurnScore, names: Mapping[str, str]) -> str:
    text = s.text if len(s.text) <= SHOWN else s.text[: SHOWN - 1] + "…"
    return f"#{s.seq} {names.get(s.speaker, s.speaker)}: “{text}”"


def _mentions(text: str, term: str) -> bool:
    return bool(term_pattern(term).search(normalise(text)))


def check_step(
    n: int,
    e: StepExpect,
    turns: Sequence[TurnScore],
    beat_after: str,
    beat_ids: Mapping[str, str],
    names: Mapping[str, str],
) -> list[Check]:
    """``beat_ids`` maps positions and ids to ids, so ``beat: 9`` and ``beat: malfunction`` both work."""
    where = f"step {n}"
    out: list[Check] = []

    def add(expected: str, got: str, ok: bool) -> None:
        out.append(Check(where, expected, got, ok, e.soft))

    def who(cid: str) -> str:
        return names.get(cid, cid)

    if e.speaker is not None:
        first = turns[0].speaker if turns else ""
        got = f"{who(first)} speaking first" if turns else "no character turn"
        add(f"{who(e.speaker)} to speak first", got, first == e.speaker)
    if e.speakers is not None:
        stray = next((s for s in turns if s.speaker not in e.speakers), None)
        allowed = ", ".join(who(c) for c in e.speakers)
        add(f"only {allowed} to speak", _quote(stray, names) if stray else "no other speaker", stray is None)
    text = "\n".join(s.text for s in turns)
    for item in e.must_mention:
        options = [item] if isinstance(item, str) else list(item)
        label = f"'{options[0]}'" if len(options) == 1 else "one of " + ", ".join(f"'{o}'" for o in options)
        hit = any(_mentions(text, o) for o in options)
        shown = "no turn" if not turns else "none in " + "; ".join(_quote(s, names) for s in turns[:2])
        add(f"a mention of {label}", "a mention" if hit else shown, hit)
    for term in e.must_not_mention:
        bad = next((s for s in turns if _mentions(s.text, term)), None)
        add(f"no mention of '{term}'", _quote(bad, names) if bad else "no mention", bad is None)
    if e.beat is not None:
        want = beat_ids.get(str(e.beat), str(e.beat))
        add(f"the scene to be in beat '{want}'", f"beat '{beat_after}'", beat_after == want)
    if e.clean:
        dirty = [(s, f) for s in turns for f in s.flags if f.error]
        got = f"#{dirty[0][0].seq} {dirty[0][1].kind}: {dirty[0][1].detail}" if dirty else "no such flag"
        add("no leak, attribution, break-character or scaffold flag", got, not dirty)
    return out


def _bound_text(name: str, b: Bound) -> str:
    if b.min is not None and b.max is not None:
        return f"{name} between {b.min:g} and {b.max:g}"
    return f"{name} >= {b.min:g}" if b.min is not None else f"{name} <= {b.max:g}"


def check_run(e: RunExpect, metrics: Metrics) -> list[Check]:
    out = []
    for name, b in e.bounds():
        value = metrics.get(name)
        if value is None:
            out.append(
                Check("run", _bound_text(name, b), "no measurement (nothing to measure)", False, b.soft)
            )
            continue
        ok = (b.min is None or value >= b.min) and (b.max is None or value <= b.max)
        out.append(Check("run", _bound_text(name, b), f"{value:g}", ok, b.soft))
    return out
