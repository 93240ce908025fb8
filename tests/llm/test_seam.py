"""The seam against real HTTP servers that fail on purpose: retries, backoff, timeouts, clear errors."""

from __future__ import annotations

import pytest

from stage.errors import ModelError, ModelUnavailable
from stage.llm import make_model
from stage.llm.base import GenParams
from stage.llm.openai_compat import OpenAICompatModel
from stage.llm.scripted import ScriptedModel, failing
from stage.llm.wrappers import Metered, Retrying
from stage.settings import load_settings
from stage.types import Message
from tests.fakes import closed_port, flaky

MSGS = [Message("system", "You are a test."), Message("user", "Say hello.")]
P = GenParams(max_tokens=20)


def model_for(url: str, timeout: float = 2.0, retries: int = 2) -> Metered:
    return Metered(Retrying(OpenAICompatModel(url, "fake", "k", timeout), retries=retries, backoff=0.01))


def test_streams_tokens_and_counts_them() -> None:
    with flaky() as server:
        tokens: list[str] = []
        result = model_for(server.base_url).generate(MSGS, P, on_token=tokens.append)
    assert result.text == "Hello from the fake model."
    assert "".join(tokens) == result.text
    assert result.usage.completion_tokens == 5
    assert result.usage.ttft_ms > 0 and result.usage.latency_ms >= result.usage.ttft_ms


def test_max_tokens_is_sent_in_the_body_llama_cpp_reads() -> None:
    with flaky() as server:
        model_for(server.base_url).generate(MSGS, GenParams(max_tokens=17, stop=("\n\n",)))
    body = server.requests[0]
    assert body["max_tokens"] == 17
    assert body["stop"] == ["\n\n"]
    assert body["stream"] is True


@pytest.mark.parametrize("failure", ["500", "429", "stall", "drop", "garbage"])
def test_transient_failures_are_retried_then_succeed(failure: str) -> None:
    with flaky(failure, stall_s=3.0) as server:
        retries: list[int] = []
        model = model_for(server.base_url, timeout=1.0)
        result = model.generate(MSGS, P, on_retry=lambda n, why: retries.append(n))
    assert result.text == "Hello from the fake model."
    assert result.usage.attempts == 2
    assert len(server.requests) == 2
    assert model.totals.calls == 1


def test_gives_up_after_bounded_retries_with_a_clear_message() -> None:
    with flaky("500", "500", "500", "500") as server:
        model = model_for(server.base_url, retries=2)
        with pytest.raises(ModelUnavailable, match=r"failed \(500\).*gave up after 3 attempts"):
            model.generate(MSGS, P)
    assert len(server.requests) == 3
    assert model.totals.failures == 1


def test_refused_connection_is_unreachable() -> None:
    model = model_for(f"http://127.0.0.1:{closed_port()}/v1", retries=1)
    with pytest.raises(ModelUnavailable, match="cannot reach the model"):
        model.generate(MSGS, P)


def test_auth_failure_is_not_retried() -> None:
    with flaky("401") as server, pytest.raises(ModelError, match="API key") as info:
        model_for(server.base_url).generate(MSGS, P)
    assert not isinstance(info.value, ModelUnavailable)
    assert len(server.requests) == 1


def test_scripted_is_deterministic_for_a_seed() -> None:
    a = [ScriptedModel(seed=7).generate(MSGS, P).text for _ in range(3)]
    b = [ScriptedModel(seed=7).generate(MSGS, P).text for _ in range(3)]
    assert a == b
    m1, m2 = ScriptedModel(seed=7), ScriptedModel(seed=8)
    assert [m1.generate(MSGS, P).text for _ in range(3)] != [m2.generate(MSGS, P).text for _ in range(3)]


def test_scripted_queue_replies_errors_and_stops() -> None:
    m = ScriptedModel(["first\n\nsecond", failing("boom"), "after"])
    assert m.generate(MSGS, GenParams(stop=("\n\n",))).text == "first"
    wrapped = Retrying(m, retries=1, backoff=0)
    assert wrapped.generate(MSGS, P).text == "after"


@pytest.mark.parametrize(
    ("backend", "kind"),
    [("scripted", "ScriptedModel"), ("openai", "OpenAICompatModel"), ("local", "LocalModel")],
)
def test_backend_selection(backend: str, kind: str, tmp_path: object) -> None:
    settings = load_settings({"backend": backend, "home": tmp_path}, env={})
    model = make_model(settings)
    assert type(model.inner.inner).__name__ == kind  # type: ignore[attr-defined]
