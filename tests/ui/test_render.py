"""The page's HTML, read the way a browser would: what a person sees is the speaker's name, the line as text
(never as markup), the director's reason; a visitor is labelled as one the same way on the page, in the
Markdown export and on the terminal."""

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
    SafetyEvent,
    SceneEnd,
    SceneStart,
    Turn,
    UserLine,
    visitor,
)
from stage.types import Story
from stage.ui.export import markdown
from stage.ui.render import Pending, Renderer, esc, prose, short, status

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


def test_prose_escapes_first_then_keeps_emphasis_and_line_breaks() -> None:
    out = prose("*yawns* <b>no</b>\nnext 7*7")
    assert out == "<em>yawns</em> &lt;b&gt;no&lt;/b&gt;<br>next 7*7"


@pytest.mark.parametrize(
    "event",
    [
        Turn(
            seq=3,
            beat="bedtime",
            speaker="lyra",
            text=ATTACK,
            reason=ATTACK,
            lore_ids=(ATTACK,),
            model=ATTACK,
        ),
        UserLine(seq=4, beat="bedtime", name=ATTACK, text=ATTACK, notice=ATTACK),
        UserLine(seq=4, beat="bedtime", as_character="theo", text=ATTACK),
        Narration(seq=5, beat="bedtime", text=ATTACK, source="writer"),
        Direction(seq=6, beat="bedtime", action=Action.WHISPER, target="lyra", text=ATTACK),
        Direction(seq=6, beat="bedtime", action=Action.PERSONA, target="lyra", edits={"style": ATTACK}),
        BeatChange(seq=7, beat="bedtime", title=ATTACK, location=ATTACK, reason=ATTACK, present=("lyra",)),
        ErrorEvent(seq=8, message=ATTACK, where=ATTACK),
        SafetyEvent(seq=9, direction="input", category=ATTACK, who=visitor(ATTACK).key),
        SceneEnd(seq=10, reason=ATTACK),
        SceneStart(seq=1, title=ATTACK, model=ATTACK),
    ],
    ids=lambda e: f"{e.kind}",
)
def test_person_and_model_text_reaches_the_browser_as_text(r: Renderer, event: Event) -> None:
    html = r.event(event)
    seen = Seen(html)
    assert ATTACK[:80] in seen.text  # shown, character for character (a persona edit is cut at 80)
    assert not {tag for tag, _ in seen.tags} & DANGEROUS
    assert not any(k.startswith("on") for _, attrs in seen.tags for k in attrs)
    assert "&lt;script&gt;" in html
    for syntax in ("${", "{{", "`"):  # no template syntax, even inside attributes
        assert syntax not in html


def test_a_turn_shows_name_line_reason_and_details(r: Renderer) -> None:
    t = Turn(
        seq=9,
        beat="bedtime",
        speaker="theo",
        text="Night, kiddo. *yawns*",
        reason="Theo was addressed by name",
        lore_ids=("adair-family", "theo-private"),
        prompt_tokens=400,
        completion_tokens=20,
        ttft_ms=250,
        latency_ms=2000,
    )
    html = r.event(t)
    seen = Seen(html)
    assert seen.attrs("data-speaker") == ["theo"] and seen.attrs("data-seq") == ["9"]
    assert part(html, "name").text == "Theo"
    assert part(html, "role").text == "Lyra's father"
    assert "--who:#C0392B" in seen.attrs("style")[0]
    assert '<div class="text">Night, kiddo. <em>yawns</em></div>' in html
    assert part(html, "why").text == "↳ director: Theo was addressed by name"
    details = Seen(html[html.index("<details") :]).text
    for shown in ("adair-family", "theo-private", "400 prompt", "20 reply", "250 ms", "10.0 tokens/s"):
        assert shown in details


def test_the_details_say_where_each_candidate_came_from(r: Renderer) -> None:
    t = Turn(
        seq=12,
        beat="bedtime",
        speaker="lyra",
        text="Okay okay, my band is green! I'm ready to sync in.",
        candidates=(
            {"text": "The lemon tree looks sad.", "score": 0.4, "source": "model"},
            {"text": "Zara is my mum.", "score": 0.2, "source": "recalled"},
            {"text": "Okay okay, my band is green! I'm ready to sync in.", "score": 0.9, "source": "moment"},
        ),
        chosen=2,
        cue="You say you are ready to sync in to the Network",
        cue_reason="6/12 turns of Sync Hour gone; the beat waits on Lyra",
        flags=("moment",),
    )
    details = Seen(r.event(t)[r.event(t).index("<details") :]).text
    assert "candidate 1 (lower score)" in details
    assert "candidate 2 (lower score · from what they know)" in details
    assert "candidate 3 (chosen · the plot's line for the moment)" in details
    assert "the beat waits on Lyra" in details


