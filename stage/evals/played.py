"""A suite after its run: what the runner hands to scoring, checking and the results document."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from stage.evals.suite import Suite
from stage.settings import Settings
from stage.transcript import Event


@dataclass
class Played:
    """A suite after its run: the transcript, which turns each step produced, and the beat after it."""

    suite: Suite
    settings: Settings
    events: list[Event]
    transcript: Path
    step_turns: list[list[int]] = field(default_factory=list)  # seqs of character turns per step
    beat_after: list[str] = field(default_factory=list)
    prompts: dict[int, str] = field(default_factory=dict)  # turn seq -> the prompt its model call was given
    error: str = ""  # a step that could not run (the suite stops there)
    failed_step: int = 0
    seconds: float = 0.0
