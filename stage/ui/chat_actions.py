"""What the transcript's own chat buttons do (``gr.Chatbot``'s ``.retry``, ``.undo``, ``.edit`` and ``.like``),
as the same line changes the Lines tab makes (``SceneHandlers``): another reply, go back, a correction, thumbs.

A Chatbot event names a message by its index on the page; ``Chat.seq_at`` turns that into the event the
message shows, read from the line as it is now (a message the line no longer has is a clear error, not a
change to some other line).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import gradio as gr

from stage.errors import ConfigError
from stage.scene import Scene
from stage.transcript import Narration, Turn, UserLine
from stage.ui.chat import FEEDBACK, Chat
from stage.ui.handlers import Outputs
from stage.ui.scenes import SceneHandlers
from stage.ui.session import Session

SPOKEN = (Turn, UserLine, Narration)
NOT_A_LINE = "That is the director's note, not a line; change the line under it."


class ChatActions:
    def __init__(self, sh: SceneHandlers) -> None:
        self.sh = sh

    @staticmethod
    def _seq(chat: Chat, index: Any) -> int:
        seq = chat.seq_at(index)
        if seq is None:
            raise ConfigError(NOT_A_LINE)
        return seq

    def retry(self, state: Session | None, data: gr.RetryData) -> Iterator[Outputs]:
        """↻ on the last message: another reply for the last character turn (kept beside the old one)."""
        yield from self.sh.swipe(None, state)

    def edit(self, state: Session | None, data: gr.EditData) -> Outputs:
        """A message corrected in place: an ``edit`` of the line it shows (its name header taken off)."""

        def act(s: Session, scene: Scene) -> str:
            chat = s.chat()
            seq = self._seq(chat, data.index)
            scene.edit(seq, chat.text_of(data.index, str(data.value or "")))
            return f"Line #{seq} corrected; the next turns hear it as it now reads."

        return self.sh._line_act(state, act)

    def like(self, state: Session | None, data: gr.LikeData) -> Outputs:
        """👍 / 👎 on a character's line: a ``rate`` event (kept as a preference for tuning)."""

        def act(s: Session, scene: Scene) -> str:
            seq = self._seq(s.chat(), data.index)
            liked = data.liked
            value = "like" if liked is True else "dislike" if liked is False else FEEDBACK.get(str(liked), "")
            scene.rate(seq, value)
            return f"Noted: you {value}d line #{seq}." if value else f"Took back the thumbs on line #{seq}."

        return self.sh._line_act(state, act)

    def undo(self, state: Session | None, data: gr.UndoData) -> Outputs:
        """↶ on the last message: go back to just before the line it shows (the rest is kept as a branch);
        a person's own line goes back into the message box, as Gradio's undo does."""
        said: Any = gr.skip()

        def act(s: Session, scene: Scene) -> str:
            nonlocal said
            line = scene.line
            spoken = [i for i, e in enumerate(line) if isinstance(e, SPOKEN)]
            # Gradio names the last person's message; a scene nobody joined undoes its last line
            named = s.chat().seq_at(data.index)
            at = next((i for i in spoken if line[i].seq == named), spoken[-1] if spoken else 0)
            if at == 0:
                raise ConfigError("there is no line to undo yet")
            e = line[at]
            if isinstance(e, UserLine):
                said = e.text
            s.playing = False
            scene.rewind(line[at - 1].seq)
            return f"Back to before #{e.seq}; it is kept as a branch (Lines tab). Press Play or Step to go on."

        *shown, session = self.sh._line_act(state, act)
        return (*shown, said, session)
