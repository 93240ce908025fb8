"""Models that wrap a model: bounded retries with backoff."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator, Sequence
from dataclasses import replace

from stage.errors import ModelUnavailable
from stage.llm.base import ChatModel, Chunk, Done, GenParams, Retry, TransientModelError
from stage.types import Message

log = logging.getLogger(__name__)


class Retrying:
    """Retry transient failures ``retries`` times, sleeping ``backoff * 2**n`` between attempts.

    A failure can come mid-stream, after some text was already yielded: the ``Retry`` chunk tells the
    consumer to drop it."""

    def __init__(
        self, inner: ChatModel, retries: int = 2, backoff: float = 0.5, max_backoff: float = 8.0
    ) -> None:
        self.inner = inner
        self.retries = retries
        self.backoff = backoff
        self.max_backoff = max_backoff

    @property
    def name(self) -> str:
        return self.inner.name

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        attempt = 0
        while True:
            attempt += 1
            try:
                for chunk in self.inner.stream(messages, params):
                    if isinstance(chunk, Done):
                        usage = replace(chunk.completion.usage, attempts=attempt)
                        yield Done(replace(chunk.completion, usage=usage))
                        return
                    yield chunk
                raise TransientModelError(f"the stream from {self.inner.name} ended without a completion")
            except TransientModelError as exc:
                if attempt > self.retries:
                    raise ModelUnavailable(f"{exc} (gave up after {attempt} attempts)") from exc
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                log.warning("model call failed (%s); retry %d/%d in %.1fs", exc, attempt, self.retries, delay)
                yield Retry(attempt, str(exc))
                time.sleep(delay)

    def close(self) -> None:
        self.inner.close()
