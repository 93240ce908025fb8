"""One character turn, run in a worker thread so the page can show its text token by token.

The worker writes the session's ``Pending`` (who was picked, why, the text so far) and wakes the iterator,
which yields so the Gradio generator can send a fresh render. Partial text that trips the content policy is
held back from the page (the agent refuses the finished reply; the stream must not show it meanwhile). If the page goes away mid-turn the worker still
finishes the turn, records it and frees the session; nothing is left half-written.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

from stage.agents import safety
from stage.director.policy import Decision
from stage.errors import ConfigError
from stage.transcript import Event
from stage.ui.render import Pending
from stage.ui.session import Session

TICK = 0.05  # seconds between renders while tokens stream: enough for the eye, light on the wire


class TurnRun:
    """Iterate to drive one turn; afterwards ``events`` holds what it produced, or ``error`` what went wrong."""

    def __init__(self, session: Session, wait_s: float = 300.0) -> None:
        self.session = session
        self.wait_s = wait_s
        self.events: list[Event] = []
        self.error: Exception | None = None
        self._changed = threading.Event()
        self._done = False

    def __iter__(self) -> Iterator[None]:
        s = self.session
        scene = s.scene
        if scene is None:
            raise ConfigError("there is no scene yet; press Play to start one")
        if not s.busy.acquire(timeout=self.wait_s):
            raise ConfigError("this scene is still busy with another turn; try again in a moment")
        pending = Pending(speaker="")
        s.pending = pending
        worker = threading.Thread(target=self._work, args=(pending,), name=f"turn-{s.key}", daemon=True)
        worker.start()
        while True:
            self._changed.wait()
            self._changed.clear()
            if self._done:
                break
            yield
            self._changed.wait(TICK)  # let a few tokens gather before the next render

    def _touch(self) -> None:
        self._changed.set()

    def _work(self, pending: Pending) -> None:
        s = self.session
        scene = s.scene
        lock = s.stage.turn_lock

        def on_decision(d: Decision) -> None:
            pending.speaker, pending.reason = d.speaker, d.reason
            self._touch()

        def on_token(text: str) -> None:
            pending.text += text
            # the agent checks the finished reply; the page must not show unsafe words while they stream
            pending.held = pending.held or not safety.check(pending.text).allowed
            self._touch()

        def on_retry(attempt: int, why: str) -> None:
            pending.text, pending.held, pending.retry = "", False, f"{why} (attempt {attempt + 1})"
            self._touch()

        try:
            if not lock.acquire(blocking=False):
                pending.waiting = True
                self._touch()
                lock.acquire()
            try:
                pending.waiting = False
                self._touch()
                assert scene is not None
                self.events = scene.step(on_token=on_token, on_retry=on_retry, on_decision=on_decision)
            finally:
                lock.release()
        except Exception as exc:  # handed to the page's handler, which turns it into a message
            self.error = exc
        finally:
            if s.pending is pending:
                s.pending = None
            s.busy.release()
            self._done = True
            self._touch()
