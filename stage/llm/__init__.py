"""The LLM seam: ``make_model(settings)`` gives the configured backend, its calls limited per endpoint and
retried, and a model per character where ``models.<id>`` sets one."""

from __future__ import annotations

from stage.errors import ConfigError
from stage.llm.base import (
    ChatModel,
    Chunk,
    Done,
    GenParams,
    Queued,
    Retry,
    TextDelta,
    TransientModelError,
    complete,
)
from stage.llm.limits import Gate, Limited, gate_for
from stage.llm.route import Labelled, Routed
from stage.llm.wrappers import Retrying
from stage.settings import Settings

__all__ = [
    "ChatModel",
    "Chunk",
    "Done",
    "GenParams",
    "Queued",
    "Retry",
    "TextDelta",
    "TransientModelError",
    "capacity",
    "complete",
    "make_model",
    "params_from",
]


def params_from(settings: Settings, **overrides: object) -> GenParams:
    values: dict[str, object] = {
        "max_tokens": settings.max_tokens,
        "temperature": settings.temperature,
        "seed": settings.seed,
        "candidates": settings.candidates,
    }
    values.update(overrides)
    return GenParams(**values)  # type: ignore[arg-type]


def make_backend(settings: Settings) -> ChatModel:
    """The bare backend named by ``settings.backend``; imports are lazy so a missing extra is a clear error."""
    try:
        if settings.backend == "scripted":
            from stage.llm.scripted import ScriptedModel

            return ScriptedModel(seed=settings.seed or 0)
        if settings.backend == "openai":
            from stage.llm.openai_compat import OpenAICompatModel

            return OpenAICompatModel(
                settings.base_url, settings.model, settings.effective_api_key(), settings.timeout
            )
        from stage.llm.local import LocalModel, shared_server

        server = shared_server(settings.home, settings.n_threads, settings.n_ctx, settings.slots)
        return LocalModel(server, settings.timeout)
    except ImportError as exc:
        raise ConfigError(
            f"the {settings.backend} backend needs a package that is missing ({exc.name}); run `make install`"
        ) from exc


def endpoint(settings: Settings) -> tuple[str, int]:
    """The endpoint a backend's calls go to, and how many it serves at once."""
    if settings.backend == "local":
        return f"the embedded model server of {settings.home.resolve()}", settings.slots
    if settings.backend == "openai":
        return settings.base_url.rstrip("/") or "https://api.openai.com/v1", settings.concurrency
    return "the scripted backend", settings.concurrency


def capacity(settings: Settings) -> int:
    """Calls the configured endpoints serve at once, all together (the default's and each override's)."""
    ends = dict([endpoint(settings), *(endpoint(settings.endpoint_of(c)) for c in settings.models)])
    return sum(ends.values())


def gate_of(settings: Settings) -> Gate:
    name, limit = endpoint(settings)
    return gate_for(name, limit)


def _one(settings: Settings) -> ChatModel:
    limited = Limited(make_backend(settings), gate_of(settings))
    return Retrying(limited, retries=settings.retries, backoff=settings.backoff)


def make_model(settings: Settings) -> ChatModel:
    default = _one(settings)
    if not settings.models:
        return default
    overrides = {
        character: Labelled(_one(settings.endpoint_of(character)), f"models.{character}")
        for character in settings.models
    }
    return Routed(default, overrides)
