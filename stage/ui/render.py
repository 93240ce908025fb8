"""Transcript events -> HTML for the page. Every piece of person or model text goes through ``esc``.

The page shows this HTML as is (``gr.HTML`` does not sanitize), so escaping here is the injection defence:
a message like ``<img onerror=...>`` must arrive in the browser as text. Attributes carry data for tests
(``data-kind``, ``data-speaker``, ``data-seq``); names of people are never put into markup unescaped.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass
from typing import Literal

from stage.transcript import (
    BeatChange,
    Direction,
    ErrorEvent,
    Event,
    Narration,
    SafetyEvent,
    SceneEnd,
    SceneStart,
    Turn,
    UserLine,
)
from stage.types import Persona, Story

_HEX = re.compile(r"#[0-9a-fA-F]{3,8}")
# *smiles* -> a stage direction in italics (applied after escaping); not 7*7 or a*b*c
_EMPHASIS = re.compile(r"(?<![\w*])\*(?=\S)([^*\n]{1,200}?)(?<=\S)\*(?![\w*])")
_TEMPLATE = {"$": "&#36;", "{": "&#123;", "}": "&#125;", "`": "&#96;"}
NEUTRAL = "#7a7f8c"
StatusKind = Literal["info", "error", "busy"]
_STATE = {"playing": "▶ playing", "paused": "❚❚ paused", "ended": "■ the end", "idle": "ready"}
_STATUS_ICON = {"info": "ℹ", "error": "⚠", "busy": "…"}

# Avatars are emoji (persona files); a browser without an emoji font would draw empty boxes, so this marks
# custom properties on :root, and the CSS shows the character's initial instead.
EMOJI_CHECK = """<script>
(function () {
  try {
    var c = document.createElement("canvas"); c.width = c.height = 24;
    var x = c.getContext("2d"); x.textBaseline = "top"; x.font = "20px sans-serif";
    x.fillText("\\u{1F31F}", 0, 0);
    var d = x.getImageData(0, 0, 24, 24).data, coloured = 0;
    for (var i = 0; i < d.length; i += 4) if (d[i + 3] && (d[i] !== d[i + 1] || d[i + 1] !== d[i + 2])) coloured++;
    if (coloured >= 8) return;
  } catch (e) { /* no canvas: assume no emoji font either */ }
  var root = document.documentElement.style;
  root.setProperty("--stage-emoji", "none");
  root.setProperty("--stage-initial", "inline");
})();
</script>"""


def esc(text: object) -> str:
    """HTML-escape text (quotes too), and neutralise template syntax in case a template ever sees it."""
    out = html.escape(str(text), quote=True)
    return "".join(_TEMPLATE.get(c, c) for c in out)


def prose(text: str) -> str:
    """Escaped text with *emphasis* as italics and line breaks kept."""
    return _EMPHASIS.sub(r"<em>\1</em>", esc(text)).replace("\n", "<br>")


def colour(p: Persona | None) -> str:
    return p.color if p is not None and _HEX.fullmatch(p.color) else NEUTRAL


def short(role: str, limit: int = 48) -> str:
    """A persona's role cut to its first clause: "Lyra's father, an exhausted ..." -> "Lyra's father"."""
    head = re.split(r",|:| who | - | — ", role, maxsplit=1)[0].strip().rstrip(".")
    return head if len(head) <= limit else head[: limit - 1].rstrip() + "…"


@dataclass
class Pending:
    """A turn being generated: who was picked and why, and the text streamed so far."""

    speaker: str
    reason: str = ""
    text: str = ""
    waiting: bool = False  # queued behind another scene's turn
    retry: str = ""  # why the last attempt was thrown away
    held: bool = False  # the partial text tripped the content policy: not shown while it streams


