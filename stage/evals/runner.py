"""Play suites through the real scene loop (director -> agent -> transcript), score them, check expectations."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from stage import runtime
from stage.agents.retrieval import Retriever
from stage.errors import ModelError, ModelUnavailable, StageError
from stage.evals.checks import Check, check_run, check_step
from stage.evals.judge import Judge, judge_turns
from stage.evals.metrics import Scorecard, Scorer
from stage.evals.played import Played
from stage.evals.recording import Recording
from stage.evals.results import assemble, suite_record
from stage.evals.suite import Step, Suite
from stage.scene import Scene, events_of
from stage.settings import Settings
from stage.transcript import Action, Event, Turn
from stage.types import Story

log = logging.getLogger(__name__)

Progress = Callable[[str, int], None]  # (what is happening, units of work done since the last call)
RetrieverFactory = Callable[[Settings, Story], Retriever]


def work(suite: Suite) -> int:
    """Units of progress a suite takes: one per step plus one per free turn."""
    return len(suite.spec.steps) + suite.free_turns


def suite_settings(suite: Suite, base: Settings, overrides: dict[str, Any]) -> Settings:
    """The suite's pins (backend, model, seed) over the base settings; explicit flags over the pins."""
    s = suite.spec.setup
    update: dict[str, Any] = {"seed": s.seed}
    if s.backend is not None:
        update["backend"] = s.backend
    if s.model is not None:
        update["model"] = s.model
    update.update({k: v for k, v in overrides.items() if v is not None})
    return base.model_copy(update=update)


def _do(scene: Scene, step: Step, on_turn: Callable[[list[Event]], None]) -> list[Event]:
    if step.say is not None:
        return scene.say(step.say, name=step.name, as_character=step.as_character or "")
    if step.turns is not None:
        events: list[Event] = []
        for _ in range(step.turns):
            got = events_of(scene.step())
            if not got:
                break
            events += got
            on_turn(got)
        return events
    if step.whisper is not None:
        return scene.direct(Action.WHISPER, target=step.whisper.to, text=step.whisper.text)
    if step.goto is not None:
        return scene.direct(Action.GOTO, target=str(step.goto))
    if step.inject is not None:
        return scene.direct(Action.INJECT, text=step.inject)
    action = step.action
    return scene.direct(action, target=str(getattr(step, action)))


def play(
    suite: Suite,
    story: Story,
    settings: Settings,
    retriever: Retriever,
    out: Path,
    progress: Progress | None = None,
) -> Played:
    """Run one suite's script; a step that raises a ``StageError`` ends the suite (recorded, not raised),
    except an unreachable model, which ends the whole run."""
    started = time.perf_counter()
    bare, params = runtime.model_and_params(settings)
    model = Recording(bare)
    setup = suite.spec.setup
    if out.exists():
        out.unlink()  # a suite's transcript is rewritten, never appended to an older run's
    scene = Scene.new(
        story,
        model,
        retriever,
        out,
        params,
        from_beat=setup.beat,
        seed=settings.seed or 0,
        humans=tuple(setup.humans),
        backend=settings.backend,
    )
    played = Played(suite, settings, [], out)
    tick = progress or (lambda what, n: None)

    def turned(events: list[Event]) -> None:
        prompt = model.take()
        for e in events:
            if isinstance(e, Turn) and prompt and e.model != "policy":
                played.prompts[e.seq] = prompt
        tick(suite.name, 1)

    try:
        if setup.present is not None:
            for cid in [c for c in scene.state.present if c not in setup.present]:
                scene.direct(Action.REMOVE, target=cid)
            for cid in [c for c in setup.present if c not in scene.state.present]:
                scene.direct(Action.ADD, target=cid)
        for n, step in enumerate(suite.spec.steps, start=1):
            try:
                events = _do(scene, step, turned)
            except ModelUnavailable:
                raise
            except (ModelError, StageError) as exc:
                played.error, played.failed_step = str(exc), n
                break
            finally:
                tick(suite.name, 1)
            played.step_turns.append([e.seq for e in events if isinstance(e, Turn)])
            played.beat_after.append(scene.state.beat.id)
    finally:
        scene.transcript.close()
        model.close()
    played.events = list(scene.transcript.events)
    played.seconds = round(time.perf_counter() - started, 2)
    return played


def check(played: Played, card: Scorecard, story: Story) -> list[Check]:
    suite = played.suite
    names = {cid: p.name for cid, p in story.personas.items()}
    beat_ids = {b.id: b.id for b in story.plot.beats} | {str(b.position): b.id for b in story.plot.beats}
    by_seq = {s.seq: s for s in card.turns}
    checks: list[Check] = []
    for n, (step, seqs) in enumerate(zip(suite.spec.steps, played.step_turns, strict=False), start=1):
        if step.expect is not None:
            turns = [by_seq[q] for q in seqs if q in by_seq]
            checks += check_step(n, step.expect, turns, played.beat_after[n - 1], beat_ids, names)
    if played.error:
        checks.append(
            Check(f"step {played.failed_step}", "the step to run", f"an error: {played.error}", False)
        )
    return checks + check_run(suite.spec.expect, card.metrics)


def run(
    suites: Sequence[Suite],
    story: Story,
    base: Settings,
    report_dir: Path,
    overrides: dict[str, Any] | None = None,
    retriever: RetrieverFactory | None = None,
    scorer: Scorer | None = None,
    judge: Judge | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Every suite in order; returns the results (as written to results.json)."""
    report_dir.mkdir(parents=True, exist_ok=True)
    retr = (retriever or runtime.retriever)(base, story)
    scorer = scorer or Scorer(story)
    records: list[dict[str, Any]] = []
    cards: list[Scorecard] = []
    for suite in suites:
        settings = suite_settings(suite, base, overrides or {})
        played = play(
            suite, story, settings, retr, report_dir / "transcripts" / f"{suite.name}.jsonl", progress
        )
        card = scorer.score(played.events, played.prompts)
        judged = judge_turns(judge, story, card, played.events) if judge is not None else {}
        checks = check(played, card, story)
        records.append(suite_record(played, card, checks, report_dir, judged))
        cards.append(card)
        log.info(
            "suite %s: %d turns, %s", suite.name, len(card.turns), "ok" if records[-1]["passed"] else "failed"
        )
    return assemble(records, cards, story, judge.label if judge is not None else "")
