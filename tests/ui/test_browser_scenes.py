"""The scene library and the line controls in a real headless Chromium (scripted backend: the words don't
matter here, what the page shows and what the next turn hears do): a reload keeps the scene, another browser
profile does not see it, swipe / ← → / edit / delete / rewind / fork change the page and the next prompt, the
chat's own buttons (edit in place, thumbs, retry, undo) do what they say, and the library survives an app
restart."""

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
from tests.ui.chatpage import button, rows, turns, until, wait_turns
from tests.ui.conftest import Served, free_port, stop
from tests.ui.test_browser import open_stage, shot, type_into

pytestmark = pytest.mark.browser



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
        live = [s.scene for s in self.served.sessions if s.scene is not None]
        assert live, "no session has a scene"
        # the one changed last: the test's own (sessions of earlier tests live on, in no order)
        return max(live, key=lambda scene: scene.transcript.path.stat().st_mtime_ns)


@pytest.fixture(scope="module")
def app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restartable]:
    served = Restartable(tmp_path_factory.mktemp("ui-scenes"))
    yield served
    served.stop()


def profile(browser: Any) -> Any:
    """A browser profile of its own (its own local storage, so its own library)."""
    ctx = browser.new_context(viewport={"width": 1400, "height": 900})
    ctx.set_default_timeout(60_000)
    return ctx


def step(page: Any, n: int = 1) -> None:
    page.get_by_role("tab", name="Watch").click()
    for _ in range(n):
        before = len(turns(page))
        page.click("#step")
        wait_turns(page, before + 1)
        page.wait_for_selector('#status:not(:has([data-kind="busy"]))')


def pick_line(page: Any, seq: int) -> None:
    page.get_by_role("tab", name="Lines").click()
    page.locator("#line-pick input").click()
    page.get_by_role("option", name=f"#{seq} ").first.click()


def seqs(app: Restartable) -> list[int]:
    """The seqs of the character turns on the scene's line (the server's view of what the page shows)."""
    return [e.seq for e in app.scene().line if isinstance(e, Turn)]


def said(page: Any) -> list[str]:
    return [t.line for t in turns(page)]


def test_a_reload_keeps_the_scene_and_another_profile_does_not_see_it(browser: Any, app: Restartable) -> None:
    ctx = profile(browser)
    page = ctx.new_page()
    open_stage(page, app.served)  # type: ignore[arg-type]
    step(page, 2)
    texts = said(page)
    page.reload()
    open_stage(page, app.served)  # type: ignore[arg-type]
    wait_turns(page, 2)
    assert said(page) == texts
    page.get_by_role("tab", name="Scenes").click()
    page.wait_for_selector('#library [data-scenes="1"]')
    shot(page, "05-scene-library")
    other = profile(browser)
    stranger = other.new_page()
    open_stage(stranger, app.served)  # type: ignore[arg-type]
    stranger.get_by_role("tab", name="Scenes").click()
    stranger.wait_for_selector('#library [data-scenes="0"]')
    assert turns(stranger) == []
    other.close()
    # the library survives an app restart: the same browser, the same port, a new server process state
    app.restart()
    page.reload()
    open_stage(page, app.served)  # type: ignore[arg-type]
    wait_turns(page, 2)
    assert said(page) == texts
    step(page)
    assert texts[-1] in app.prompt()
    ctx.close()


