"""The scene library and the line controls, driven as the page drives them (handlers, scripted model): a
browser's scenes come back after a reload and an app restart, never another browser's; swipe, choose, edit,
delete, rewind and fork change what the page shows and what the next turn hears."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import gradio as gr
import pytest

from stage import runtime
from stage.llm import params_from
from stage.llm.scripted import ScriptedModel
from stage.settings import Settings
from stage.transcript import Turn, UserLine, read_events
from stage.ui.chat_actions import ChatActions
from stage.ui.handlers import Handlers
from stage.ui.scenes import SceneHandlers
from stage.ui.session import Session, Sessions, Stage
from tests.ui.chatlog import Log
from tests.ui.test_handlers import Tab, last

BROWSER_A = "a" * 32
BROWSER_B = "b" * 32


class Request:
    """What Gradio hands a handler as ``gr.Request``: only ``username`` is read (set under --auth)."""

    def __init__(self, username: str | None = None) -> None:
        self.username = username


class Page:
    """One browser tab: its session (gr.State) and its browser's id (gr.BrowserState)."""

    def __init__(self, sh: SceneHandlers, browser: str, user: str | None = None) -> None:
        self.sh = sh
        self.tab = Tab(sh.h)
        self.browser = browser
        self.user = user
        *shown, kept, session = sh.open_page(browser, sh.h.session(None), Request(user))
        self.tab.session = session
        self.shown = shown
        self.kept = kept

    @property
    def session(self) -> Session:
        assert self.tab.session is not None
        return self.tab.session

    def __getattr__(self, name: str) -> Any:
        handler = getattr(self.sh, name)

        def call(*args: Any) -> Any:
            out = handler(*args, self.session)
            if isinstance(out, Iterator):
                out = last(out)
            *shown, session = out
            self.tab.session = session
            self.shown = shown
            return shown

        return call

    @property
    def log(self) -> Log:
        return Log.of(self.shown[1])

    @property
    def status(self) -> str:
        return str(self.shown[2])


def make(home: Path, model: ScriptedModel) -> SceneHandlers:
    settings = Settings(backend="scripted", home=home, seed=7, retries=0, backoff=0.0, candidates=3)
    story = runtime.story(settings)
    stage = Stage(settings, story, model, runtime.keyword_retriever(story), params_from(settings))
    return SceneHandlers(Handlers(stage, Sessions(stage)))


@pytest.fixture
def sh(tmp_path: Path) -> Iterator[SceneHandlers]:
    handlers = make(tmp_path, ScriptedModel(seed=7))
    yield handlers
    handlers.h.sessions.close_all()


def prompt(sh: SceneHandlers) -> str:
    model = sh.h.stage.model
    assert isinstance(model, ScriptedModel)
    return "\n".join(m.content for m in model.calls[-1])


def turns_on_page(page: Page) -> int:
    return len(page.log.turns())


def test_a_reload_reopens_the_last_scene_and_another_browser_sees_none_of_it(sh: SceneHandlers) -> None:
    a = Page(sh, BROWSER_A)
    assert a.kept == BROWSER_A and not a.log.turns()
    last(a.tab.play("bedtime", 0, 3))
    last(a.tab.send("bedtime", "Sam", "", "Lyra, a secret only browser A knows."))
    again = Page(sh, BROWSER_A)  # the reload: a new session, the same browser id
    assert again.session is not a.session and "a secret only browser A knows" in again.log
    assert turns_on_page(again) >= 4 and "Welcome back" in again.status
    assert again.session.scene is a.session.scene  # one writer for the file, shared
    other = Page(sh, BROWSER_B)
    assert "a secret only browser A knows" not in other.log and other.session.scene is None
    assert 'data-scenes="0"' in other.panel()[6]
    with pytest.raises(Exception, match="no scene"):
        sh.library.path(other.session.owner, a.session.scene.transcript.path.stem)  # type: ignore[union-attr]
    assert other.continue_scene(a.session.scene.transcript.path.stem)[2].count("no scene")  # type: ignore[union-attr]
    assert other.session.scene is None


def test_a_first_visit_gets_a_new_browser_id_and_a_login_gets_its_own_shelf(sh: SceneHandlers) -> None:
    fresh = Page(sh, "")
    assert len(fresh.kept) >= 16 and fresh.kept != BROWSER_A
    ann = Page(sh, BROWSER_A, user="ann")
    last(ann.tab.step("bedtime"))
    elsewhere = Page(sh, BROWSER_B, user="ann")  # the same login on another browser: the same shelf
    assert turns_on_page(elsewhere) == 1
    assert Page(sh, BROWSER_A).session.scene is None  # the browser without the login has its own shelf


def test_the_library_survives_an_app_restart(tmp_path: Path) -> None:
    first = make(tmp_path, ScriptedModel(seed=7))
    a = Page(first, BROWSER_A)
    last(a.tab.play("bedtime", 0, 2))
    said = [e.text for e in a.session.scene.line if isinstance(e, Turn)]  # type: ignore[union-attr]
    first.h.sessions.close_all()
    second = make(tmp_path, ScriptedModel(seed=8))  # a new process: nothing shared but the home folder
    b = Page(second, BROWSER_A)
    assert all(t in b.log for t in said)
    last(b.tab.step("bedtime"))
    assert len([e for e in b.session.scene.line if isinstance(e, Turn)]) == 3  # type: ignore[union-attr]
    second.h.sessions.close_all()


