"""What the model server itself can do with parallel requests: raw llama.cpp, no stage, the stage's prompts.

Sessions through the app cannot gain more from parallel slots than the server gains from batching them on the
same cores. Each of ``n`` threads streams the reunion's five prompts (``alternating.prompts_of``) straight to the
server with httpx, a new last line each time; tokens per second at each ``n`` against one thread is the ceiling
for the app's throughput ratios, measured on the same server in the same run.
"""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from typing import Any

import httpx

from stage.llm.base import GenParams
from stage.types import Message

from .raw import stream_chat


def raw_parallel(
    base_url: str, prompts: dict[str, tuple[Message, ...]], levels: tuple[int, ...], calls: int, max_tokens: int
) -> list[dict[str, Any]]:
    params = GenParams(max_tokens=max_tokens, temperature=0.0, seed=1)
    out = [_level(base_url, list(prompts.values()), n, calls, params) for n in levels]
    one = out[0]["calls_per_min"] if out and out[0]["streams"] == 1 else None
    for lv in out:
        lv["speedup"] = round(lv["calls_per_min"] / one, 2) if one else None
    return out


def _level(base_url: str, order: list[tuple[Message, ...]], n: int, calls: int, params: GenParams) -> dict[str, Any]:
    tokens = [0] * n
    errors = [0] * n
    barrier = threading.Barrier(n + 1)

    def work(i: int) -> None:
        with httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0)) as client:
            barrier.wait(timeout=120)
            for c in range(calls):
                messages = order[(i + c) % len(order)]
                last = messages[-1]
                varied = (*messages[:-1], replace(last, content=f"{last.content}\n(call {n}-{i}-{c})"))
                try:
                    tokens[i] += stream_chat(client, base_url, varied, params).tokens
                except Exception:  # counted, not raised: a level reports its errors
                    errors[i] += 1

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait(timeout=120)
    start = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - start
    return {
        "streams": n,
        "calls": n * calls,
        "tokens": sum(tokens),
        "errors": sum(errors),
        "wall_s": round(wall, 2),
        "calls_per_min": round(n * calls / wall * 60, 1),
        "tokens_per_s": round(sum(tokens) / wall, 1),
    }
