"""The transcript (``gr.Chatbot``) as a browser shows it, read for browser tests: its rows in order, which are
the director's thoughts, which are character turns (the row under a "🎬 why …" thought), and their buttons."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ROWS_JS = """() => [...document.querySelectorAll('#transcript .message-row')].map(r => {
  const t = r.querySelector('.thought-group .title');
  return {user: r.classList.contains('user-row'), thought: t ? t.innerText.trim() : '',
          text: (r.querySelector('.message-content') || r).innerText.trim()};
})"""
WHY = "🎬 why"


@dataclass(frozen=True)
class Row:
    index: int  # the row's place in the chat (what Chatbot events call the message's index)
    user: bool
    thought: str  # a thought's title ("" for a line)
    text: str  # what the row shows

    @property
    def header(self) -> str:
        """The first paragraph of a spoken line: avatar, name, role, marks (2/3, edited)."""
        return self.text.split("\n\n", 1)[0]

    @property
    def line(self) -> str:
        """What was said, without the header."""
        return self.text.split("\n\n", 1)[1] if "\n\n" in self.text else ""

    @property
    def name(self) -> str:
        head = self.header.split(" · ", 1)[0].strip()
        return head.split(" ", 1)[1] if " " in head and not head[0].isalnum() else head


def rows(page: Any) -> list[Row]:
    return [Row(i, r["user"], r["thought"], r["text"]) for i, r in enumerate(page.evaluate(ROWS_JS))]


def turns(page: Any) -> list[Row]:
    """The character turns on the page (each under its "why" thought), in order."""
    rs = rows(page)
    return [r for prev, r in itertools.pairwise(rs) if prev.thought.startswith(WHY) and not r.thought]


def until(page: Any, condition: Callable[[], bool], what: str, timeout_s: float = 60.0) -> None:
    """Poll the page until ``condition`` holds (Gradio redraws the chat after each event)."""
    end = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"the page never showed {what}; rows: {[r.text[:60] for r in rows(page)]}")
        page.wait_for_timeout(100)


def wait_turns(page: Any, n: int, at_least: bool = False, timeout_s: float = 60.0) -> None:
    until(
        page,
        lambda: len(turns(page)) >= n if at_least else len(turns(page)) == n,
        f"{'at least ' if at_least else ''}{n} turn(s)",
        timeout_s,
    )


def button(page: Any, row: Row, name: str) -> Any:
    """The chat's own button ``name`` ("Edit", "Like", "Retry", "Undo", "Copy message") under ``row``."""
    buttons = page.locator("#transcript .message-row").nth(row.index).locator(
        "xpath=following-sibling::div[contains(@class, 'message-buttons')][1]"
    )
    return buttons.get_by_role("button", name=name, exact=True)
