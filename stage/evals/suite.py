"""The suite file format (``evals/suites/*.yaml``): a fixed setup, a script of steps, and expectations.

Read with pydantic (``extra="forbid"``); every problem names the file, the line, the field and what was
expected, as the persona and plot files do. Character and beat references are checked against the story.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from stage.cast.schema import Id, Text
from stage.datafile import line_of, read_yaml, relative, validate
from stage.errors import DataError
from stage.settings import ROOT
from stage.types import Story

SUITES_DIR = ROOT / "evals" / "suites"
ACTIONS = ("say", "turns", "goto", "inject", "whisper", "force", "add", "remove")
Term = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=120)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Setup(Strict):
    beat: str | int = "1"  # beat id or 1-based position
    present: list[Id] | None = None  # who is on stage at the start (default: the beat's cast)
    humans: list[Id] = Field(default_factory=list)  # characters played by people (the script speaks for them)
    backend: Literal["local", "openai", "scripted"] | None = None  # pinned backend (--backend overrides)
    model: str | None = None  # pinned model name at the endpoint
    seed: int = 0


class Whisper(Strict):
    to: Id
    text: Text


class StepExpect(Strict):
    """Checked against the character turns the step produced (and the scene state after it)."""

    speaker: Id | None = None  # who speaks first
    speakers: list[Id] | None = None  # every turn is by one of these
    must_mention: list[Term | list[Term]] = Field(default_factory=list)  # each item (or one of a list)
    must_not_mention: list[Term] = Field(default_factory=list)
    beat: str | int | None = None  # the beat the scene is in after the step
    clean: bool = False  # no leak, attribution or break-character flag on the step's turns
    soft: bool = False  # report a miss as a warning instead of a failure


class Step(Strict):
    say: Text | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)] = "Visitor"
    as_character: Id | None = None
    turns: int | None = Field(default=None, ge=1, le=200)
    goto: str | int | None = None
    inject: Text | None = None
    whisper: Whisper | None = None
    force: Id | None = None
    add: Id | None = None
    remove: Id | None = None
    expect: StepExpect | None = None

    @model_validator(mode="after")
    def _one_action(self) -> Step:
        given = [a for a in ACTIONS if getattr(self, a) is not None]
        if len(given) != 1:
            got = ", ".join(given) or "none"
            raise ValueError(f"expected exactly one of {', '.join(ACTIONS)} per step, got {got}")
        if self.as_character is not None and self.say is None:
            raise ValueError("expected as_character only on a 'say' step")
        return self

    @property
    def action(self) -> str:
        return next(a for a in ACTIONS if getattr(self, a) is not None)


class Bound(Strict):
    min: float | None = None
    max: float | None = None
    soft: bool = False

    @model_validator(mode="after")
    def _some_bound(self) -> Bound:
        if self.min is None and self.max is None:
            raise ValueError("expected a 'min' or a 'max' (or both)")
        return self


class RunExpect(Strict):
    """Thresholds on the suite's metrics (see stage/evals/metrics.py for their definitions)."""

    turns: Bound | None = None
    leak_rate: Bound | None = None
    prompt_leak_rate: Bound | None = None
    leaks: Bound | None = None
    attribution_errors: Bound | None = None
    break_character_rate: Bound | None = None
    scaffold_rate: Bound | None = None
    repetition_rate: Bound | None = None
    max_self_overlap: Bound | None = None
    distinct_1: Bound | None = None
    distinct_2: Bound | None = None
    identifiability: Bound | None = None
    grounding: Bound | None = None
    relevance: Bound | None = None
    relevance_lift: Bound | None = None
    beats_visited: Bound | None = None
    beats_completed: Bound | None = None
    turn_balance: Bound | None = None
    fallback_rate: Bound | None = None
    regeneration_rate: Bound | None = None
    latency_p95_ms: Bound | None = None
    ttft_p95_ms: Bound | None = None

    def bounds(self) -> list[tuple[str, Bound]]:
        return [(name, b) for name in type(self).model_fields if (b := getattr(self, name)) is not None]


class SuiteSchema(Strict):
    name: Id | None = None  # default: the file name
    description: Text
    tags: list[Id] = Field(default_factory=list)
    setup: Setup = Field(default_factory=Setup)
    steps: list[Step] = Field(min_length=1, max_length=200)
    expect: RunExpect = Field(default_factory=RunExpect)


