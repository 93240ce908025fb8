"""The one seam between the stage and any model: ``ChatModel.stream``.

A model call is an iteration: text deltas as they arrive, a ``Retry`` when an attempt failed and is tried
again (its partial text is void), a ``Queued`` when it waits for a busy endpoint, and one final ``Done`` with
the whole completion. Callers that only want
the result use ``complete``. Wrappers (retries) implement the same protocol around a backend, so callers
never retry.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from stage.errors import ModelError
from stage.types import Completion, Message


@dataclass(frozen=True)
class GenParams:
    max_tokens: int = 80
    temperature: float = 0.7
    stop: tuple[str, ...] = ()
    seed: int | None = None
    candidates: int = 1  # replies a character's turn samples to choose from (each a call of its own)
    # when the work this call belongs to began (time.monotonic(); a character turn's start): an endpoint's
    # queue serves earlier work first, so a turn's later candidates do not wait behind turns begun after it
    since: float | None = None


@dataclass(frozen=True)
class TextDelta:
    """More text of the reply being generated."""

    text: str


@dataclass(frozen=True)
class Retry:
    """The text streamed so far is void: attempt ``attempt`` failed (``reason``) and another one follows."""

    attempt: int
    reason: str


@dataclass(frozen=True)
class Queued:
    """The call waits for its endpoint (every slot is busy): ``ahead`` calls are running or queued before it."""

    endpoint: str
    ahead: int


@dataclass(frozen=True)
class Done:
    """The last chunk of every stream."""

    completion: Completion


Chunk = TextDelta | Retry | Queued | Done


class TransientModelError(ModelError):
    """A failure worth retrying: refused connection, timeout, 5xx, 429, a dropped or garbled stream."""


@runtime_checkable
class ChatModel(Protocol):
    """Anything that turns messages into a stream of chunks ending in ``Done``."""

    @property
    def name(self) -> str: ...

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]: ...

    def close(self) -> None: ...


def complete(model: ChatModel, messages: Sequence[Message], params: GenParams) -> Completion:
    """The finished completion, for callers that do not show text as it arrives."""
    for chunk in model.stream(messages, params):
        if isinstance(chunk, Done):
            return chunk.completion
    raise TransientModelError(f"the model {model.name} ended its stream without a completion")
