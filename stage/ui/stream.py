"""One character turn, streamed onto the page by iterating the scene's turn.

Each item of ``Scene.step`` updates the session's ``Pending`` (who was picked, why, the text so far); the
iterator yields when there is something new to render, at most every ``TICK`` while text streams. Partial
text that trips the content policy is held back from the page (the agent refuses the finished reply; the
stream must not show it meanwhile). The turn writes nothing until its reply is complete, so a page that
goes away mid-turn (Gradio closes the generator) leaves the transcript as it was, and its place at the model's endpoint is given back.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

from stage.agents import safety
from stage.director.policy import Decision
from stage.errors import ConfigError
from stage.llm.base import Queued, Retry, TextDelta
from stage.scene import Progress, Scene, Wrote
from stage.transcript import Event
from stage.ui.chat import Pending
from stage.ui.session import Session

TICK = 0.05  # seconds between renders while tokens stream: enough for the eye, light on the wire


class TurnRun:
    """Iterate to drive one turn; afterwards ``events`` holds what it produced, or ``error`` what went wrong.
    ``drive`` makes the turn from the scene: its next turn (``Scene.step``) unless told otherwise (a swipe)."""

    def __init__(
        self, session: Session, wait_s: float = 300.0, drive: Callable[[Scene], Iterator[Progress]] | None = None
    ) -> None:
        self.session = session
        self.wait_s = wait_s
        self.drive = drive or Scene.step
        self.events: list[Event] = []
        self.error: Exception | None = None

    def __iter__(self) -> Iterator[None]:
        s = self.session
        scene = s.scene
        if scene is None:
            raise ConfigError("there is no scene yet; press Play to start one")
        if not s.busy.acquire(timeout=self.wait_s):
            raise ConfigError("this scene is still busy with another turn; try again in a moment")
        pending = Pending(speaker="")
        s.pending = pending
        try:
            shown = 0.0
            for item in self.drive(scene):
                if isinstance(item, Wrote):
                    self.events.append(item.event)
                    continue
                if isinstance(item, Queued):  # every slot of the model's endpoint is busy with other turns
                    pending.waiting = True
                    yield
                    continue
                pending.waiting = False
                if isinstance(item, Decision):
                    pending.speaker, pending.reason = item.speaker, item.reason
                elif isinstance(item, Retry):
                    pending.text, pending.held = "", False
                    pending.retry = f"{item.reason} (attempt {item.attempt + 1})"
                elif isinstance(item, TextDelta):
                    pending.text += item.text
                    if time.monotonic() - shown < TICK:
                        continue
                # the agent checks the finished reply; the page must not show unsafe words meanwhile
                # (checked when the page would show them, not per token: the check embeds the text)
                if pending.text and not pending.held:
                    pending.held = not safety.check(pending.text).allowed
                shown = time.monotonic()
                yield
        except Exception as exc:  # handed to the page's handler, which turns it into a message
            self.error = exc
        finally:
            if s.pending is pending:
                s.pending = None
            s.busy.release()
