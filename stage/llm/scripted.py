"""Deterministic replies behind the seam, for tests and replays (never a stand-in for a feature)."""

from __future__ import annotations

import random
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence

from stage.errors import ModelError
from stage.llm.base import Chunk, Done, GenParams, TextDelta
from stage.types import Completion, Message, Usage

_WORDS = [
    "the",
    "dream",
    "feels",
    "bright",
    "tonight",
    "and",
    "I",
    "wonder",
    "what",
    "the",
    "network",
    "keeps",
    "for",
    "us",
    "while",
    "we",
    "sleep",
    "maybe",
    "the",
    "park",
    "is",
    "quiet",
    "and",
    "the",
    "stars",
    "are",
    "real",
    "there",
    "so",
    "we",
    "could",
    "read",
    "a",
    "book",
    "together",
]

Responder = Callable[[Sequence[Message]], str]


class ScriptedModel:
    """Replies from a queue (``enqueue``), a function of the messages, or a seeded generator.

    Queued replies are used first; an ``Exception`` in the queue is raised instead of a reply.
    """

    def __init__(
        self,
        replies: Iterable[str | Exception] = (),
        *,
        seed: int = 0,
        responder: Responder | None = None,
        delay: float = 0.0,
    ) -> None:
        self._queue: deque[str | Exception] = deque(replies)
        self._rng = random.Random(seed)
        self._responder = responder
        self._delay = delay
        self._lock = threading.Lock()
        self.calls: list[list[Message]] = []

    @property
    def name(self) -> str:
        return "scripted"

    def enqueue(self, *replies: str | Exception) -> None:
        with self._lock:
            self._queue.extend(replies)

    def _next(self, messages: Sequence[Message]) -> str:
        with self._lock:
            self.calls.append(list(messages))
            if self._queue:
                item = self._queue.popleft()
                if isinstance(item, Exception):
                    raise item
                return item
            if self._responder is not None:
                return self._responder(messages)
            n = self._rng.randint(6, 14)
            return " ".join(self._rng.choice(_WORDS) for _ in range(n)).capitalize() + "."

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        start = time.perf_counter()
        text = self._next(messages)
        for stop in params.stop:
            if stop and stop in text:
                text = text[: text.index(stop)]
        words = text.split(" ")
        finish = "length" if len(words) > params.max_tokens else "stop"
        if finish == "length":
            words = words[: params.max_tokens]
        text = " ".join(words)
        ttft = 0.0
        for i, word in enumerate(words):
            if self._delay:
                time.sleep(self._delay)
            if i == 0:
                ttft = (time.perf_counter() - start) * 1000
            yield TextDelta(word if i == 0 else " " + word)
        prompt_tokens = sum(len(m.content.split()) for m in messages)
        usage = Usage(
            prompt_tokens=prompt_tokens,
            completion_tokens=len(words),
            ttft_ms=ttft,
            latency_ms=(time.perf_counter() - start) * 1000,
        )
        yield Done(Completion(text=text, model=self.name, usage=usage, finish_reason=finish))

    def close(self) -> None:
        return None


def failing(message: str = "scripted failure") -> ModelError:
    """A queued error for tests: ``ScriptedModel([failing(), "ok"])``."""
    from stage.llm.base import TransientModelError

    return TransientModelError(message)
