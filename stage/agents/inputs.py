"""Text from people, made safe to keep: trimmed, cleaned, bounded; refused with a reason when empty."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from stage.agents.guards import SPECIAL_TOKENS
from stage.errors import StageError

MAX_CHARS = 1000
_INVISIBLE = {"Cf", "Cc", "Co", "Cs"}  # format (zero-width, bidi), control, private use, surrogates
_MD_IMAGE = re.compile(r"!\[[^\]]{0,200}\]\([^)]{0,2000}\)")


class InputRefused(StageError):
    """A person's text cannot be used; the message says why."""

    exit_code = 2


@dataclass(frozen=True)
class CleanText:
    text: str
    notice: str = ""  # what was changed, for the person and the transcript


def clean_user_text(raw: str, max_chars: int = MAX_CHARS) -> CleanText:
    if not isinstance(raw, str):
        raise InputRefused("expected text")
    notes = []
    text = "".join(" " if c in "\t" else c for c in raw)
    stripped = "".join(c for c in text if c == "\n" or unicodedata.category(c) not in _INVISIBLE)
    if stripped != text:
        notes.append("removed invisible or control characters")
    text = stripped
    images = _MD_IMAGE.sub("[image removed]", text)
    if images != text:
        notes.append("removed embedded images")
    text = SPECIAL_TOKENS.sub("", images)
    if text != images:
        notes.append("removed model control tokens")
    text = re.sub(r"[ \u00a0]+", " ", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    if not text:
        raise InputRefused("there is nothing to send: the message is empty")
    if len(text) > max_chars:
        text = text[:max_chars].rstrip() + "…"
        notes.append(f"shortened to {max_chars} characters")
    return CleanText(text, "; ".join(notes))


def as_quoted_speech(text: str, limit: int = 400) -> str:
    """A person's line as it appears in a prompt: one line, quoted, so it reads as speech, not instructions."""
    one_line = re.sub(r"\s+", " ", SPECIAL_TOKENS.sub("", text)).strip().replace('"', "'")
    if len(one_line) > limit:
        one_line = one_line[:limit] + "…"
    return f'"{one_line}"'
