"""The scene library and the line controls in a real headless Chromium (scripted backend: the words don't
matter here, what the page shows and what the next turn hears do): a reload keeps the scene, another browser
profile does not see it, swipe / ← → / edit / delete / rewind / fork change the page and the next prompt, and
the library survives an app restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stage import runtime
from stage.llm.scripted import ScriptedModel
from stage.settings import Settings
from stage.transcript import Turn
from stage.ui.app import build, launch
from tests.ui.conftest import Served, free_port, stop
from tests.ui.test_browser import open_stage, shot, type_into

pytestmark = pytest.mark.browser

TURNS = '#transcript [data-kind="turn"]'


class Restartable:
    """The app on one fixed loopback port (a browser's storage belongs to its origin, port included), which
    a test can stop and start again over the same home folder, as a person restarting ``stage serve``."""

    def __init__(self, home: Path) -> None:
        self.settings = Settings(backend="scripted", home=home, seed=11, retries=0, backoff=0.0, candidates=3)
        self.port = free_port()
        self.served: Served | None = None
        self.start()

    def start(self) -> None:
        self._model = ScriptedModel(seed=11)
        story = runtime.story(self.settings)
        built = build(self.settings, model=self._model, retriever=runtime.keyword_retriever(story))
        url = launch(built.app, self.settings, port=self.port, block=False, quiet=True)
        self.served = Served(url, built.app, built.sessions, self.settings)

    def stop(self) -> None:
        if self.served is not None:
            stop(self.served)
            self.served = None

    def restart(self) -> None:
        self.stop()
        self.start()

    def prompt(self) -> str:
        return "\n".join(m.content for m in self._model.calls[-1])

    def scene(self) -> Any:
        assert self.served is not None
        live = [s for s in self.served.sessions if s.scene is not None]
        assert live, "no session has a scene"
        return live[-1].scene


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restartable]:
    served = Restartable(tmp_path_factory.mktemp("ui-scenes"))
    yield served
    served.stop()


def count(page: Any, selector: str) -> int:
    return int(page.locator(selector).count())


def wait_count(page: Any, selector: str, n: int, at_least: bool = False) -> None:
    op = ">=" if at_least else "==="
    page.wait_for_function(f"() => document.querySelectorAll('{selector}').length {op} {n}")


def step(page: Any, n: int = 1) -> None:
    page.get_by_role("tab", name="Watch").click()
    for _ in range(n):
        before = count(page, TURNS)
        page.click("#step")
        wait_count(page, TURNS, before + 1)
        page.wait_for_selector('#status:not(:has([data-kind="busy"]))')


def pick_line(page: Any, seq: int) -> None:
    page.get_by_role("tab", name="Lines").click()
    page.locator("#line-pick input").click()
    page.get_by_role("option", name=f"#{seq} ").first.click()


def test_a_reload_keeps_the_scene_and_another_profile_does_not_see_it(browser: Any, app: Restartable) -> None:
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(60_000)
    page = ctx.new_page()
    open_stage(page, app.served)  # type: ignore[arg-type]
    step(page, 2)
    texts = page.locator(f"{TURNS} .text").all_inner_texts()
    page.reload()
    open_stage(page, app.served)  # type: ignore[arg-type]
    wait_count(page, TURNS, 2)
    assert page.locator(f"{TURNS} .text").all_inner_texts() == texts
    page.get_by_role("tab", name="Scenes").click()
    page.wait_for_selector('#library [data-scenes="1"]')
    shot(page, "05-scene-library")
    other = browser.new_context(viewport={"width": 1400, "height": 900})
    other.set_default_timeout(60_000)
    stranger = other.new_page()
    open_stage(stranger, app.served)  # type: ignore[arg-type]
    stranger.get_by_role("tab", name="Scenes").click()
    stranger.wait_for_selector('#library [data-scenes="0"]')
    assert count(stranger, TURNS) == 0
    other.close()
    # the library survives an app restart: the same browser, the same port, a new server process state
    app.restart()
    page.reload()
    open_stage(page, app.served)  # type: ignore[arg-type]
    wait_count(page, TURNS, 2)
    assert page.locator(f"{TURNS} .text").all_inner_texts() == texts
    step(page)
    assert texts[-1] in app.prompt()
    ctx.close()


def test_swipe_browse_edit_delete_rewind_and_fork(page: Any, app: Restartable) -> None:
    open_stage(page, app.served)  # type: ignore[arg-type]
    step(page, 3)
    last_turn = page.locator(TURNS).last
    seq = int(last_turn.get_attribute("data-seq"))
    first = last_turn.locator(".text").inner_text()
    # swipe: another reply beside the first, shown as 2/2; ← and → browse them
    page.click("#swipe")
    page.wait_for_selector(f'{TURNS}[data-seq="{seq}"] .alt[data-alt="2/2"]')
    second = page.locator(f'{TURNS}[data-seq="{seq}"] .text').inner_text()
    page.locator("#scene-header").click()  # the focus off any text box, as a reader's would be
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector(f'{TURNS}[data-seq="{seq}"] .alt[data-alt="1/2"]')
    assert page.locator(f'{TURNS}[data-seq="{seq}"] .text').inner_text() == first
    page.keyboard.press("ArrowRight")
    page.wait_for_selector(f'{TURNS}[data-seq="{seq}"] .alt[data-alt="2/2"]')
    step(page)
    assert second in app.prompt() and (first == second or first not in app.prompt())
    # edit: the corrected line is shown, marked, and heard by the next turn
    target = int(page.locator(TURNS).last.get_attribute("data-seq"))
    pick_line(page, target)
    type_into(page, "line-text", "The lanterns hum a little song tonight.")
    page.click("#line-edit")
    page.wait_for_selector(f'{TURNS}[data-seq="{target}"] .edited')
    assert (
        "The lanterns hum a little song tonight."
        in page.locator(f'{TURNS}[data-seq="{target}"]').inner_text()
    )
    step(page)
    assert "The lanterns hum a little song tonight." in app.prompt()
    shot(page, "06-lines-edit-and-swipe")
    # delete: gone from the page and from what the next turn hears
    gone = int(page.locator(TURNS).nth(1).get_attribute("data-seq"))
    gone_text = page.locator(f'{TURNS}[data-seq="{gone}"] .text').inner_text()
    pick_line(page, gone)
    page.click("#line-delete")
    page.wait_for_selector(f'{TURNS}[data-seq="{gone}"]', state="detached")
    step(page)
    assert gone_text not in app.prompt()
    # rewind: back to the first turn; the rest is a branch, listed, that one can return to
    turns_before = count(page, TURNS)
    back = int(page.locator(TURNS).first.get_attribute("data-seq"))
    pick_line(page, back)
    page.click("#line-rewind")
    wait_count(page, TURNS, 1)
    page.wait_for_selector('#branches [data-branches="1"]')
    shot(page, "07-lines-rewound-with-a-branch")
    step(page)
    assert "The lanterns hum a little song tonight." not in app.prompt()
    page.get_by_role("tab", name="Lines").click()
    page.locator("#branch-pick input").click()
    page.get_by_role("option").first.click()
    page.click("#branch-return")
    wait_count(page, TURNS, turns_before)
    # fork: a new scene in the library that starts as this line did at the chosen turn
    page.locator("#scene-header").click()
    pick_line(page, back)
    page.click("#line-fork")
    wait_count(page, TURNS, 1)
    page.get_by_role("tab", name="Scenes").click()
    page.wait_for_selector('#library [data-scenes="2"]')
    assert "(fork at" in page.locator("#library").inner_text()
    assert isinstance(app.scene().line[-1], Turn)  # the fork's line ends at the turn it was made from
