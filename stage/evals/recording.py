"""A wrapper model that remembers the last prompt it was given, so a turn's prompt can be checked for scope."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from stage.llm.base import ChatModel, Chunk, GenParams
from stage.types import Message


class Recording:
    """Delegates to ``inner``; ``last`` is the text of the latest prompt (all messages, joined)."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.last = ""

    @property
    def name(self) -> str:
        return self.inner.name

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        self.last = "\n".join(m.content for m in messages)
        yield from self.inner.stream(messages, params)

    def take(self) -> str:
        """The latest prompt, once: a turn written without a model call (a policy refusal) gets none."""
        last, self.last = self.last, ""
        return last

    def close(self) -> None:
        self.inner.close()
