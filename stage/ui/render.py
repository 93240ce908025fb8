"""The page's HTML around the chat (the scene header, the status line), from autoescaped Jinja templates
(``templates/*.html.j2``), and how each speaker looks (colour, emoji avatar, initial).

The page shows this HTML as is (``gr.HTML`` does not sanitize), so escaping here is the injection defence:
a name like ``<img onerror=...>`` must arrive in the browser as text. Every value a template prints is
escaped unless it is already ``Markup`` (``_finalize``), and template syntax (``$ { } ` ``) is turned into
entities too, in case a client-side template ever sees it. The transcript itself is ``gr.Chatbot`` messages
(``stage.ui.chat``), escaped as Markdown there.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from jinja2 import Environment, FileSystemLoader, StrictUndefined
from markupsafe import Markup

from stage.describe import PLAYED
from stage.transcript import BeatChange, Turn
from stage.types import Persona, Story

TEMPLATES = Path(__file__).parent / "templates"
_HEX = re.compile(r"#[0-9a-fA-F]{3,8}")
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


def esc(text: object) -> Markup:
    """HTML-escape text (quotes too), and neutralise template syntax in case a template ever sees it."""
    out = html.escape(str(text), quote=True)
    return Markup("".join(_TEMPLATE.get(c, c) for c in out))


def _finalize(value: Any) -> Any:
    """Every ``{{ value }}`` of the templates: markup made by the templates as is, all else
    escaped by ``esc`` (autoescape alone would leave ``$ { } ` `` as they are)."""
    return value if isinstance(value, Markup) else esc(value)


@cache
def _env() -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATES),
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        finalize=_finalize,
        auto_reload=False,  # the templates ship with the package; no stat() per render
    )
    return env


def _render(template: str, **values: Any) -> str:
    return _env().get_template(template).render(**values).strip()


def colour(p: Persona | None) -> str:
    return p.color if p is not None and _HEX.fullmatch(p.color) else NEUTRAL


def short(role: str, limit: int = 48) -> str:
    """A persona's role cut to its first clause: "Lyra's father, an exhausted ..." -> "Lyra's father"."""
    head = re.split(r",|:| who | - | — ", role, maxsplit=1)[0].strip().rstrip(".")
    return head if len(head) <= limit else head[: limit - 1].rstrip() + "…"


@dataclass(frozen=True)
class Look:
    """How someone is drawn: their colour, and their emoji avatar or (without an emoji font) initial."""

    colour: str
    emoji: str
    initial: str


@dataclass(frozen=True)
class Chip:
    id: str
    name: str
    look: Look
    note: str = ""


class Renderer:
    """The page's dress for one story: who looks how (colour, emoji, initial), the header and status lines."""

    def __init__(self, story: Story) -> None:
        self.story = story
        self.names = {cid: p.name for cid, p in story.personas.items()}

    # -- people ---------------------------------------------------------------------------------------------

    def persona(self, cid: str) -> Persona | None:
        return self.story.personas.get(cid)

    def name(self, cid: str) -> str:
        return self.names.get(cid, cid)

    def look(self, cid: str, name: str = "") -> Look:
        """The persona's colour and emoji (none for a visitor), and the initial shown where emoji are not."""
        p = self.persona(cid)
        letters = re.search(r"\w", name or self.name(cid))
        initial = letters.group(0).upper() if letters else "?"
        return Look(colour(p), p.avatar if p is not None else "", initial)

    def chip(self, cid: str, note: str = "") -> Chip:
        return Chip(cid, self.name(cid), self.look(cid), note)

    # -- whole panels ---------------------------------------------------------------------------------------

    def header(
        self, beat: BeatChange | None, present: list[str], humans: set[str], state: str, turns: int
    ) -> str:
        return _render(
            "header.html.j2",
            title=self.story.plot.title,
            total=len(self.story.plot.beats),
            beat=beat,
            state=state,
            state_label=_STATE.get(state, state),
            turns=turns,
            chips=[self.chip(c, PLAYED if c in humans else "") for c in present],
        )


def stats(t: Turn) -> list[tuple[str, str]]:
    """A turn's small print (after the lore it used): tokens, timings, model, retries, guards."""
    seconds = t.latency_ms / 1000
    rate = f"{t.completion_tokens / seconds:.1f}" if seconds >= 0.05 and t.completion_tokens else "–"
    rows = [
        ("tokens", f"{t.prompt_tokens} prompt · {t.completion_tokens} reply"),
        ("time to first token", f"{t.ttft_ms:.0f} ms"),
        ("speed", f"{rate} tokens/s · {seconds:.1f} s in all"),
        ("model", t.model or "–"),
    ]
    if t.attempts > 1 or t.regenerations:
        rows.append(("attempts", f"{t.attempts} call(s), {t.regenerations} regeneration(s)"))
    if t.flags:
        rows.append(("guards", ", ".join(t.flags)))
    if t.cue:
        rows.append(("director's cue", f"{t.cue} ({t.cue_reason})" if t.cue_reason else t.cue))
    for n, c in enumerate(t.candidates):
        mark = "chosen" if n == t.chosen else (f"rejected: {c.get('reject')}" if c.get("reject") else "lower score")
        parts = ", ".join(f"{k} {v:+.2f}" for k, v in c.get("parts", {}).items())
        source = {"recalled": " · from what they know", "moment": " · the plot's line for the moment"}.get(
            str(c.get("source", "")), ""
        )
        rows.append((f"candidate {n + 1} ({mark}{source})", f"“{c.get('text', '')}” score {c.get('score', 0):.2f}; {parts}"))
    return rows


def status(text: str, kind: StatusKind = "info") -> str:
    return _render("status.html.j2", text=text, kind=kind, icon=_STATUS_ICON.get(kind, ""))
