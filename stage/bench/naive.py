"""The naive loop the stage is compared with: the same persona system prompt, then every line so far resent as
chat messages on every turn (no window, no gist, no retrieval), until the context overflows."""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import httpx

from stage.agents.agent import stop_sequences
from stage.agents.context import persona_block
from stage.agents.guards import ROLE_WORDS
from stage.llm.base import GenParams
from stage.llm.local import LocalServer, chatml
from stage.types import Beat, Message, Story

from .raw import RawError, stream_chat


@dataclass(frozen=True)
class NaiveTurn:
    prompt_tokens: int
    ttft_ms: float = 0.0
    latency_ms: float = 0.0
    tokens: int = 0
    overflow: bool = False


@dataclass
class NaiveLoop:
    story: Story
    server: LocalServer
    client: httpx.Client
    params: GenParams
    n_ctx: int = 4096
    lines: list[tuple[str, str]] = field(default_factory=list)  # (speaker id, "" for narration; text)
    beat: str = ""
    overflow_turn: int | None = None
    turns: int = 0

    def messages(self, speaker: str) -> list[Message]:
        """What a naive loop sends: the persona, then the whole scene, own lines as the assistant's."""
        names = {cid: p.name for cid, p in self.story.personas.items()}
        persona = persona_block(self.story.personas[speaker], names, self.story.plot.setting)
        out = [Message("system", persona)]
        for who, text in self.lines:
            if who == speaker:
                out.append(Message("assistant", text))
            elif not who:
                out.append(Message("user", f"(Narrator: {text})"))
            else:
                out.append(Message("user", f"{names[who]}: {text}"))
        return out

    def turn(self, speaker: str, beat: Beat) -> NaiveTurn:
        """One turn for ``speaker``; once the prompt no longer fits ``n_ctx``, every turn is an overflow."""
        self.turns += 1
        if self.overflow_turn is not None:
            return NaiveTurn(0, overflow=True)
        if beat.id != self.beat:
            self.beat = beat.id
            self.lines.append(("", beat.summary))
        messages = self.messages(speaker)
        prompt_tokens = self.server.count_tokens(chatml(messages))
        if prompt_tokens + self.params.max_tokens > self.n_ctx:
            self.overflow_turn = self.turns
            return NaiveTurn(prompt_tokens, overflow=True)
        me = self.story.personas[speaker].name
        others = [p.name for cid, p in self.story.personas.items() if cid != speaker] + list(ROLE_WORDS)
        params = replace(self.params, stop=stop_sequences(others))
        try:
            result = stream_chat(self.client, self.server.base_url, messages, params)
        except RawError as exc:
            if exc.status == 400:  # the server's own context check
                self.overflow_turn = self.turns
                return NaiveTurn(prompt_tokens, overflow=True)
            raise
        self.lines.append((speaker, result.text.strip() or f"({me} says nothing.)"))
        return NaiveTurn(prompt_tokens, result.ttft_ms, result.latency_ms, result.tokens)
