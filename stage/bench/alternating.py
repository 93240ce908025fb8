"""Time to first token when five characters take turns: per-slot prompt caches against one cache (and, on the
first server, the raw parallel ceiling: ``ceiling.py``).

The five characters' real prompts come from a reunion scene (the beat where all five are present) played on the
scripted backend: the stage builds its prompts the same whatever the model. Each round sends every character's
prompt once with a new last line (as a turn does: the persona prefix is the same, the tail is new), in speaking
order, to two llama-servers built alike: one with the stage's slots (each slot keeps the prompt it served) and
one with a single slot (every change of speaker swaps the prompt, restored from llama.cpp's RAM cache at best).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from stage.agents.retrieval import KeywordRetriever
from stage.llm.base import GenParams
from stage.llm.local import LocalServer
from stage.llm.scripted import ScriptedModel
from stage.scene import Scene, events_of
from stage.settings import Settings
from stage.transcript import Turn
from stage.types import Message, Story

from .ceiling import raw_parallel, with_new_tail
from .instrument import Recording
from .raw import stream_chat
from .stats import summary


def prompts_of(story: Story, seed: int = 5, turns: int = 15) -> dict[str, tuple[Message, ...]]:
    """The last prompt each character of the reunion beat was given, by speaker."""
    beat = next(b for b in reversed(story.plot.beats) if len(b.present) == max(len(x.present) for x in story.plot.beats))
    recorder = Recording(ScriptedModel(seed=seed))
    params = GenParams(max_tokens=24, temperature=0.0, candidates=1)
    scene = Scene.new(story, recorder, KeywordRetriever(story.lore), None, params, from_beat=beat.id, seed=seed)
    by: dict[str, tuple[Message, ...]] = {}
    for _ in range(turns):
        recorder.calls.clear()
        turn = next((e for e in events_of(scene.step()) if isinstance(e, Turn)), None)
        if turn is not None and recorder.calls:
            by[turn.speaker] = recorder.calls[0].messages
        if len(by) == len(beat.present):
            break
    return by


def _round(client: httpx.Client, url: str, prompts: dict[str, tuple[Message, ...]], n: int) -> list[float]:
    params = GenParams(max_tokens=2, temperature=0.0, seed=1)
    out = []
    for messages in prompts.values():
        out.append(stream_chat(client, url, with_new_tail(messages, f"round {n}"), params).ttft_ms)
    return out


def alternating(
    story: Story,
    settings: Settings,
    home: Path,
    rounds: int,
    ceiling_levels: tuple[int, ...] = (),
    ceiling_calls: int = 3,
    max_tokens: int = 24,
) -> dict[str, Any]:
    """The TTFT comparison; with ``ceiling_levels``, the raw parallel ceiling on the stage-slots server too."""
    prompts = prompts_of(story)
    result: dict[str, Any] = {"characters": list(prompts), "rounds": rounds}
    for label, slots in (("stage_slots", settings.slots), ("one_slot", 1)):
        server = LocalServer(home / f"alt-{slots}", n_threads=settings.n_threads, n_ctx=settings.n_ctx, slots=slots)
        try:
            url = server.ensure()
            with httpx.Client(timeout=httpx.Timeout(120.0, connect=5.0)) as client:
                _round(client, url, prompts, 0)  # every prompt evaluated once: both servers start warm
                ttft = [ms for n in range(1, rounds + 1) for ms in _round(client, url, prompts, n)]
            result[label] = {"slots": slots, "ttft_ms": summary(ttft, 1)}
            if ceiling_levels and label == "stage_slots":
                result["raw_ceiling"] = {
                    "slots": slots,
                    "max_tokens": max_tokens,
                    "levels": raw_parallel(url, prompts, ceiling_levels, ceiling_calls, max_tokens),
                }
        finally:
            server.stop()
    a, b = result["stage_slots"]["ttft_ms"]["p50"], result["one_slot"]["ttft_ms"]["p50"]
    result["ratio_p50"] = round(a / b, 2) if a and b else None
    return result
