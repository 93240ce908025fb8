"""The baseline: one streamed chat completion straight to the llama.cpp server with httpx, nothing else."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from stage.llm.base import GenParams
from stage.llm.local import MODEL_ALIAS
from stage.types import Message


class RawError(Exception):
    """The server refused or broke off a request (``status`` is its HTTP status, 0 for a broken stream)."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail[:200]}")
        self.status = status


@dataclass(frozen=True)
class RawResult:
    text: str
    tokens: int  # content chunks: llama.cpp streams one token per chunk
    ttft_ms: float
    latency_ms: float
    finish_reason: str


def body(messages: Sequence[Message], params: GenParams) -> dict[str, Any]:
    """The request the stage's seam sends, minus LangChain: same messages, max_tokens, stops, seed."""
    out: dict[str, Any] = {
        "model": MODEL_ALIAS,
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,
        "stream": True,
    }
    if params.stop:
        out["stop"] = list(params.stop)
    if params.seed is not None:
        out["seed"] = params.seed
    return out


def stream_chat(
    client: httpx.Client, base_url: str, messages: Sequence[Message], params: GenParams
) -> RawResult:
    """Stream one completion; time to the first content token and to the end of the stream."""
    start = time.perf_counter()
    ttft = 0.0
    parts: list[str] = []
    finish = ""
    with client.stream("POST", f"{base_url}/chat/completions", json=body(messages, params)) as r:
        if r.status_code != 200:
            raise RawError(r.status_code, r.read().decode("utf-8", "replace"))
        for line in r.iter_lines():
            if not line.startswith("data:"):
                continue
            data = line[5:].strip()
            if data == "[DONE]":
                break
            choices = json.loads(data).get("choices") or []
            if not choices:  # a usage-only chunk
                continue
            choice = choices[0]
            text = (choice.get("delta") or {}).get("content") or ""
            if text:
                if not parts:
                    ttft = (time.perf_counter() - start) * 1000
                parts.append(text)
            finish = choice.get("finish_reason") or finish
    if not finish:
        raise RawError(0, "the stream ended before the model finished")
    return RawResult("".join(parts), len(parts), ttft, (time.perf_counter() - start) * 1000, finish)
