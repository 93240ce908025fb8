"""Models that wrap a model: bounded retries with backoff, and usage accounting."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace

from stage.errors import ModelUnavailable
from stage.llm.base import ChatModel, GenParams, RetryCallback, TokenCallback, TransientModelError
from stage.types import Completion, Message

log = logging.getLogger(__name__)


class Retrying:
    """Retry transient failures ``retries`` times, sleeping ``backoff * 2**n`` between attempts."""

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

    def generate(
        self,
        messages: Sequence[Message],
        params: GenParams,
        on_token: TokenCallback | None = None,
        on_retry: RetryCallback | None = None,
    ) -> Completion:
        attempt = 0
        while True:
            attempt += 1
            try:
                result = self.inner.generate(messages, params, on_token, on_retry)
                return replace(result, usage=replace(result.usage, attempts=attempt))
            except TransientModelError as exc:
                if attempt > self.retries:
                    raise ModelUnavailable(f"{exc} (gave up after {attempt} attempts)") from exc
                delay = min(self.max_backoff, self.backoff * 2 ** (attempt - 1))
                log.warning("model call failed (%s); retry %d/%d in %.1fs", exc, attempt, self.retries, delay)
                if on_retry is not None:
                    on_retry(attempt, str(exc))
                time.sleep(delay)

    def close(self) -> None:
        self.inner.close()


@dataclass
class Totals:
    calls: int = 0
    failures: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_ms: float = 0.0


class Metered:
    """Count calls, tokens and time for everything that passes through."""

    def __init__(self, inner: ChatModel) -> None:
        self.inner = inner
        self.totals = Totals()
        self._lock = threading.Lock()

    @property
    def name(self) -> str:
        return self.inner.name

    def generate(
        self,
        messages: Sequence[Message],
        params: GenParams,
        on_token: TokenCallback | None = None,
        on_retry: RetryCallback | None = None,
    ) -> Completion:
        try:
            result = self.inner.generate(messages, params, on_token, on_retry)
        except Exception:
            with self._lock:
                self.totals.failures += 1
            raise
        with self._lock:
            self.totals.calls += 1
            self.totals.prompt_tokens += result.usage.prompt_tokens
            self.totals.completion_tokens += result.usage.completion_tokens
            self.totals.latency_ms += result.usage.latency_ms
        return result

    def close(self) -> None:
        self.inner.close()
