"""The page's HTML around the chat (header, status), read the way a browser would, and the terminal's print
of a scene (the chat messages themselves: tests/ui/test_chat.py)."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from rich.console import Console

from stage.play import Printer
from stage.transcript import (
    Action,
    BeatChange,
    Direction,
    ErrorEvent,
    Event,
    Narration,
    SceneEnd,
    SceneStart,
    Turn,
)
from stage.types import Story
from stage.ui.render import Renderer, esc, short, status

ATTACK = '<img src=x onerror="alert(1)"><script>alert(2)</script>${1+1} {{7*7}} `x`'
DANGEROUS = {"img", "script", "iframe", "svg", "a", "b", "i", "style", "object"}


class Seen(HTMLParser):
    """The tags and the text (entities decoded) a browser gets from a piece of HTML."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.chunks: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    def handle_data(self, data: str) -> None:
        self.chunks.append(data)

    @property
    def text(self) -> str:
        return "".join(self.chunks)

    def attrs(self, name: str) -> list[str]:
        return [str(a[name]) for _, a in self.tags if a.get(name) is not None]


def part(html: str, css: str) -> Seen:
    """What a person sees in the first element with class ``css`` (one without nested elements of its tag)."""
    m = re.search(rf'<(div|span) class="{css}"[^>]*>(.*?)</\1>', html, re.S)
    assert m, f"no .{css} in {html}"
    return Seen(m.group(2))


@pytest.fixture
def r(story: Story) -> Renderer:
    return Renderer(story)


def printed(story: Story, *events: Event) -> str:
    console = Console(record=True, width=200, color_system=None)
    printer = Printer(story, console)
    for e in events:
        printer(e)
    return console.export_text()


def test_esc_neutralises_markup_and_template_syntax() -> None:
    out = esc(ATTACK)
    assert "<" not in out and ">" not in out and '"' not in out
    assert "$" not in out and "{" not in out and "`" not in out
    assert Seen(out).text == ATTACK  # ... and a browser still shows every character


def test_the_terminal_shows_what_the_page_shows(story: Story) -> None:
    out = printed(
        story,
        SceneStart(seq=1, beat="bedtime", title="Bedtime, 2085", seed=3),
        BeatChange(
            seq=2, beat="bedtime", position=1, title="Sync Hour", location="Lyra's room", reason="start"
        ),
        Narration(seq=3, beat="bedtime", text="Five minutes to Sync Hour."),
        Turn(seq=4, beat="bedtime", speaker="lyra", text="Dad! [bold]x[/bold]", reason="fewest turns"),
        Direction(seq=5, beat="bedtime", action=Action.FORCE, target="max"),
        Direction(seq=6, beat="bedtime", action=Action.INJECT, text="Thunder."),
        Narration(seq=7, beat="bedtime", text="Thunder.", source="writer"),
        ErrorEvent(seq=8, beat="bedtime", message="timed out", where="turn of lyra"),
        SceneEnd(seq=9, beat="bedtime", reason="the story is complete"),
    )
    for shown in (
        "“Bedtime, 2085” · seed 3",
        "Beat 1 · Sync Hour — Lyra's room",
        "director: start",
        "narrator: Five minutes to Sync Hour.",
        "Lyra: Dad! [bold]x[/bold]",  # rich markup in a line is shown as written
        "writer: Max speaks next",
        "writer: Thunder.",
        "error: timed out (turn of lyra)",
        "The end — the story is complete",
    ):
        assert shown in out, out
    assert "added an event" not in out  # the injected event is printed once, as the writer's narration


def test_header_shows_beat_location_and_who_is_here(r: Renderer, story: Story) -> None:
    beat = story.plot.beats[0]
    change = BeatChange(
        beat=beat.id, title=beat.title, location=beat.location, position=1, present=beat.present
    )
    html = r.header(change, list(beat.present), {"theo"}, "playing", 3)
    seen = Seen(html)
    assert seen.attrs("data-beat") == [beat.id] and seen.attrs("data-character") == list(beat.present)
    assert part(html, "beat-name").text == beat.title and part(html, "beat-location").text == beat.location
    assert "Theo played by a person" in seen.text and "▶ playing · 3 turn(s)" in seen.text
    idle = Seen(r.header(None, [], set(), "idle", 0))
    assert (
        idle.attrs("data-state") == ["idle"] and f"{len(story.plot.beats)} beats · no scene yet" in idle.text
    )


def test_status_and_short_roles() -> None:
    shown = Seen(status("<b>bad</b>", "error"))
    assert shown.attrs("data-kind") == ["error"] and shown.text == "⚠ <b>bad</b>" and len(shown.tags) == 1
    assert Seen(status("")).attrs("data-kind") == ["none"]
    assert short("Lyra's father, an exhausted rescue paramedic") == "Lyra's father"
    assert short("The heroine: a ten-year-old") == "The heroine"