class Renderer:
    """HTML for one story's events, header and status lines."""

    def __init__(self, story: Story) -> None:
        self.story = story

    # -- people ---------------------------------------------------------------------------------------------

    def persona(self, cid: str) -> Persona | None:
        return self.story.personas.get(cid)

    def name(self, cid: str) -> str:
        p = self.persona(cid)
        return p.name if p is not None else cid

    def avatar(self, cid: str, css: str = "avatar", name: str = "") -> str:
        """The persona's emoji, with the initial shown instead where the browser has no emoji font."""
        p = self.persona(cid)
        letters = re.search(r"\w", name or self.name(cid))
        initial = esc(letters.group(0).upper() if letters else "?")
        if p is None or not p.avatar:
            return f'<span class="{css} plain"><span class="initial">{initial}</span></span>'
        return f'<span class="{css}"><span class="emoji">{esc(p.avatar)}</span><span class="initial">{initial}</span></span>'

    def chip(self, cid: str, note: str = "") -> str:
        extra = f' <span class="chip-note">{esc(note)}</span>' if note else ""
        return (
            f'<span class="chip" data-character="{esc(cid)}" style="--who:{colour(self.persona(cid))}">'
            f"{self.avatar(cid, 'chip-avatar')}{esc(self.name(cid))}{extra}</span>"
        )

    def _message(
        self, kind: str, speaker: str, seq: int, who: str, name: str, tag: str, body: str, after: str = ""
    ) -> str:
        """One speech bubble: ``who`` is the persona id for colour and avatar ("" for a visitor)."""
        css = {"turn": "msg turn", "user": "msg user", "pending": "msg turn pending"}[kind]
        seq_attr = f' data-seq="{seq}"' if seq else ""
        return (
            f'<div class="{css}" data-kind="{kind}" data-speaker="{esc(speaker)}"{seq_attr} '
            f'style="--who:{colour(self.persona(who))}">{self.avatar(who, name=name)}<div class="bubble">'
            f'<div class="who"><span class="name">{esc(name)}</span>{tag}</div>'
            f'<div class="text">{body}</div>{after}</div></div>'
        )

    @staticmethod
    def _why(reason: str) -> str:
        return f'<div class="why">↳ director: {esc(reason)}</div>' if reason else ""

    # -- events ---------------------------------------------------------------------------------------------

    def event(self, e: Event) -> str:
        """One event as HTML ("" for events that have no place on the page)."""
        if isinstance(e, Turn):
            return self._turn(e)
        if isinstance(e, UserLine):
            return self._user(e)
        if isinstance(e, Narration):
            label = "✎ event" if e.source == "writer" else "narration"
            return (
                f'<div class="narration" data-kind="narration" data-source="{esc(e.source)}" '
                f'data-seq="{e.seq}"><span class="label">{label}</span> {prose(e.text)}</div>'
            )
        if isinstance(e, BeatChange):
            return self._beat(e)
        if isinstance(e, Direction):
            return self._direction(e)
        if isinstance(e, ErrorEvent):
            where = f" ({esc(e.where)})" if e.where else ""
            return (
                f'<div class="notice error" data-kind="error" data-seq="{e.seq}">⚠ The model did not answer'
                f"{where}: {esc(e.message)}. Press Play or Step to try again.</div>"
            )
        if isinstance(e, SafetyEvent):
            side = "a message" if e.direction == "input" else "a reply"
            return (
                f'<div class="notice safety" data-kind="safety" data-seq="{e.seq}">⚠ The content policy '
                f"stopped {side} from {esc(self._who(e.who))} ({esc(e.category)}).</div>"
            )
        if isinstance(e, SceneEnd):
            return (
                f'<div class="scene-end" data-kind="end" data-seq="{e.seq}"><strong>The end</strong> — '
                f"{esc(e.reason)}</div>"
            )
        if isinstance(e, SceneStart):
            model = f" · model {esc(e.model)}" if e.model else ""
            return (
                f'<div class="scene-start" data-kind="scene" data-seq="{e.seq}">“{esc(e.title)}”'
                f"{model} · seed {e.seed}</div>"
            )
        return ""

    def _who(self, ref: str) -> str:
        if ref.startswith("visitor:"):
            return f"{ref.removeprefix('visitor:')} (visitor)"
        return self.name(ref)

    def _turn(self, t: Turn) -> str:
        p = self.persona(t.speaker)
        tag = f'<span class="role" title="{esc(p.role)}">{esc(short(p.role))}</span>' if p else ""
        after = self._why(t.reason) + self._detail(t)
        return self._message(
            "turn", t.speaker, t.seq, t.speaker, self.name(t.speaker), tag, prose(t.text), after
        )

    def _detail(self, t: Turn) -> str:
        seconds = t.latency_ms / 1000
        rate = f"{t.completion_tokens / seconds:.1f}" if seconds >= 0.05 and t.completion_tokens else "–"
        lore = ", ".join(f"<code>{esc(i)}</code>" for i in t.lore_ids) or "none"
        rows = [
            ("lore used", lore),
            ("tokens", f"{t.prompt_tokens} prompt · {t.completion_tokens} reply"),
            ("time to first token", f"{t.ttft_ms:.0f} ms"),
            ("speed", f"{rate} tokens/s · {seconds:.1f} s in all"),
            ("model", esc(t.model or "–")),
        ]
        if t.attempts > 1 or t.regenerations:
            rows.append(("attempts", f"{t.attempts} call(s), {t.regenerations} regeneration(s)"))
        if t.flags:
            rows.append(("guards", esc(", ".join(t.flags))))
        body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
        return f'<details class="detail"><summary>turn details</summary><dl>{body}</dl></details>'

    def _user(self, u: UserLine) -> str:
        if u.as_character:
            who, name, tag, speaker = (
                u.as_character,
                self.name(u.as_character),
                "played by a person",
                u.as_character,
            )
        else:
            who, name, tag, speaker = "", u.name, "visitor", f"visitor:{u.name}"
        notice = f'<div class="why">note: {esc(u.notice)}</div>' if u.notice else ""
        role = f'<span class="role">{tag}</span>'
        return self._message("user", speaker, u.seq, who, name, role, prose(u.text), notice)

    def _beat(self, b: BeatChange) -> str:
        people = "".join(self.chip(c) for c in b.present)
        why = self._why(b.reason)
        return (
            f'<div class="beat" data-kind="beat" data-beat="{esc(b.beat)}" data-seq="{b.seq}">'
            f'<div class="beat-title">Beat {b.position} · {esc(b.title)}</div>'
            f'<div class="beat-location">{esc(b.location)}</div><div class="chips">{people}</div>{why}</div>'
        )

    def _direction(self, d: Direction) -> str:
        who = esc(self.name(d.target)) if d.target else ""
        text = {
            "force": f"{who} speaks next",
            "whisper": f"whispered to {who}: “{esc(d.text)}”",
            "add": f"{who} enters the scene",
            "remove": f"{who} leaves the scene",
            "persona": f"edited {who}: {esc(_fields(d.text))} (from the next turn)",
            "take": f"a person now plays {who}; the director will not pick them",
            "release": f"{who} is back in the director's hands",
            "goto": f"moved the scene to beat {esc(d.target)}",
        }.get(d.action)
        if text is None:  # "inject" shows as the writer's narration that follows it
            return ""
        return (
            f'<div class="direction" data-kind="direction" data-action="{esc(d.action)}" '
            f'data-seq="{d.seq}">✎ writer: {text}</div>'
        )

    def pending(self, p: Pending) -> str:
        if p.waiting:
            body = '<span class="waiting">waiting for the model (another scene is speaking)…</span>'
        elif not p.speaker:
            body = '<span class="waiting">the director is choosing who speaks…</span>'
        else:
            shown = (
                '<span class="waiting">(held back by the content policy)</span>' if p.held else prose(p.text)
            )
            retry = f'<div class="why">{esc(p.retry)}</div>' if p.retry else ""
            body = f'{shown}<span class="cursor">▍</span>{retry}'
        tag = '<span class="role">speaking…</span>'
        name = self.name(p.speaker) or "…"
        return self._message("pending", p.speaker, 0, p.speaker, name, tag, body, self._why(p.reason))

    # -- whole panels ---------------------------------------------------------------------------------------

    def transcript(self, parts: list[str], pending: Pending | None) -> str:
        """The log in a bottom-anchored scroller: column-reverse keeps the newest line in view."""
        body = "".join(parts) + (self.pending(pending) if pending is not None else "")
        if not body:
            body = (
                '<div class="empty">Pick a starting beat and press <strong>▶ Play</strong> to watch the '
                "characters, or open <strong>Join</strong> and say hello.</div>"
            )
        return f'<div class="log-scroll"><div class="log" id="stage-log">{body}</div></div>'

    def header(
        self, beat: BeatChange | None, present: list[str], humans: set[str], state: str, turns: int
    ) -> str:
        title = esc(self.story.plot.title)
        total = len(self.story.plot.beats)
        if beat is None:
            return (
                f'<div class="scene-header" data-beat="" data-state="idle"><div class="title">{title}</div>'
                f'<div class="beat-line"><span class="beat-name">The stage</span>'
                f'<span class="state">{total} beats · no scene yet</span></div>'
                '<div class="beat-location">Watch the characters, join the conversation, or direct.</div></div>'
            )
        chips = "".join(self.chip(c, "played by a person" if c in humans else "") for c in present)
        return (
            f'<div class="scene-header" data-beat="{esc(beat.beat)}" data-state="{esc(state)}">'
            f'<div class="title">{title}</div><div class="beat-line"><span class="beat-pos">Beat '
            f'{beat.position} of {total}</span> <span class="beat-name">{esc(beat.title)}</span>'
            f'<span class="state state-{esc(state)}">{_STATE.get(state, esc(state))} · {turns} turn(s)</span>'
            f'</div><div class="beat-location">{esc(beat.location)}</div>'
            f'<div class="chips">{chips or "nobody is here"}</div></div>'
        )


def status(text: str, kind: StatusKind = "info") -> str:
    if not text:
        return '<div class="status" data-kind="none"></div>'
    return f'<div class="status status-{kind}" data-kind="{kind}">{_STATUS_ICON[kind]} {esc(text)}</div>'


def _fields(payload: str) -> str:
    try:
        data = json.loads(payload)
    except ValueError:
        return payload
    return ", ".join(f"{k} → {str(v)[:80]}" for k, v in data.items()) if isinstance(data, dict) else payload
