"""The scene's line as ``gr.Chatbot`` messages: one message per line someone says, the director's reasons and
a turn's details as a collapsed "thought" (``metadata``) above it.

A message's text is Markdown that Gradio renders (and sanitizes). What a character or a person said is escaped
first (``md_escape``): HTML, links and images cannot be smuggled in through a line, only *emphasis* stays (the
stage directions small models write). The speaker's name leads the message as a first paragraph, because a
chat bubble has one avatar per role and a scene has five characters; an edit in the page's editor sees that
header and ``text_of`` takes it off again.

``Chat.seqs`` says which event each message shows (None for a thought or the turn being written), so that the
Chatbot's own events (``.edit``, ``.like``, ``.undo``, ``.retry``), which name a message by its index, reach
the right line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from stage.describe import describe
from stage.timeline import Tree
from stage.transcript import BeatChange, Event, Turn, UserLine
from stage.ui.render import Renderer, short, stats

Message = dict[str, Any]
EMPTY = (
    "Pick a starting beat and press **▶ Play** to watch the characters, or open **Join** and say hello."
)
FEEDBACK = {"Like": "like", "Dislike": "dislike"}  # the Chatbot's thumbs -> the ``rate`` event's value
_THUMB = {v: k for k, v in FEEDBACK.items()}
# Markdown that a line must not carry: HTML (``<``), links and images (``[``, ``]``: an image needs
# "![", a link "[...]("), code (`````), escapes (``\``) and ``_``. A ``*`` stays only where it marks a stage
# direction (*smiles*: starred words, not 7*7). Math is off on the page (``latex_delimiters=[]``).
_SPECIAL = re.compile(r"([\\`\[\]<_])")
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)[^*\n]{1,200}?(?<=\S)\*(?![\w*])")
# a line that would start a heading, a quote or a list
_BLOCK = re.compile(r"^(\s*)(?:([>=]|[#+\-](?=\s|$))|(\d+)([.)])(?=\s|$))", re.MULTILINE)
_UNESCAPE = re.compile(r"\\([\\`\[\]<_*#>+\-=.):@])")
# what GitHub-flavoured Markdown would turn into a link by itself: "http://", "www.", "name@host"
_AUTOLINK = re.compile(r"(?<=\w)(:)(?=//)|(?<=\bwww)(\.)|(@)(?=\w)", re.IGNORECASE)


def md_escape(text: str) -> str:
    """``text`` as Markdown that shows exactly these words (with *emphasis* as italics)."""
    out = _SPECIAL.sub(r"\\\1", text)
    out = _stars(out)
    out = _AUTOLINK.sub(lambda m: "\\" + m.group(0), out)
    return _BLOCK.sub(_block, out)


def _stars(text: str) -> str:
    """Every ``*`` escaped but the pairs that make a stage direction."""
    out, at = [], 0
    for m in _EMPHASIS.finditer(text):
        out += [text[at : m.start()].replace("*", "\\*"), m.group(0)]
        at = m.end()
    return "".join([*out, text[at:].replace("*", "\\*")])


def _block(m: re.Match[str]) -> str:
    lead, mark, digits, dot = m.groups()
    return lead + ("\\" + mark if mark else digits + "\\" + dot)


def md_unescape(text: str) -> str:
    """The inverse of ``md_escape``: what a person means who edits an escaped message."""
    return _UNESCAPE.sub(r"\1", text)


@dataclass
class Chat:
    """The page's messages, which event each shows, and the thumbs already given (per assistant message)."""

    messages: list[Message] = field(default_factory=list)
    seqs: list[int | None] = field(default_factory=list)
    headers: list[str] = field(default_factory=list)
    feedback: list[str | None] = field(default_factory=list)

    def add(self, role: str, content: str, seq: int | None, *, header: str = "", title: str = "",
            done: bool = True, rating: str = "") -> None:
        message: Message = {"role": role, "content": content}
        if title:
            message["metadata"] = {"title": title, "status": "done" if done else "pending"}
        self.messages.append(message)
        self.seqs.append(seq)
        self.headers.append(header)
        if role == "assistant":
            self.feedback.append(_THUMB.get(rating))

    def seq_at(self, index: Any) -> int | None:
        """The event that message ``index`` shows (a Chatbot event's ``.index``: an int, or a (row, col))."""
        i = _row(index, len(self.seqs))
        return self.seqs[i] if i is not None else None

    def text_of(self, index: Any, edited: str) -> str:
        """What an edit of message ``index`` says, without the name header the message carries."""
        i = _row(index, len(self.headers))
        header = self.headers[i] if i is not None else ""
        body = edited.strip()
        if header and body.startswith(header):
            body = body[len(header) :].strip()
        return md_unescape(body)


def _row(index: Any, count: int) -> int | None:
    """A Chatbot event's message index (an int, or a (row, col) pair) if it names one of ``count`` messages."""
    i = index[0] if isinstance(index, list | tuple) else index
    return i if isinstance(i, int) and 0 <= i < count else None


@dataclass
class Pending:
    """A turn being generated: who was picked and why, and the text streamed so far."""

    speaker: str
    reason: str = ""
    text: str = ""
    waiting: bool = False  # queued at the model's endpoint behind other scenes' turns
    retry: str = ""  # why the last attempt was thrown away
    held: bool = False  # the partial text tripped the content policy: not shown while it streams


