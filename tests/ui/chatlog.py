"""What the transcript (``gr.Chatbot``) gets from a handler, read for tests: its messages, as the page shows
them (a complete change sends a ``gr.Chatbot`` update with the thumbs; a streamed token sends the list)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gradio as gr


@dataclass(frozen=True)
class Log:
    messages: list[dict[str, Any]]
    feedback: list[str | None] | None = None

    @classmethod
    def of(cls, value: Any) -> Log:
        """From a handler's output, or from gradio_client's (whose messages carry lists of text parts)."""
        feedback = None
        if isinstance(value, gr.Chatbot):
            value, feedback = value.constructor_args["value"], value.constructor_args.get("feedback_value")
        elif isinstance(value, dict) and value.get("__type__") == "update":  # gradio_client's view of that
            value, feedback = value["value"], value.get("feedback_value")
        assert isinstance(value, list), f"not what a Chatbot shows: {value!r}"
        return cls(
            [{**m, "metadata": m.get("metadata") or {}, "content": _text(m["content"])} for m in value],
            feedback,
        )

    @property
    def text(self) -> str:
        """Every message and thought title, one per line: what a reader can find on the page."""
        return "\n".join(
            f"{m.get('metadata', {}).get('title', '')} {m['content']}".strip() for m in self.messages
        )

    def __contains__(self, text: str) -> bool:
        return text in self.text

    def turns(self) -> list[str]:
        """The character turns shown (each under its "why" thought), as their Markdown."""
        ms = self.messages
        return [
            ms[i + 1]["content"]
            for i, m in enumerate(ms[:-1])
            if m.get("metadata", {}).get("title", "").startswith("🎬 why")
        ]

    def spoken_by(self, name: str) -> list[str]:
        """The messages that ``name`` says (their header names them in bold)."""
        return [m["content"] for m in self.messages if f"**{name}**" in m["content"].split("\n\n")[0]]

    def pending(self) -> str | None:
        """The turn being written (under the pending thought), or None."""
        ms = self.messages
        for i, m in enumerate(ms[:-1]):
            if m.get("metadata", {}).get("status") == "pending":
                return str(ms[i + 1]["content"])
        return None


def _text(content: Any) -> str:
    if isinstance(content, list):
        return "".join(str(part.get("text", "")) for part in content if isinstance(part, dict))
    return str(content)
