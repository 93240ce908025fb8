"""Concurrency per endpoint: the limit holds, the N+1th call waits and none is dropped, earlier turns go first."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence

import pytest

from stage.llm import capacity, endpoint, make_model
from stage.llm.base import Done, GenParams, Queued, TextDelta, complete
from stage.llm.limits import Gate, Limited, gate_for
from stage.settings import Settings
from stage.types import Completion, Message, Usage

MSGS = [Message("user", "hi")]


class Slow:
    """A model that takes ``delay`` seconds per call and records how many calls ran at once."""

    def __init__(self, delay: float = 0.05) -> None:
        self.delay = delay
        self.running = 0
        self.peak = 0
        self.order: list[str] = []
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return "slow"

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[TextDelta | Done]:
        with self._lock:
            self.running += 1
            self.peak = max(self.peak, self.running)
            self.order.append(messages[0].content)
        try:
            time.sleep(self.delay)
            yield TextDelta("ok")
            yield Done(Completion("ok", "slow", Usage(1, 1, 0.0, 0.0), "stop"))
        finally:
            with self._lock:
                self.running -= 1

    def close(self) -> None:
        return None


def test_a_limit_holds_and_every_waiting_call_is_served() -> None:
    inner = Slow()
    model = Limited(inner, Gate("test", 3))
    done: list[str] = []
    workers = [threading.Thread(target=lambda: done.append(complete(model, MSGS, GenParams()).text)) for _ in range(10)]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert inner.peak == 3, "at most the limit at once, and the limit is used"
    assert done == ["ok"] * 10, "the calls past the limit waited; none was dropped"
    assert model.gate.running == 0 and model.gate.queued == 0


def test_a_waiting_call_says_so_before_it_waits() -> None:
    gate = Gate("test", 1)
    model = Limited(Slow(), gate)
    holder = gate.join()
    assert gate.try_admit(holder)
    stream = model.stream(MSGS, GenParams())
    first = next(stream)
    assert isinstance(first, Queued) and first.endpoint == "test" and first.ahead == 1
    threading.Timer(0.1, gate.leave, [holder]).start()
    rest = list(stream)
    assert isinstance(rest[-1], Done) and gate.running == 0


def test_a_caller_that_stops_waiting_gives_its_place_back() -> None:
    gate = Gate("test", 1)
    holder = gate.join()
    gate.try_admit(holder)
    stream = Limited(Slow(), gate).stream(MSGS, GenParams())
    assert isinstance(next(stream), Queued)
    stream.close()  # the page went away while it waited
    assert gate.queued == 0
    gate.leave(holder)
    after = gate.join()
    assert gate.try_admit(after), "nobody is left in front"


def test_calls_of_an_earlier_turn_go_before_a_later_turns() -> None:
    """A turn samples candidates one after another: its next call must not queue behind turns begun after it."""
    gate = Gate("test", 1)
    inner = Slow(delay=0.01)
    model = Limited(inner, gate)
    holder = gate.join()
    gate.try_admit(holder)
    early, late = time.monotonic() - 10, time.monotonic()
    threads = [
        threading.Thread(target=complete, args=(model, [Message("user", "late")], GenParams(since=late))),
        threading.Thread(target=complete, args=(model, [Message("user", "early")], GenParams(since=early))),
    ]
    for t in threads:
        t.start()
        time.sleep(0.05)  # the late turn's call arrives first
    gate.leave(holder)
    for t in threads:
        t.join(timeout=10)
    assert inner.order == ["early", "late"]


def test_each_endpoint_has_its_own_limit(tmp_path: object) -> None:
    remote_a = Settings(backend="openai", base_url="http://127.0.0.1:9/v1", concurrency=16)
    remote_b = Settings(backend="openai", base_url="http://127.0.0.1:10/v1", concurrency=2)
    local = Settings(backend="local", slots=4)
    assert endpoint(remote_a) == ("http://127.0.0.1:9/v1", 16)
    assert endpoint(remote_b)[1] == 2 and endpoint(local)[1] == 4
    assert gate_for(*endpoint(remote_a)) is gate_for(*endpoint(remote_a)), "one gate per endpoint per process"
    assert gate_for(*endpoint(remote_a)) is not gate_for(*endpoint(remote_b))
    both = Settings(backend="local", slots=4, models={"zara": {"backend": "openai", "base_url": "http://x/v1"}})
    assert capacity(both) == 4 + 16


def test_a_gate_admits_at_least_one() -> None:
    with pytest.raises(ValueError):
        Gate("test", 0)


def test_the_seam_limits_calls_per_endpoint() -> None:
    model = make_model(Settings(backend="scripted", concurrency=2, seed=1))
    outs: list[str] = []
    workers = [
        threading.Thread(target=lambda: outs.append(complete(model, MSGS, GenParams(max_tokens=8)).text))
        for _ in range(6)
    ]
    for w in workers:
        w.start()
    for w in workers:
        w.join(timeout=30)
    assert len(outs) == 6 and all(outs)
    gate = gate_for(*endpoint(Settings(backend="scripted", concurrency=2)))
    assert gate.peak <= 2 and gate.admitted_total >= 6