def test_a_visitor_is_labelled_alike_on_the_page_in_markdown_and_on_the_terminal(
    r: Renderer, story: Story
) -> None:
    line = UserLine(seq=4, beat="bedtime", name="Sam", text="Hello, Lyra!")
    label = visitor("Sam").label
    assert label == "Sam (a visitor)"

    html = r.event(line)
    assert part(html, "who").text == label  # "Sam" in .name, "(a visitor)" beside it
    assert part(html, "name").text == "Sam" and Seen(html).attrs("data-speaker") == ["visitor:Sam"]
    assert f"**{label}:** Hello, Lyra!" in markdown(story, [line])
    assert f"{label}: Hello, Lyra!" in printed(story, line)

    stopped = SafetyEvent(
        seq=5, beat="bedtime", direction="input", category="violence", who=visitor("Sam").key
    )
    notice = "The content policy stopped a message from Sam (a visitor) (violence)."
    assert notice in Seen(r.event(stopped)).text
    assert "content policy: stopped a message from Sam (a visitor) (violence)" in markdown(story, [stopped])
    assert "content policy: stopped a message from Sam (a visitor) (violence)" in printed(story, stopped)


def test_a_person_playing_a_character_is_shown_as_that_character(r: Renderer, story: Story) -> None:
    line = UserLine(seq=4, beat="bedtime", as_character="theo", text="Bed, kiddo.")
    html = r.event(line)
    assert part(html, "who").text == "Theo (played by a person)"
    assert Seen(html).attrs("data-speaker") == ["theo"] and "--who:#C0392B" in html
    assert "**Theo (played by a person):** Bed, kiddo." in markdown(story, [line])
    assert "Theo (played by a person): Bed, kiddo." in printed(story, line)


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


def test_directions_say_what_the_writer_did(r: Renderer) -> None:
    cases = [
        (Direction(seq=2, action=Action.FORCE, target="max"), "✎ writer: Max speaks next"),
        (
            Direction(seq=2, action=Action.WHISPER, target="lyra", text="hide"),
            "✎ writer: whispered to Lyra: “hide”",
        ),
        (
            Direction(seq=2, action=Action.GOTO, target="dream-meet"),
            "✎ writer: moved the scene to beat dream-meet",
        ),
        (
            Direction(seq=2, action=Action.PERSONA, target="max", edits={"style": "gruff"}),
            "✎ writer: edited Max: style → gruff (from the next turn)",
        ),
        (  # transcripts written before ``edits`` carry the edits as JSON in ``text``
            Direction(seq=2, action=Action.PERSONA, target="max", text='{"style": "gruff"}'),
            "✎ writer: edited Max: style → gruff (from the next turn)",
        ),
    ]
    for event, shown in cases:
        html = r.event(event)
        assert Seen(html).text == shown
        assert Seen(html).attrs("data-action") == [str(event.action)]
    assert r.event(Direction(seq=3, action=Action.INJECT, text="Thunder.")) == ""  # its narration shows it


def test_a_beat_shows_where_who_and_why(r: Renderer) -> None:
    b = BeatChange(
        seq=7,
        beat="bedtime",
        position=1,
        title="Sync Hour",
        location="Lyra's room",
        present=("lyra", "theo"),
        reason="the writer moved the scene",
    )
    html = r.event(b)
    assert part(html, "beat-title").text == "Beat 1 · Sync Hour"
    assert part(html, "beat-location").text == "Lyra's room"
    assert Seen(html).attrs("data-character") == ["lyra", "theo"]
    assert part(html, "why").text == "↳ director: the writer moved the scene"


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


def test_pending_turn_streams_with_a_cursor(r: Renderer) -> None:
    html = r.transcript([], Pending(speaker="lyra", reason="fewest turns", text="Hi <b>Dad</b>"))
    seen = Seen(html)
    assert seen.attrs("data-kind") == ["pending"] and seen.attrs("id") == ["stage-log"]
    assert part(html, "name").text == "Lyra" and "Hi <b>Dad</b>▍" in seen.text
    assert "↳ director: fewest turns" in seen.text and "b" not in {t for t, _ in seen.tags}
    assert "held back by the content policy" in Seen(r.pending(Pending("lyra", text="bad", held=True))).text
    assert "choosing who speaks" in Seen(r.pending(Pending(speaker=""))).text
    assert "another scene is speaking" in Seen(r.pending(Pending(speaker="lyra", waiting=True))).text
    assert "press ▶ Play to watch the characters" in Seen(r.transcript([], None)).text


def test_status_and_short_roles() -> None:
    shown = Seen(status("<b>bad</b>", "error"))
    assert shown.attrs("data-kind") == ["error"] and shown.text == "⚠ <b>bad</b>" and len(shown.tags) == 1
    assert Seen(status("")).attrs("data-kind") == ["none"]
    assert short("Lyra's father, an exhausted rescue paramedic") == "Lyra's father"
    assert short("The heroine: a ten-year-old") == "The heroine"