def test_swipe_browse_edit_delete_rewind_and_fork(page: Any, app: Restartable) -> None:
    open_stage(page, app.served)  # type: ignore[arg-type]
    step(page, 3)
    first = turns(page)[-1].line
    # swipe: another reply beside the first, shown as 2/2; ← and → browse them
    page.click("#swipe")
    until(page, lambda: "2/2" in turns(page)[-1].header, "alternative 2/2")
    second = turns(page)[-1].line
    page.locator("#scene-header").click()  # the focus off any text box, as a reader's would be
    page.keyboard.press("ArrowLeft")
    until(page, lambda: "1/2" in turns(page)[-1].header, "alternative 1/2")
    assert turns(page)[-1].line == first
    page.keyboard.press("ArrowRight")
    until(page, lambda: "2/2" in turns(page)[-1].header, "alternative 2/2 again")
    step(page)
    assert second in app.prompt() and (first == second or first not in app.prompt())
    # edit: the corrected line is shown, marked, and heard by the next turn
    pick_line(page, seqs(app)[-1])
    type_into(page, "line-text", "The lanterns hum a little song tonight.")
    page.click("#line-edit")
    until(page, lambda: "edited" in turns(page)[-1].header, "the edited mark")
    assert turns(page)[-1].line == "The lanterns hum a little song tonight."
    step(page)
    assert "The lanterns hum a little song tonight." in app.prompt()
    shot(page, "06-lines-edit-and-swipe")
    # delete: gone from the page and from what the next turn hears
    shown = len(turns(page))
    gone, gone_text = seqs(app)[1], turns(page)[1].line
    pick_line(page, gone)
    page.click("#line-delete")
    wait_turns(page, shown - 1)
    assert gone_text not in said(page)
    step(page)
    assert gone_text not in app.prompt()
    # rewind: back to the first turn; the rest is a branch, listed, that one can return to
    turns_before = len(turns(page))
    back = seqs(app)[0]
    pick_line(page, back)
    page.click("#line-rewind")
    wait_turns(page, 1)
    page.wait_for_selector('#branches [data-branches="1"]')
    shot(page, "07-lines-rewound-with-a-branch")
    step(page)
    assert "The lanterns hum a little song tonight." not in app.prompt()
    page.get_by_role("tab", name="Lines").click()
    page.locator("#branch-pick input").click()
    page.get_by_role("option").first.click()
    page.click("#branch-return")
    wait_turns(page, turns_before)
    # fork: a new scene in the library that starts as this line did at the chosen turn
    page.locator("#scene-header").click()
    pick_line(page, back)
    page.click("#line-fork")
    wait_turns(page, 1)
    page.get_by_role("tab", name="Scenes").click()
    page.wait_for_selector('#library [data-scenes="2"]')
    assert "(fork at" in page.locator("#library").inner_text()
    assert isinstance(app.scene().line[-1], Turn)  # the fork's line ends at the turn it was made from


def test_the_chats_own_buttons_edit_like_retry_and_undo(browser: Any, app: Restartable) -> None:
    ctx = profile(browser)
    page = ctx.new_page()
    open_stage(page, app.served)  # type: ignore[arg-type]
    step(page, 2)
    # ✎ in place: the editor holds the message with its name header; what is saved is the line
    last = turns(page)[-1]
    button(page, last, "Edit").click()
    box = page.locator("#transcript textarea").first
    assert box.input_value().startswith(f"**{last.name}**") or f"**{last.name}**" in box.input_value()
    box.fill(box.input_value().replace(last.line, "My band glows green tonight."))
    page.get_by_role("button", name="Submit").click()
    until(page, lambda: "edited" in turns(page)[-1].header, "the line marked edited")
    assert turns(page)[-1].line == "My band glows green tonight."
    step(page)
    assert "My band glows green tonight." in app.prompt()
    # 👍: kept in the log, and shown again after a reload
    liked = turns(page)[0]
    button(page, liked, "Like").click()
    until(page, lambda: "liked line" in page.locator("#status").inner_text(), "the thumbs noted")
    assert app.served is not None
    kept = [v for s in app.served.sessions if s.scene is not None for v in s.scene.tree.ratings.values()]
    assert kept == ["like"]
    page.reload()
    open_stage(page, app.served)  # type: ignore[arg-type]
    wait_turns(page, 3)
    assert button(page, turns(page)[0], "Liked").count() + button(page, turns(page)[0], "Like").count() == 1
    # ↻ on the last message: another reply for the last turn, 2/2
    button(page, turns(page)[-1], "Retry").click()
    until(page, lambda: "2/2" in turns(page)[-1].header, "another reply")
    # a visitor's line, then ↶: back to before it, the words back in the message box
    page.get_by_role("tab", name="Join").click()
    type_into(page, "message", "Lyra, is the orchard awake?")
    page.click("#send")
    wait_turns(page, 4)
    page.wait_for_selector('#status:not(:has([data-kind="busy"]))')
    button(page, rows(page)[-1], "Undo").click()
    wait_turns(page, 3)
    assert not any(r.user for r in rows(page))
    assert page.input_value("#message textarea") == "Lyra, is the orchard awake?"
    shot(page, "08-chat-buttons")
    ctx.close()
