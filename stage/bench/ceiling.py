"""What the model server itself can do with parallel requests: raw llama.cpp, no stage, the stage's prompts.

Sessions through the app cannot gain more from parallel slots than the server gains from batching them on the
same cores. Each of ``n`` threads streams the reunion's five prompts (``alternating.prompts_of``) straight to the
server with httpx, a new last line each time; tokens per second at each ``n`` against one thread is the ceiling
for the app's throughput ratios, measured on the same server in the same run.
"""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import httpx

from stage.llm.base import GenParams
from stage.types import Message

from .concurrency import run_level
from .raw import stream_chat


def with_new_tail(messages: tuple[Message, ...], tag: str) -> tuple[Message, ...]:
    """``messages`` with ``tag`` on a line of its own after the last one: a new turn on the same prefix."""
    last = messages[-1]
    return (*messages[:-1], replace(last, content=f"{last.content}\n({tag})"))


def raw_parallel(
    base_url: str, prompts: dict[str, tuple[Message, ...]], levels: tuple[int, ...], calls: int, max_tokens: int
) -> list[dict[str, Any]]:
    params = GenParams(max_tokens=max_tokens, temperature=0.0, seed=1)
    out = [_streams(base_url, list(prompts.values()), n, calls, params) for n in levels]
    one = out[0]["calls_per_min"] if out and out[0]["streams"] == 1 else None
    for lv in out:
        lv["speedup"] = round(lv["calls_per_min"] / one, 2) if one else None
    return out


def _streams(base_url: str, order: list[tuple[Message, ...]], n: int, calls: int, params: GenParams) -> dict[str, Any]:
    """``n`` threads released together (``concurrency.run_level``), each streaming ``calls`` raw requests."""
    tokens = [0] * n

    def work(i: int, barrier: threading.Barrier) -> tuple[list[float], int]:
        latencies: list[float] = []
        errors = 0
        with httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0)) as client:
            barrier.wait(timeout=120)
            for c in range(calls):
                messages = with_new_tail(order[(i + c) % len(order)], f"call {n}-{i}-{c}")
                try:
                    result = stream_chat(client, base_url, messages, params)
                except Exception:  # counted, not raised: a level reports its errors
                    errors += 1
                    continue
                tokens[i] += result.tokens
                latencies.append(result.latency_ms)
        return latencies, errors

    level = run_level(n, work)
    return {
        "streams": n,
        "calls": level["turns"],
        "tokens": sum(tokens),
        "errors": level["errors"],
        "wall_s": level["wall_s"],
        "calls_per_min": level["turns_per_min"],
        "tokens_per_s": round(sum(tokens) / level["wall_s"], 1) if level["wall_s"] else None,
    }
