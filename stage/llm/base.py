"""The one seam between the stage and any model: ``ChatModel.generate``.

Streaming and non-streaming are the same call: pass ``on_token`` to receive text as it arrives.
Wrappers (retries, accounting) implement the same protocol around a backend, so callers never retry.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from stage.errors import ModelError
from stage.types import Completion, Message

TokenCallback = Callable[[str], None]
RetryCallback = Callable[[int, str], None]  # (attempt that failed, reason): discard any partial text


@dataclass(frozen=True)
class GenParams:
    max_tokens: int = 80
    temperature: float = 0.7
    stop: tuple[str, ...] = ()
    seed: int | None = None


class TransientModelError(ModelError):
    """A failure worth retrying: refused connection, timeout, 5xx, 429, a dropped or garbled stream."""


@runtime_checkable
class ChatModel(Protocol):
    """Anything that turns messages into a completion."""

    @property
    def name(self) -> str: ...

    def generate(
        self,
        messages: Sequence[Message],
        params: GenParams,
        on_token: TokenCallback | None = None,
        on_retry: RetryCallback | None = None,
    ) -> Completion: ...

    def close(self) -> None: ...
