"""How many prompt tokens llama.cpp actually evaluated per request (the rest came from its prompt cache).

The server logs ``prompt eval time = X ms / N tokens`` after each completion; requests to one server are
sequential here, so reading the log's new lines after a phase gives that phase's requests in order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

PROMPT_EVAL = re.compile(r"prompt eval time =\s*([\d.]+) ms /\s*(\d+) tokens")


@dataclass(frozen=True)
class Eval:
    ms: float
    tokens: int


class ServerLog:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.offset = path.stat().st_size if path.exists() else 0

    def new(self) -> list[Eval]:
        """Prompt evaluations logged since the last call."""
        try:
            with open(self.path, "rb") as fh:
                fh.seek(self.offset)
                data = fh.read()
        except OSError:
            return []
        cut = data.rfind(b"\n") + 1  # leave a half-written line for next time
        self.offset += cut
        text = data[:cut].decode("utf-8", "replace")
        return [Eval(float(ms), int(n)) for ms, n in PROMPT_EVAL.findall(text)]
