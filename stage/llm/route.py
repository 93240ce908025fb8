"""A model per character: the default endpoint's model, and overrides by character id (``models.<id>``).

``Routed`` is itself a ``ChatModel`` (the default's), so whatever takes one model (doctor, judge, bench) still
does; the scene asks ``for_character`` before a character speaks.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence

from stage.errors import ConfigError, ModelError
from stage.llm.base import ChatModel, Chunk, GenParams
from stage.types import Message


class Labelled:
    """A character's override: its failures name the setting that chose it, so a person knows what to fix."""

    def __init__(self, inner: ChatModel, setting: str) -> None:
        self.inner = inner
        self.setting = setting

    @property
    def name(self) -> str:
        return self.inner.name

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        try:
            yield from self.inner.stream(messages, params)
        except (ModelError, ConfigError) as exc:
            raise type(exc)(f"{exc} (the model set by {self.setting})") from exc

    def close(self) -> None:
        self.inner.close()


class Routed:
    def __init__(self, default: ChatModel, overrides: Mapping[str, ChatModel]) -> None:
        self.default = default
        self.overrides = dict(overrides)

    @property
    def name(self) -> str:
        return self.default.name

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        return self.default.stream(messages, params)

    def for_character(self, character: str) -> ChatModel:
        return self.overrides.get(character, self.default)

    def close(self) -> None:
        for model in (self.default, *self.overrides.values()):
            model.close()


def model_for(model: ChatModel, character: str) -> ChatModel:
    """The model ``character`` speaks with."""
    return model.for_character(character) if isinstance(model, Routed) else model
