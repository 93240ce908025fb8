"""The page in a real headless Chromium: watch, join, direct, and no HTML/script injection through a message.

Model-backed tests use the embedded model (a turn takes seconds: turn counts are kept small); the injection
test needs no model's words and runs on the scripted backend."""

from __future__ import annotations

from typing import Any

import pytest

from tests.ui.chatpage import rows, turns, until, wait_turns
from tests.ui.conftest import SCREENSHOTS, Served

pytestmark = pytest.mark.browser

MODEL_WAIT = 240_000  # ms; a turn takes seconds on an idle machine, much longer when the cores are shared


def open_stage(page: Any, app: Served) -> None:
    page.goto(app.url)
    page.wait_for_selector("#scene-header .scene-header")
    page.wait_for_selector("#transcript")
    # the page's load has given this browser its library id (stage/ui/scenes.py: open_page); a click before
    # that would start a scene in a session that does not know its browser yet
    page.wait_for_function("() => localStorage.getItem('stage-library')")


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
    # the turn is shown while its tokens arrive, under the director's pending thought
    until(page, lambda: any(r.thought.endswith("speaks next") for r in rows(page)), "a turn being written")
    wait_turns(page, 2, at_least=True, timeout_s=MODEL_WAIT / 1000)
    said = turns(page)
    assert len({t.name for t in said}) >= 2, [t.header for t in said]
    header = page.locator("#scene-header .scene-header")
    assert header.get_attribute("data-beat") == "bedtime"
    assert header.locator(".chip").count() >= 2
    first = said[0]
    assert first.name and first.line
    why = rows(page)[first.index - 1]
    assert why.thought.startswith(f"🎬 why {first.name}:")
    page.locator("#transcript .message-row").nth(why.index).locator(".thought-group .title").click()
    until(page, lambda: "time to first token" in rows(page)[why.index].text, "the turn's details")
    detail = rows(page)[why.index].text
    assert "tokens/s" in detail and "lore used: none" not in detail, "the Chroma store gave the turn some lore"
    page.wait_for_selector('#status [data-kind="info"]', timeout=MODEL_WAIT)  # play has finished
    shot(page, "01-watch-two-characters")


@pytest.mark.model
def test_a_visitor_names_a_character_and_gets_their_reply(page: Any, model_app: Served) -> None:
    open_stage(page, model_app)
    page.get_by_role("tab", name="Join").click()
    type_into(page, "visitor-name", "Ann")
    type_into(page, "message", "Theo, are you still at work tonight?")
    page.click("#send")
    until(page, lambda: any(r.user and r.name == "Ann" for r in rows(page)), "Ann's line")
    asked = next(r for r in rows(page) if r.user)
    until(page, lambda: any(t.index > asked.index for t in turns(page)), "a reply", MODEL_WAIT / 1000)
    reply = next(t for t in turns(page) if t.index > asked.index)
    assert reply.name == "Theo", reply.header
    assert page.input_value("#message textarea, #message input") == ""
    shot(page, "02-join-visitor-reply")


@pytest.mark.model
def test_director_injects_an_event_and_moves_the_beat(page: Any, model_app: Served) -> None:
    open_stage(page, model_app)
    page.get_by_role("tab", name="Direct").click()
    type_into(page, "event-text", "A thunderclap rattles the window.")
    page.click("#inject")
    shown = "✎ writer\n\nA thunderclap rattles the window."
    until(page, lambda: any(r.text == shown for r in rows(page)), "the writer's event")
    choose(page, "goto-beat", "2. At the Edge of the Orchard")
    page.click("#goto")
    page.wait_for_selector('#scene-header .scene-header[data-beat="dream-meet"]')
    assert "At the Edge of the Orchard" in page.locator("#scene-header").inner_text()
    beat = [r for r in rows(page) if r.text.startswith("Beat 2 · At the Edge of the Orchard")]
    assert len(beat) == 1
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
    until(page, lambda: any(t.index > 0 and rows(page)[t.index - 2].user for t in turns(page)), "a reply")
    (line,) = [r for r in rows(page) if r.user]
    assert line.header == '<i id="pwn-name">Eve</i> · (a visitor)'
    assert line.line == attack
    assert page.locator("#pwn, #pwn-name, #transcript img, #transcript script").count() == 0
    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == []
    shot(page, "04-injection-shown-as-text")


def test_a_card_dropped_on_the_page_joins_this_scene_only(browser: Any, page: Any, scripted_app: Served) -> None:
    from tests.cards.support import DATA

    open_stage(page, scripted_app)
    page.get_by_role("tab", name="Direct").click()
    page.locator("#card-drop input[type=file]").set_input_files(str(DATA / "mira.v2.json"))
    status = page.locator("#status")
    until(page, lambda: "Captain Mira joined this scene from mira.v2.json" in status.inner_text(), "the import report")
    assert "system_prompt: no place here" in status.inner_text()  # what had no place is shown, not dropped
    page.wait_for_function("() => document.querySelector('#scene-header').innerText.includes('Captain Mira')")
    page.click("#force")  # the dropdown now holds her, chosen: she speaks next
    until(page, lambda: "speaks next" in status.inner_text(), "the force")
    page.get_by_role("tab", name="Watch").click()
    page.click("#step")
    until(page, lambda: any(t.name == "Captain Mira" for t in turns(page)), "her turn")
    shot(page, "05-card-dropped")
    other = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    try:
        open_stage(other, scripted_app)
        other.get_by_role("tab", name="Direct").click()
        other.locator("#direct-who input").click()
        names = other.get_by_role("option").all_inner_texts()
        assert "Lyra" in names and "Captain Mira" not in names, names
    finally:
        other.context.close()
