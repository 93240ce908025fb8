"""The LLM seam: ``make_model(settings)`` gives the configured backend wrapped in retries and accounting."""

from __future__ import annotations

from stage.errors import ConfigError
from stage.llm.base import ChatModel, Chunk, Done, GenParams, Retry, TextDelta, TransientModelError, complete
from stage.llm.wrappers import Retrying
from stage.settings import Settings

__all__ = [
    "ChatModel",
    "Chunk",
    "Done",
    "GenParams",
    "Retry",
    "TextDelta",
    "TransientModelError",
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

        server = shared_server(settings.home, settings.n_threads, settings.n_ctx)
        return LocalModel(server, settings.timeout)
    except ImportError as exc:
        raise ConfigError(
            f"the {settings.backend} backend needs a package that is missing ({exc.name}); run `make install`"
        ) from exc


def make_model(settings: Settings) -> ChatModel:
    return Retrying(make_backend(settings), retries=settings.retries, backoff=settings.backoff)
