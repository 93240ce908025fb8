"""Concurrency per model endpoint: at most ``limit`` calls at once, the rest wait their turn.

Each endpoint has one ``Gate`` for the whole process, shared by every session and character that uses it:
the embedded server admits as many calls as it has slots, an OpenAI-compatible endpoint as many as its
``concurrency`` setting. Waiting calls are served in the order the work they belong to began
(``GenParams.since``: a character turn's start), then in arrival order. A turn samples its candidates one
after another, so ordering by call would let every waiting turn's calls interleave and all of them finish
late together; ordering by turn finishes the oldest turn first, and nobody is dropped.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from stage.llm.base import ChatModel, Chunk, GenParams, Queued
from stage.types import Message


@dataclass(order=True)
class _Ticket:
    since: float
    seq: int
    admitted: bool = field(default=False, compare=False)
    done: bool = field(default=False, compare=False)


class Gate:
    """A fair counting gate for one endpoint (a heap of waiting tickets and a count of admitted ones)."""

    def __init__(self, name: str, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"a gate admits at least one call (got {limit})")
        self.name = name
        self.limit = limit
        self.running = 0
        self.admitted_total = 0
        self.peak = 0
        self._waiting: list[_Ticket] = []
        self._cond = threading.Condition()
        self._seq = itertools.count()

    def join(self, since: float | None = None) -> _Ticket:
        """Take a place in the queue; ``try_admit``/``admit`` then let it in, ``leave`` gives it back."""
        ticket = _Ticket(since if since is not None else time.monotonic(), next(self._seq))
        with self._cond:
            heapq.heappush(self._waiting, ticket)
        return ticket

    def _first(self) -> _Ticket | None:
        while self._waiting and self._waiting[0].done:  # tickets that left while waiting
            heapq.heappop(self._waiting)
        return self._waiting[0] if self._waiting else None

    def _take(self, ticket: _Ticket) -> bool:
        if self.running < self.limit and self._first() is ticket:
            heapq.heappop(self._waiting)
            ticket.admitted = True
            self.running += 1
            self.admitted_total += 1
            self.peak = max(self.peak, self.running)
            self._cond.notify_all()  # the next in line may fit too
            return True
        return False

    def try_admit(self, ticket: _Ticket) -> bool:
        with self._cond:
            return ticket.admitted or self._take(ticket)

    def admit(self, ticket: _Ticket) -> None:
        with self._cond:
            while not (ticket.admitted or self._take(ticket)):
                self._cond.wait()

    def ahead(self, ticket: _Ticket) -> int:
        """Calls that come before ``ticket``: those running and those queued in front of it."""
        with self._cond:
            return self.running + sum(1 for t in self._waiting if not t.done and t < ticket)

    def leave(self, ticket: _Ticket) -> None:
        with self._cond:
            if ticket.done:
                return
            ticket.done = True
            if ticket.admitted:
                self.running -= 1
            self._cond.notify_all()

    @property
    def queued(self) -> int:
        with self._cond:
            return sum(1 for t in self._waiting if not t.done)


_GATES: dict[str, Gate] = {}
_GATES_LOCK = threading.Lock()


def gate_for(endpoint: str, limit: int) -> Gate:
    """The process-wide gate of one endpoint at one limit (settings that give it another limit get their own)."""
    with _GATES_LOCK:
        gate = _GATES.get(f"{endpoint} {limit}")
        if gate is None:
            gate = _GATES[f"{endpoint} {limit}"] = Gate(endpoint, limit)
        return gate


class Limited:
    """A model whose calls pass its endpoint's gate. A call that must wait yields ``Queued`` first, so a page can
    say so; a caller that stops iterating while it waits gives its place back."""

    def __init__(self, inner: ChatModel, gate: Gate) -> None:
        self.inner = inner
        self.gate = gate

    @property
    def name(self) -> str:
        return self.inner.name

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        ticket = self.gate.join(params.since)
        try:
            if not self.gate.try_admit(ticket):
                yield Queued(self.gate.name, self.gate.ahead(ticket))
                self.gate.admit(ticket)
            yield from self.inner.stream(messages, params)
        finally:
            self.gate.leave(ticket)

    def close(self) -> None:
        self.inner.close()
