"""The page in a real headless Chromium: watch, join, direct, and no HTML/script injection through a message.

Model-backed tests use the embedded model (a turn takes seconds: turn counts are kept small); the injection
test needs no model's words and runs on the scripted backend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.conftest import SCREENSHOTS, Served

pytestmark = pytest.mark.browser

TURNS = '#transcript [data-kind="turn"]'
MODEL_WAIT = 240_000  # ms; a turn takes seconds on an idle machine, much longer when the cores are shared
SPEAKERS_JS = (
    "() => [...document.querySelectorAll('#transcript [data-kind=turn]')].map(e => e.dataset.speaker)"
)


def open_stage(page: Any, app: Served) -> None:
    page.goto(app.url)
    page.wait_for_selector("#scene-header .scene-header")
    page.wait_for_selector("#transcript .log")


def set_slider(page: Any, elem_id: str, value: float) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Enter")


def textbox(page: Any, elem_id: str) -> Any:
    return page.locator(f"#{elem_id}").locator("textarea, input").first


def type_into(page: Any, elem_id: str, text: str) -> None:
    """Fill a Gradio textbox and make sure the value stuck: a tab's components can still be mounting (and
    take their initial value again) just after the tab is opened, which a fast machine sees."""
    box = textbox(page, elem_id)
    box.wait_for(state="visible")
    for _ in range(20):
        box.fill(text)
        page.wait_for_timeout(150)
        if box.input_value() == text:
            return
    raise AssertionError(f"#{elem_id} would not keep the text {text!r}")


def choose(page: Any, elem_id: str, label: str) -> None:
    page.locator(f"#{elem_id} input").click()
    page.get_by_role("option", name=label).click()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


@pytest.mark.model
def test_play_streams_a_conversation_between_characters(page: Any, model_app: Served) -> None:
    open_stage(page, model_app)
    shot(page, "00-empty-stage")
    set_slider(page, "speed", 0)
    set_slider(page, "turn-cap", 2)
    page.click("#play")
    pending = page.wait_for_selector('#transcript [data-kind="pending"] .text .cursor')
    assert pending is not None  # the turn is shown while its tokens arrive
    page.wait_for_function(f"() => document.querySelectorAll('{TURNS}').length >= 2", timeout=MODEL_WAIT)
    speakers = page.evaluate(SPEAKERS_JS)
    assert len(set(speakers)) >= 2, speakers
    header = page.locator("#scene-header .scene-header")
    assert header.get_attribute("data-beat") == "bedtime"
    assert header.locator(".chip").count() >= 2
    first = page.locator(TURNS).first
    assert first.locator(".name").inner_text().strip()
    assert "director:" in first.locator(".why").inner_text()
    first.locator("details summary").click()
    detail = first.locator("details").inner_text()
    assert "time to first token" in detail and "tokens/s" in detail
    assert first.locator("details code").count() >= 1, "the Chroma store gave the turn some lore"
    page.wait_for_selector('#status [data-kind="info"]', timeout=MODEL_WAIT)  # play has finished
    shot(page, "01-watch-two-characters")


@pytest.mark.model
def test_a_visitor_names_a_character_and_gets_their_reply(page: Any, model_app: Served) -> None:
    open_stage(page, model_app)
    page.get_by_role("tab", name="Join").click()
    type_into(page, "visitor-name", "Ann")
    type_into(page, "message", "Theo, are you still at work tonight?")
    page.click("#send")
    page.wait_for_selector('#transcript [data-kind="user"][data-speaker="visitor:Ann"]')
    reply = page.wait_for_selector('#transcript [data-kind="user"] ~ [data-kind="turn"]', timeout=MODEL_WAIT)
    assert reply is not None and reply.get_attribute("data-speaker") == "theo"
    assert page.input_value("#message textarea, #message input") == ""
    shot(page, "02-join-visitor-reply")


@pytest.mark.model
def test_director_injects_an_event_and_moves_the_beat(page: Any, model_app: Served) -> None:
    open_stage(page, model_app)
    page.get_by_role("tab", name="Direct").click()
    type_into(page, "event-text", "A thunderclap rattles the window.")
    page.click("#inject")
    event = page.wait_for_selector('#transcript [data-kind="narration"][data-source="writer"]')
    assert event is not None and "A thunderclap rattles the window." in event.inner_text()
    choose(page, "goto-beat", "2. At the Edge of the Orchard")
    page.click("#goto")
    page.wait_for_selector('#scene-header .scene-header[data-beat="dream-meet"]')
    assert "At the Edge of the Orchard" in page.locator("#scene-header").inner_text()
    assert page.locator('#transcript [data-kind="beat"][data-beat="dream-meet"]').count() == 1
    shot(page, "03-direct-inject-and-goto")


def test_html_and_script_in_a_message_are_shown_as_text(page: Any, scripted_app: Served) -> None:
    attack = (
        '<img src=x onerror="window.__pwned=1"><script>window.__pwned=2</script>'
        '<b id="pwn">bold</b> ${7*7} {{7*7}}'
    )
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    open_stage(page, scripted_app)
    page.get_by_role("tab", name="Join").click()
    type_into(page, "visitor-name", '<i id="pwn-name">Eve</i>')
    type_into(page, "message", attack)
    page.click("#send")
    page.wait_for_selector('#transcript [data-kind="user"] ~ [data-kind="turn"]')
    line = page.locator('#transcript [data-kind="user"]')
    assert line.count() == 1
    assert line.get_attribute("data-speaker") == 'visitor:<i id="pwn-name">Eve</i>'
    assert line.locator(".name").inner_text() == '<i id="pwn-name">Eve</i>'
    assert line.locator(".text").inner_text() == attack
    assert page.locator("#pwn, #pwn-name, #transcript img, #transcript script").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == []
    shot(page, "04-injection-shown-as-text")
