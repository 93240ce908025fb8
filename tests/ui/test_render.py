"""Rendering events to HTML: everything people or models wrote is shown as text, never as markup."""

from __future__ import annotations

import re

import pytest

from stage.transcript import BeatChange, Direction, Narration, Turn, UserLine
from stage.types import Story
from stage.ui.render import Pending, Renderer, esc, short, status

ATTACK = '<img src=x onerror="alert(1)"><script>alert(2)</script>${1+1} {{7*7}} `x`'


@pytest.fixture
def r(story: Story) -> Renderer:
    return Renderer(story)


def tags(html: str) -> set[str]:
    return set(re.findall(r"<([a-zA-Z][a-zA-Z0-9]*)", html))


def test_esc_neutralises_markup_and_template_syntax() -> None:
    out = esc(ATTACK)
    assert "<" not in out and ">" not in out and '"' not in out
    assert "$" not in out and "{" not in out and "`" not in out


@pytest.mark.parametrize(
    "event",
    [
        Turn(seq=3, beat="bedtime", speaker="lyra", text=ATTACK, reason=ATTACK, lore_ids=(ATTACK,)),
        UserLine(seq=4, beat="bedtime", name=ATTACK, text=ATTACK, notice=ATTACK),
        UserLine(seq=4, beat="bedtime", as_character="theo", text=ATTACK),
        Narration(seq=5, beat="bedtime", text=ATTACK, source="writer"),
        Direction(seq=6, beat="bedtime", action="whisper", target="lyra", text=ATTACK),
        BeatChange(seq=7, beat="bedtime", title=ATTACK, location=ATTACK, reason=ATTACK, present=("lyra",)),
    ],
)
def test_person_and_model_text_never_becomes_markup(r: Renderer, event: object) -> None:
    html = r.event(event)  # type: ignore[arg-type]
    assert html
    assert not tags(html) & {"img", "script", "iframe", "svg", "a"}
    assert "onerror=" not in html.replace("onerror=&quot;", "")
    assert "&lt;script&gt;" in html


def test_a_turn_shows_name_colour_reason_and_details(r: Renderer) -> None:
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
    assert 'data-speaker="theo"' in html and 'data-seq="9"' in html
    assert "Theo" in html and "#C0392B" in html
    assert "<em>yawns</em>" in html
    assert "director: Theo was addressed by name" in html
    for shown in ("adair-family", "theo-private", "400 prompt", "20 reply", "250 ms", "10.0 tokens/s"):
        assert shown in html


def test_header_shows_beat_location_and_who_is_here(r: Renderer, story: Story) -> None:
    beat = story.plot.beats[0]
    change = BeatChange(
        beat=beat.id, title=beat.title, location=beat.location, position=1, present=beat.present
    )
    html = r.header(change, list(beat.present), {"theo"}, "playing", 3)
    assert f'data-beat="{beat.id}"' in html and esc(beat.title) in html and esc(beat.location) in html
    for cid in beat.present:
        assert f'data-character="{cid}"' in html
    assert "played by a person" in html and "3 turn(s)" in html


def test_pending_turn_streams_with_a_cursor(r: Renderer) -> None:
    html = r.transcript([], Pending(speaker="lyra", reason="fewest turns", text="Hi <b>Dad</b>"))
    assert 'data-kind="pending"' in html and "Hi &lt;b&gt;Dad&lt;/b&gt;" in html and "cursor" in html
    assert "choosing who speaks" in r.pending(Pending(speaker=""))


def test_status_and_short_roles() -> None:
    assert 'data-kind="error"' in status("<b>bad</b>", "error") and "&lt;b&gt;" in status("<b>", "error")
    assert short("Lyra's father, an exhausted rescue paramedic") == "Lyra's father"
    assert short("The heroine: a ten-year-old") == "The heroine"