def test_rename_duplicate_delete_restore(sh: SceneHandlers) -> None:
    a = Page(sh, BROWSER_A)
    last(a.tab.step("bedtime"))
    sid = a.session.scene.transcript.path.stem  # type: ignore[union-attr]
    a.rename(sid, "Lyra's first night")
    assert "Lyra&#x27;s first night" in a.panel()[6] or "Lyra's first night" in a.panel()[6]
    a.duplicate(sid)
    entries = sh.library.entries(a.session.owner)
    assert len(entries) == 2 and any(e.title == "Lyra's first night (copy)" for e in entries)
    a.trash(sid)
    assert a.session.scene is None and not a.log.turns()
    assert [e.title for e in sh.library.entries(a.session.owner, trash=True)] == ["Lyra's first night"]
    a.restore(sid)
    a.continue_scene(sid)
    assert turns_on_page(a) == 1 and "Continuing" in a.status


def test_swipe_and_browse_change_the_page_and_the_next_prompt(sh: SceneHandlers) -> None:
    a = Page(sh, BROWSER_A)
    last(a.tab.play("bedtime", 0, 2))
    scene = a.session.scene
    assert scene is not None
    seq = [e for e in scene.line if isinstance(e, Turn)][-1].seq
    first = scene.tree.effective(seq).text
    a.swipe_last()
    assert "`2/2`" in a.log and "Alternative 2 of 2" in a.status
    second = scene.tree.effective(seq).text
    a.next()  # → past the last one makes a new one
    assert "`3/3`" in a.log
    a.previous()
    a.previous()
    assert "`1/3`" in a.log and scene.tree.effective(seq).text == first
    a.choose_next(seq)
    assert scene.tree.effective(seq).text == second
    last(a.tab.step("bedtime"))
    assert second in prompt(sh) and (first == second or first not in prompt(sh))


def test_edit_delete_rewind_and_fork_from_the_lines_panel(sh: SceneHandlers) -> None:
    a = Page(sh, BROWSER_A)
    last(a.tab.play("bedtime", 0, 4))
    scene = a.session.scene
    assert scene is not None
    seqs = [e.seq for e in scene.line if isinstance(e, Turn)]
    assert sh.line_text(seqs[-1], a.session) == scene.tree.effective(seqs[-1]).text
    a.edit(seqs[-1], "The lanterns are humming tonight.")
    assert "The lanterns are humming tonight." in a.log and "`edited`" in a.log
    last(a.tab.step("bedtime"))
    assert "The lanterns are humming tonight." in prompt(sh)
    a.delete(seqs[0])
    assert seqs[0] not in a.session.chat().seqs and turns_on_page(a) == len(seqs)  # 4 played, 1 more, 1 gone
    a.rewind(seqs[1])
    assert turns_on_page(a) == 1 and 'data-branches="1"' in a.shown[9]
    tip = a.shown[10]["choices"][0][1]
    a.rewind(tip)  # back to the branch
    assert "The lanterns are humming tonight." in a.log
    before = scene.transcript.path
    a.fork(seqs[2])
    assert a.session.scene is not scene and a.session.scene.transcript.path != before  # type: ignore[union-attr]
    assert "The lanterns are humming tonight." not in a.log  # the fork ends before the edited line
    assert len(sh.library.entries(a.session.owner)) == 2
    a.edit(9999, "nothing")
    assert "not in this scene" in a.status
    raw = read_events(before).events  # type: ignore[arg-type]
    assert [e.kind for e in raw].count("edit") == 1 and [e.kind for e in raw].count("rewind") == 2


def test_the_chats_own_buttons_retry_edit_like_and_undo(sh: SceneHandlers) -> None:
    """gr.Chatbot's ↻, ✎, 👍 and ↶ name a message by its index on the page; each reaches the line it shows."""
    a = Page(sh, BROWSER_A)
    ca = ChatActions(sh)
    last(a.tab.send("bedtime", "Ann", "", "Lyra, what is your band doing?"))
    scene = a.session.scene
    assert scene is not None
    chat = a.session.chat()
    reply = [e for e in scene.line if isinstance(e, Turn)][-1]
    at = chat.seqs.index(reply.seq)

    edited = chat.messages[at]["content"].split("\n\n")[0] + "\n\nIt glows green \\[really\\]."
    *shown, _ = ca.edit(a.session, gr.EditData(None, {"index": at, "value": edited, "previous_value": ""}))
    assert scene.tree.effective(reply.seq).text == "It glows green [really]."  # the header is not the line
    assert "It glows green \\[really\\]." in Log.of(shown[1]) and "`edited`" in Log.of(shown[1])

    *shown, _ = ca.like(a.session, gr.LikeData(None, {"index": at, "value": "", "liked": True}))
    log = Log.of(shown[1])
    assert scene.tree.ratings == {reply.seq: "like"} and log.feedback is not None and "Like" in log.feedback
    *shown, _ = ca.like(a.session, gr.LikeData(None, {"index": at - 1, "value": "", "liked": True}))
    assert "not a line" in str(shown[2]) and scene.tree.ratings == {reply.seq: "like"}  # a thought

    count = scene.tree.count(reply.seq)[1]
    *_, (*shown, _) = ca.retry(a.session, gr.RetryData(None, {"index": 0, "value": ""}))
    assert scene.tree.count(reply.seq)[1] == count + 1  # another reply for the last turn, kept beside

    asked = chat.seqs.index(next(e.seq for e in scene.line if isinstance(e, UserLine)))
    *shown, box, _ = ca.undo(a.session, gr.UndoData(None, {"index": asked, "value": ""}))
    assert box == "Lyra, what is your band doing?"  # back in the message box, as Gradio's undo does
    assert not any(isinstance(e, UserLine) for e in scene.line) and len(scene.tree.branches()) == 1
