"""Wrappers that watch the stage without changing it: every model call and every retrieval, timed."""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from stage.agents.retrieval import Retriever
from stage.llm.base import ChatModel, Chunk, Done, GenParams
from stage.types import Completion, LoreHit, Message


@dataclass(frozen=True)
class Call:
    """One call through the seam, as the stage made it, so the baseline can replay it exactly."""

    messages: tuple[Message, ...]
    params: GenParams
    completion: Completion
    ms: float  # wall time of the whole seam call (client, wrappers, token counting)


@dataclass
class Recording:
    """A ``ChatModel`` that passes calls through and keeps them (cleared per turn by the bench)."""

    inner: ChatModel
    calls: list[Call] = field(default_factory=list)

    @property
    def name(self) -> str:
        return self.inner.name

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        start = time.perf_counter()
        for chunk in self.inner.stream(messages, params):
            if isinstance(chunk, Done):
                ms = (time.perf_counter() - start) * 1000
                self.calls.append(Call(tuple(messages), params, chunk.completion, ms))
            yield chunk

    def close(self) -> None:
        self.inner.close()


@dataclass
class TimedRetriever:
    """A ``Retriever`` that records how long each search took (ms)."""

    inner: Retriever
    ms: list[float] = field(default_factory=list)

    def search(self, query: str, as_character: str, beat: int, k: int = 3) -> list[LoreHit]:
        start = time.perf_counter()
        try:
            return self.inner.search(query, as_character, beat, k)
        finally:
            self.ms.append((time.perf_counter() - start) * 1000)
