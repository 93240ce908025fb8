"""The seam against real HTTP servers that fail on purpose: retries, backoff, timeouts, clear errors."""

from __future__ import annotations

import pytest

from stage.errors import ModelError, ModelUnavailable
from stage.llm import make_model
from stage.llm.base import ChatModel, Chunk, Done, GenParams, Retry, TextDelta, complete
from stage.llm.openai_compat import OpenAICompatModel
from stage.llm.scripted import ScriptedModel, failing
from stage.llm.wrappers import Retrying
from stage.settings import load_settings
from stage.types import Message
from tests.fakes import closed_port, flaky

MSGS = [Message("system", "You are a test."), Message("user", "Say hello.")]
P = GenParams(max_tokens=20)


def model_for(url: str, timeout: float = 2.0, retries: int = 2) -> Retrying:
    return Retrying(OpenAICompatModel(url, "fake", "k", timeout), retries=retries, backoff=0.01)


def chunks(model: ChatModel, params: GenParams = P) -> list[Chunk]:
    return list(model.stream(MSGS, params))


def test_streams_tokens_and_counts_them() -> None:
    with flaky() as server:
        got = chunks(model_for(server.base_url))
    assert isinstance(got[-1], Done) and not any(isinstance(c, Done) for c in got[:-1])
    result = got[-1].completion
    tokens = [c.text for c in got if isinstance(c, TextDelta)]
    assert result.text == "Hello from the fake model."
    assert "".join(tokens) == result.text
    assert result.usage.completion_tokens == 5
    assert result.usage.ttft_ms > 0 and result.usage.latency_ms >= result.usage.ttft_ms


def test_max_tokens_is_sent_in_the_body_llama_cpp_reads() -> None:
    with flaky() as server:
        complete(model_for(server.base_url), MSGS, GenParams(max_tokens=17, stop=("\n\n",)))
    body = server.requests[0]
    assert body["max_tokens"] == 17
    assert body["stop"] == ["\n\n"]
    assert body["stream"] is True


@pytest.mark.parametrize("failure", ["500", "429", "stall", "drop", "garbage"])
def test_transient_failures_are_retried_then_succeed(failure: str) -> None:
    with flaky(failure, stall_s=3.0) as server:
        got = chunks(model_for(server.base_url, timeout=1.0))
    retries = [i for i, c in enumerate(got) if isinstance(c, Retry)]
    assert len(retries) == 1 and isinstance(got[retries[0]], Retry)
    last = got[-1]
    assert isinstance(last, Done)
    result = last.completion
    assert result.text == "Hello from the fake model."
    # a Retry voids what came before it: the text after the last one is the whole reply
    after = [c.text for c in got[retries[0] + 1 :] if isinstance(c, TextDelta)]
    assert "".join(after) == result.text
    assert result.usage.attempts == 2
    assert len(server.requests) == 2


def test_gives_up_after_bounded_retries_with_a_clear_message() -> None:
    with flaky("500", "500", "500", "500") as server:
        model = model_for(server.base_url, retries=2)
        seen: list[Chunk] = []
        with pytest.raises(ModelUnavailable, match=r"failed \(500\).*gave up after 3 attempts"):
            for chunk in model.stream(MSGS, P):
                seen.append(chunk)
    assert len(server.requests) == 3
    assert [c.attempt for c in seen if isinstance(c, Retry)] == [1, 2]


def test_refused_connection_is_unreachable() -> None:
    model = model_for(f"http://127.0.0.1:{closed_port()}/v1", retries=1)
    with pytest.raises(ModelUnavailable, match="cannot reach the model"):
        complete(model, MSGS, P)


def test_auth_failure_is_not_retried() -> None:
    with flaky("401") as server, pytest.raises(ModelError, match="API key") as info:
        complete(model_for(server.base_url), MSGS, P)
    assert not isinstance(info.value, ModelUnavailable)
    assert len(server.requests) == 1


def test_scripted_is_deterministic_for_a_seed() -> None:
    a = [complete(ScriptedModel(seed=7), MSGS, P).text for _ in range(3)]
    b = [complete(ScriptedModel(seed=7), MSGS, P).text for _ in range(3)]
    assert a == b
    m1, m2 = ScriptedModel(seed=7), ScriptedModel(seed=8)
    assert [complete(m1, MSGS, P).text for _ in range(3)] != [complete(m2, MSGS, P).text for _ in range(3)]


def test_scripted_queue_replies_errors_and_stops() -> None:
    m = ScriptedModel(["first\n\nsecond", failing("boom"), "after"])
    assert complete(m, MSGS, GenParams(stop=("\n\n",))).text == "first"
    wrapped = Retrying(m, retries=1, backoff=0)
    assert complete(wrapped, MSGS, P).text == "after"


def test_a_stream_without_done_is_an_error() -> None:
    class Truncated:
        name = "truncated"

        def stream(self, messages, params):  # type: ignore[no-untyped-def]
            yield TextDelta("half a rep")

        def close(self) -> None:
            return None

    with pytest.raises(ModelUnavailable, match="ended without a completion"):
        complete(Retrying(Truncated(), retries=1, backoff=0), MSGS, P)


@pytest.mark.parametrize(
    ("backend", "kind"),
    [("scripted", "ScriptedModel"), ("openai", "OpenAICompatModel"), ("local", "LocalModel")],
)
def test_backend_selection(backend: str, kind: str, tmp_path: object) -> None:
    settings = load_settings({"backend": backend, "home": tmp_path}, env={})
    model = make_model(settings)  # retries around the endpoint's gate around the backend
    assert type(model.inner).__name__ == "Limited"  # type: ignore[attr-defined]
    assert type(model.inner.inner).__name__ == kind  # type: ignore[attr-defined]
