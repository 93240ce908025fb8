"""Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, llama.cpp) through LangChain's ``ChatOpenAI``."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import openai
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_openai import ChatOpenAI

from stage.errors import ModelError
from stage.llm.base import Chunk, Done, GenParams, TextDelta, TransientModelError
from stage.types import Completion, Message, Usage

log = logging.getLogger(__name__)

_ROLES = {"system": SystemMessage, "user": HumanMessage, "assistant": AIMessage}


def to_langchain(messages: Sequence[Message]) -> list[BaseMessage]:
    return [_ROLES[m.role](content=m.content) for m in messages]


def classify(exc: BaseException, where: str) -> ModelError:
    """Turn a client exception into a retryable or final stage error with a sentence for people."""
    if isinstance(exc, openai.APITimeoutError | httpx.TimeoutException):
        return TransientModelError(f"the model at {where} did not answer in time")
    if isinstance(exc, openai.APIConnectionError | httpx.TransportError):
        return TransientModelError(f"cannot reach the model at {where} ({type(exc).__name__})")
    if isinstance(exc, openai.RateLimitError):
        return TransientModelError(f"the model at {where} is rate limiting (429)")
    if isinstance(exc, openai.InternalServerError):
        return TransientModelError(f"the model at {where} failed ({exc.status_code})")
    if isinstance(exc, openai.AuthenticationError | openai.PermissionDeniedError):
        return ModelError(f"the model at {where} refused the API key ({exc.status_code}); set STAGE_API_KEY")
    if isinstance(exc, openai.NotFoundError):
        return ModelError(f"the model at {where} does not know this model or path (404); check STAGE_MODEL")
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code >= 500:
            return TransientModelError(f"the model at {where} failed ({exc.status_code})")
        return ModelError(f"the model at {where} rejected the request ({exc.status_code}): {exc.message}")
    if isinstance(
        exc, json.JSONDecodeError | ValueError | KeyError | TypeError | openai.APIResponseValidationError
    ):
        return TransientModelError(f"the model at {where} sent a malformed response ({type(exc).__name__})")
    return ModelError(f"the model at {where} failed: {type(exc).__name__}: {exc}")


class OpenAICompatModel:
    """One network backend; ``ChatOpenAI`` does the talking, with its own retries off (we wrap our own)."""

    def __init__(self, base_url: str, model: str, api_key: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/") if base_url else "https://api.openai.com/v1"
        self.model = model or "gpt-4o-mini"
        self._client = ChatOpenAI(
            model=self.model,
            base_url=self.base_url,
            api_key=api_key or "not-needed",  # type: ignore[arg-type]
            timeout=httpx.Timeout(timeout, connect=min(timeout, 5.0)),
            max_retries=0,
            streaming=True,
            stream_usage=True,
        )

    @property
    def name(self) -> str:
        return self.model

    def stream(self, messages: Sequence[Message], params: GenParams) -> Iterator[Chunk]:
        # llama.cpp's server ignores max_completion_tokens (which langchain-openai sends): pass max_tokens too.
        kwargs: dict[str, Any] = {
            "temperature": params.temperature,
            "extra_body": {"max_tokens": params.max_tokens},
        }
        if params.stop:
            kwargs["stop"] = list(params.stop)
        if params.seed is not None:
            kwargs["seed"] = params.seed
        start = time.perf_counter()
        ttft = 0.0
        parts: list[str] = []
        chunks = 0  # servers that send no usage while streaming (llama.cpp) send one token per chunk
        usage: dict[str, Any] = {}
        finish = ""
        try:
            for chunk in self._client.stream(to_langchain(messages), **kwargs):
                text = chunk.content if isinstance(chunk.content, str) else ""
                if text:
                    chunks += 1
                    if not parts:
                        ttft = (time.perf_counter() - start) * 1000
                    parts.append(text)
                    yield TextDelta(text)
                if chunk.usage_metadata:
                    usage = dict(chunk.usage_metadata)
                finish = str(chunk.response_metadata.get("finish_reason") or finish)
        except ModelError:
            raise
        except Exception as exc:
            raise classify(exc, self.base_url) from exc
        if not finish:  # every OpenAI-compatible server ends a complete stream with a finish_reason
            raise TransientModelError(f"the stream from {self.base_url} ended before the model finished")
        text = "".join(parts)
        completion_tokens = int(usage.get("output_tokens") or 0) or chunks
        yield Done(
            Completion(
                text=text,
                model=self.model,
                usage=Usage(
                    prompt_tokens=int(usage.get("input_tokens") or 0),
                    completion_tokens=completion_tokens,
                    ttft_ms=ttft,
                    latency_ms=(time.perf_counter() - start) * 1000,
                ),
                finish_reason=finish,
            )
        )

    def close(self) -> None:
        return None