class ChatView:
    """Builds ``Chat``s for one story (names, avatars, roles from its personas)."""

    def __init__(self, renderer: Renderer) -> None:
        self.r = renderer

    def name_tag(self, speaker: str, name: str) -> str:
        """The speaker's emoji (a visitor has none) and name, in bold."""
        look = self.r.look(speaker, name)
        return (f"{look.emoji} " if look.emoji else "") + f"**{md_escape(name)}**"

    def header(self, speaker: str, name: str, note: str = "") -> str:
        """The first paragraph of a spoken message: avatar, name, role (or "(a visitor)")."""
        p = self.r.persona(speaker)
        role = note or (short(p.role) if p is not None else "")
        return self.name_tag(speaker, name) + (f" · _{md_escape(role)}_" if role else "")

    def chat(self, events: Iterable[Event], tree: Tree | None, pending: Pending | None) -> Chat:
        out = Chat()
        for e in events:
            self.event(out, e, tree)
        if pending is not None:
            self.pending(out, pending)
        return out

    def event(self, out: Chat, e: Event, tree: Tree | None) -> None:
        line = describe(e, self.r.names)
        if line is None or line.quiet:
            return
        shown, count = tree.count(e.seq) if tree is not None else (0, 1)
        marks = "".join(
            [f" `{shown + 1}/{count}`" if count > 1 else "", " `edited`" if tree and tree.is_edited(e.seq) else ""]
        )
        if isinstance(e, Turn) and line.speaker is not None:
            out.add("assistant", self._details(e), None, title=f"🎬 why {md_escape(line.name)}: {md_escape(_clip(line.reason))}")
            head = self.header(e.speaker, line.name) + marks
            rating = tree.ratings.get(e.seq, "") if tree is not None else ""
            out.add("assistant", f"{head}\n\n{md_escape(e.text)}", e.seq, header=head, rating=rating)
        elif isinstance(e, UserLine) and line.speaker is not None:
            head = self.header(line.speaker.key, line.name, line.mark) + marks
            note = f"\n\n_note: {md_escape(line.detail)}_" if line.detail else ""
            out.add("user", f"{head}\n\n{md_escape(e.text)}{note}", e.seq, header=head)
        elif line.kind == "narration":
            head = f"✎ _{line.label}_{marks}" if line.label == "writer" else f"_{line.label}_{marks}"
            out.add("assistant", f"{head}\n\n{md_escape(line.text)}", e.seq, header=head)
        elif isinstance(e, BeatChange):
            present = ", ".join(self.name_tag(c, self.r.name(c)) for c in e.present) or "nobody"
            why = f"\n\n↳ _director: {md_escape(line.reason)}_" if line.reason else ""
            body = f"### {md_escape(line.text)}\n_{md_escape(line.detail)}_\n\nhere: {present}{why}"
            out.add("assistant", body, e.seq)
        else:
            # the scene's first line is a "system" message: Gradio's ↻ and ↶ look back for the last message
            # that is not the assistant's, and a scene nobody has joined would have none
            role = "system" if line.kind == "scene" else "assistant"
            out.add(role, self._notice(line.kind, line.label, line.text, line.detail, line.reason), e.seq)

    @staticmethod
    def _notice(kind: str, label: str, text: str, detail: str, reason: str) -> str:
        t, d = md_escape(text), md_escape(detail)
        match kind:
            case "error":
                where = f" ({d})" if detail else ""
                return f"⚠ _The model did not answer{where}: {t}. Press Play or Step to try again._"
            case "safety":
                return f"⚠ _The {md_escape(label)} {t} ({d})._"
            case "end":
                return f"■ **The end** — {md_escape(reason)}"
            case "scene":
                return f"“{t}” · _{d}_"
        return f"✎ _{md_escape(label)}_: {t}"

    def _details(self, t: Turn) -> str:
        """A turn's thought: the director's reason, the lore it used, and its small print."""
        lore = ", ".join(f"`{i}`" for i in t.lore_ids) or "none"
        rows = [f"**director**: {md_escape(t.reason) or '–'}", f"**lore used**: {lore}"]
        rows += [f"**{md_escape(k)}**: {md_escape(v)}" for k, v in stats(t)]
        return "\n\n".join(rows)

    def pending(self, out: Chat, p: Pending) -> None:
        name = self.r.name(p.speaker) if p.speaker else ""
        if p.waiting:
            out.add("assistant", "_waiting for the model (busy with other scenes' turns)…_", None)
            return
        if not p.speaker:
            out.add("assistant", "_the director is choosing who speaks…_", None)
            return
        out.add("assistant", md_escape(p.reason) or "–", None, title=f"🎬 {md_escape(name)} speaks next", done=False)
        text = "_(held back by the content policy)_" if p.held else md_escape(p.text)
        retry = f"\n\n_{md_escape(p.retry)}_" if p.retry else ""
        out.add("assistant", f"{self.header(p.speaker, name, 'speaking…')}\n\n{text} ▍{retry}", None)


def _clip(text: str, limit: int = 90) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