@dataclass(frozen=True)
class Suite:
    name: str
    path: Path
    display: str
    spec: SuiteSchema

    @property
    def free_turns(self) -> int:
        return sum(s.turns or 0 for s in self.spec.steps)


def _clean(problem: str) -> str:
    return problem.replace(": value error, ", ": ")


def _refs(spec: SuiteSchema) -> Iterable[tuple[tuple[int | str, ...], str, str]]:
    """(field path, kind, value) of every character or beat the suite names."""
    s = spec.setup
    yield ("setup", "beat"), "beat", str(s.beat)
    for i, c in enumerate(s.present or []):
        yield ("setup", "present", i), "character", c
    for i, c in enumerate(s.humans):
        yield ("setup", "humans", i), "character", c
    for n, step in enumerate(spec.steps):
        for key in ("as_character", "force", "add", "remove"):
            if (value := getattr(step, key)) is not None:
                yield ("steps", n, key), "character", value
        if step.goto is not None:
            yield ("steps", n, "goto"), "beat", str(step.goto)
        if step.whisper is not None:
            yield ("steps", n, "whisper", "to"), "character", step.whisper.to
        e = step.expect
        if e is None:
            continue
        if e.speaker is not None:
            yield ("steps", n, "expect", "speaker"), "character", e.speaker
        for i, c in enumerate(e.speakers or []):
            yield ("steps", n, "expect", "speakers", i), "character", c
        if e.beat is not None:
            yield ("steps", n, "expect", "beat"), "beat", str(e.beat)


def _check_refs(spec: SuiteSchema, story: Story, display: str, text: str, problems: list[str]) -> None:
    beats = {b.id for b in story.plot.beats} | {str(b.position) for b in story.plot.beats}
    for loc, kind, value in _refs(spec):
        known = value in story.personas if kind == "character" else value in beats
        if known:
            continue
        line = line_of(text, loc)
        where = f"{display}:{line}" if line else display
        field = ".".join(str(p) for p in loc)
        valid = (
            ", ".join(story.personas) if kind == "character" else ", ".join(b.id for b in story.plot.beats)
        )
        problems.append(f"{where}: {field}: expected a {kind} id ({valid}), got {value!r}")


def load_suite(path: Path, story: Story, problems: list[str]) -> Suite | None:
    display = relative(path)
    before = len(problems)
    data = read_yaml(path, display, problems)
    if data is None:
        return None
    text = path.read_text(encoding="utf-8")
    spec = validate(SuiteSchema, data, display, text, problems)
    problems[before:] = [_clean(p) for p in problems[before:]]
    if spec is None:
        return None
    _check_refs(spec, story, display, text, problems)
    if len(problems) > before:
        return None
    return Suite(spec.name or path.stem, path, display, spec)


def resolve(refs: Sequence[str], folder: Path = SUITES_DIR) -> list[Path]:
    """Suite files from names (``bedtime-future``) or paths; all suites in ``folder`` when none given."""
    if not refs:
        found = sorted(folder.glob("*.yaml")) + sorted(folder.glob("*.yml"))
        if not found:
            raise DataError(f"{relative(folder)}: expected suite files (*.yaml), found none")
        return found
    paths: list[Path] = []
    problems: list[str] = []
    for ref in refs:
        candidates = [Path(ref), folder / ref, folder / f"{ref}.yaml", folder / f"{ref}.yml"]
        hit = next((c for c in candidates if c.is_file()), None)
        if hit is None:
            known = ", ".join(p.stem for p in sorted(folder.glob("*.yaml")))
            problems.append(f"{ref}: no such suite file or name; suites in {relative(folder)}: {known}")
        else:
            paths.append(hit)
    if problems:
        raise DataError(problems)
    return paths


def load_suites(paths: Sequence[Path], story: Story) -> list[Suite]:
    """Every suite, or ``DataError`` listing every problem in every file."""
    problems: list[str] = []
    suites = [s for p in paths if (s := load_suite(p, story, problems)) is not None]
    names: dict[str, str] = {}
    for s in suites:
        if s.name in names:
            problems.append(f"{s.display}: name: duplicate suite name {s.name!r}, also in {names[s.name]}")
        names[s.name] = s.display
    if problems:
        raise DataError(problems)
    return suites


def spec_from(data: dict[str, Any]) -> SuiteSchema:
    """A suite built in code (tests, notebooks); raises pydantic's ``ValidationError`` when malformed."""
    return SuiteSchema.model_validate(data)
