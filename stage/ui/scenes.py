"""The page's scene library and line controls: keep scenes across reloads, try another reply, fix a line,
go back, branch.

The library panel lists the shelf of this browser (its id lives in the browser's local storage through
``gr.BrowserState``) or, under ``--auth``, of the login name; nobody can list or open another's shelf, since
the shelf is found from that id on the server. Line controls act on the scene's line (``stage.timeline``):
each is a new event in the log, so what they do replays and survives a crash.
"""

from __future__ import annotations

from collections.abc import Generator, Iterator
from typing import Any

import gradio as gr

from stage.errors import ConfigError, StageError
from stage.library import Entry, new_owner
from stage.scene import Scene
from stage.transcript import Narration, Turn, UserLine
from stage.ui.handlers import Handlers, Outputs, done
from stage.ui.render import esc
from stage.ui.session import Session

LINE_CHOICES = 60  # the newest lines offered in the line picker
SNIPPET = 60


def owner_of(browser_id: str | None, request: gr.Request | None) -> tuple[str, str]:
    """(the shelf's owner, the id for the browser to keep): the login name under ``--auth``, else the
    browser's own id (a new one on its first visit)."""
    user = getattr(request, "username", None) if request is not None else None
    kept = browser_id if isinstance(browser_id, str) and len(browser_id) >= 16 else new_owner()
    return (f"user:{user}" if user else f"browser:{kept}"), kept


class SceneHandlers:
    def __init__(self, h: Handlers) -> None:
        self.h = h
        self.library = h.stage.library

    # -- what the panels show -------------------------------------------------------------------------------

    def shelf(self, s: Session) -> tuple[Any, str, Any]:
        """The library panel: the scene picker, the list with gists, the trash picker."""
        entries = self.library.entries(s.owner)
        current = s.scene.transcript.path if s.scene is not None else None
        picked = next((e.id for e in entries if e.path == current), entries[0].id if entries else None)
        trash = self.library.entries(s.owner, trash=True)
        return (
            gr.update(choices=[(e.label, e.id) for e in entries], value=picked),
            _list_html(entries, current),
            gr.update(choices=[(e.label, e.id) for e in trash], value=trash[0].id if trash else None),
        )

    def lines(self, s: Session) -> tuple[Any, str, Any]:
        """The line picker (newest first), the branch view and the branch picker."""
        scene = s.scene
        if scene is None:
            return gr.update(choices=[], value=None), _branches_html(None), gr.update(choices=[], value=None)
        said = [e for e in scene.line if isinstance(e, Turn | UserLine | Narration)][-LINE_CHOICES:]
        choices = [(_line_label(scene, e), e.seq) for e in reversed(said)]
        branches = scene.tree.branches()
        return (
            gr.update(choices=choices, value=choices[0][1] if choices else None),
            _branches_html(scene),
            gr.update(
                choices=[(f"#{b.tip}: {b.turns} line(s) after #{b.parts_at}", b.tip) for b in branches],
                value=branches[0].tip if branches else None,
            ),
        )

    def _all(self, s: Session) -> Outputs:
        return (*self.h.view(s, *self.shelf(s), *self.lines(s)),)

    # -- the library ----------------------------------------------------------------------------------------

    def open_page(self, browser_id: str | None, state: Session | None, request: gr.Request) -> Outputs:
        """After the page loads: this browser's shelf, and its last scene reopened."""
        s = self.h.session(state)
        owner, kept = owner_of(browser_id, request)
        try:
            if s.scene is None or s.owner != owner:
                s.owner = owner
                last = self.library.last(owner)
                if last is not None:
                    s.open(last.id)
                    s.note(f"Welcome back: {last.title}, at {last.beat or 'the start'}.")
        except StageError as exc:
            s.note(str(exc), "error")
        *shown, session = self._all(s)
        return (*shown, kept, session)

    def panel(self, state: Session | None) -> Outputs:
        return self._all(self.h.session(state))

    def _library_act(self, state: Session | None, act: Any) -> Outputs:
        s = self.h.session(state)
        try:
            s.note(act(s))
        except StageError as exc:
            s.note(str(exc), "error")
        except Exception as exc:
            raise self.h.unexpected(exc) from exc
        return self._all(s)

    def continue_scene(self, scene_id: str | None, state: Session | None) -> Outputs:
        def act(s: Session) -> str:
            s.playing = False
            scene = s.open(scene_id or "")
            return f"Continuing at beat {scene.state.beat.position}: {scene.state.beat.title}."

        return self._library_act(state, act)

    def rename(self, scene_id: str | None, title: str, state: Session | None) -> Outputs:
        def act(s: Session) -> str:
            path = self.library.path(s.owner, scene_id or "")
            if s.scene is not None and s.scene.transcript.path == path:
                s.scene.rename(title)
            elif self.h.stage.open_scenes.holding(path):
                raise_busy()
            else:
                self.library.rename(s.owner, scene_id or "", title)
            return "Renamed."

        return self._library_act(state, act)

    def duplicate(self, scene_id: str | None, state: Session | None) -> Outputs:
        return self._library_act(
            state, lambda s: f"Copied to {self.library.duplicate(s.owner, scene_id or '').stem}."
        )

    def trash(self, scene_id: str | None, state: Session | None) -> Outputs:
        def act(s: Session) -> str:
            path = self.library.path(s.owner, scene_id or "")
            if s.scene is not None and s.scene.transcript.path == path:
                s.drop()
            elif self.h.stage.open_scenes.holding(path):
                raise_busy()
            self.library.trash(s.owner, scene_id or "")
            return "Moved to the trash (restore it from there)."

        return self._library_act(state, act)

    def restore(self, scene_id: str | None, state: Session | None) -> Outputs:
        return self._library_act(
            state, lambda s: done(self.library.restore(s.owner, scene_id or ""), "Restored to the library.")
        )

    # -- the line -------------------------------------------------------------------------------------------

    def _line_act(self, state: Session | None, act: Any) -> Outputs:
        s = self.h.session(state)
        try:
            if s.scene is None:
                s.note("There is no scene yet; press Play to start one.", "error")
            elif s.busy.locked():
                s.note("A turn is being written; try again when it is done.", "error")
            else:
                s.note(act(s, s.scene))
        except StageError as exc:
            s.note(str(exc), "error")
        except Exception as exc:
            raise self.h.unexpected(exc) from exc
        return self._all(s)

    def swipe(self, seq: int | None, state: Session | None) -> Iterator[Outputs]:
        """Another reply for line ``seq`` (the last character turn when none is given), streamed."""
        s = self.h.session(state)
        scene = s.scene
        target = seq or _last_turn(scene)
        if scene is None or not target:
            s.note("There is no character turn to try again yet.", "error")
            yield self._all(s)
            return
        s.note("Another reply…", "busy")
        if (yield from self._stream(s, lambda sc: sc.swipe(int(target)))):
            shown, count = scene.tree.count(int(target))
            s.note(f"Alternative {shown + 1} of {count}; ← → browse them.")
        yield self._all(s)

    def _stream(self, s: Session, drive: Any) -> Generator[Outputs, None, bool]:
        extra = (gr.skip(),) * 6  # the panels are redrawn once the reply is complete
        return (yield from self.h._turn(s, extra=extra, drive=drive))

    def browse(self, step: int, state: Session | None) -> Iterator[Outputs]:
        """← / →: the previous or next alternative of the last character turn; → past the last makes a new one."""
        s = self.h.session(state)
        scene = s.scene
        target = _last_turn(scene)
        if scene is None or not target:
            s.note("There is no character turn to browse yet.", "error")
            yield self._all(s)
            return
        shown, count = scene.tree.count(target)
        if step > 0 and shown + 1 >= count:
            yield from self.swipe(target, s)
            return
        yield self._line_act(s, lambda s, sc: _chose(sc, target, max(0, min(count - 1, shown + step))))

    def swipe_last(self, state: Session | None) -> Iterator[Outputs]:
        yield from self.swipe(None, state)

    def previous(self, state: Session | None) -> Iterator[Outputs]:
        yield from self.browse(-1, state)

    def next(self, state: Session | None) -> Iterator[Outputs]:
        yield from self.browse(1, state)

    def choose_previous(self, seq: int | None, state: Session | None) -> Outputs:
        return self.choose(seq, -1, state)

    def choose_next(self, seq: int | None, state: Session | None) -> Outputs:
        return self.choose(seq, 1, state)

    def choose(self, seq: int | None, step: int, state: Session | None) -> Outputs:
        def act(s: Session, scene: Scene) -> str:
            shown, count = scene.tree.count(int(seq or 0))
            return _chose(scene, int(seq or 0), max(0, min(count - 1, shown + step)))

        return self._line_act(state, act)

    def edit(self, seq: int | None, text: str, state: Session | None) -> Outputs:
        return self._line_act(
            state, lambda s, scene: done(scene.edit(int(seq or 0), text or ""), f"Line #{seq} corrected.")
        )

    def delete(self, seq: int | None, state: Session | None) -> Outputs:
        return self._line_act(
            state,
            lambda s, scene: done(
                scene.delete(int(seq or 0)), f"Line #{seq} deleted (it stays in the log)."
            ),
        )

    def rewind(self, seq: int | None, state: Session | None) -> Outputs:
        def act(s: Session, scene: Scene) -> str:
            s.playing = False
            scene.rewind(int(seq or 0))
            return f"Back at #{seq}; what came after is kept as a branch. Press Play or Step to go on."

        return self._line_act(state, act)

    def fork(self, seq: int | None, state: Session | None) -> Outputs:
        def act(s: Session, scene: Scene) -> str:
            s.playing = False
            s.fork(int(seq or 0))
            return f"A new scene in your library, starting as this one did at #{seq}."

        return self._line_act(state, act)

    def line_text(self, seq: int | None, state: Session | None) -> str:
        """The text of line ``seq`` as it now reads, for the editor (a read: no session is made)."""
        scene = state.scene if state is not None else None
        if scene is None or not seq:
            return ""
        return next((getattr(e, "text", "") for e in scene.line if e.seq == int(seq)), "")


def raise_busy() -> None:
    raise ConfigError("that scene is open in another tab; change it there")


def _chose(scene: Scene, seq: int, index: int) -> str:
    scene.choose(seq, index)
    count = scene.tree.count(seq)[1]
    return f"Alternative {index + 1} of {count} stands for #{seq}."


def _last_turn(scene: Scene | None) -> int:
    if scene is None:
        return 0
    return next((e.seq for e in reversed(scene.line) if isinstance(e, Turn)), 0)


def _line_label(scene: Scene, e: Turn | UserLine | Narration) -> str:
    who = (
        scene.names.get(e.speaker, e.speaker)
        if isinstance(e, Turn)
        else (e.name or scene.names.get(e.as_character, "Visitor"))
        if isinstance(e, UserLine)
        else "narration"
    )
    text = e.text if len(e.text) <= SNIPPET else e.text[: SNIPPET - 1] + "…"
    shown, count = scene.tree.count(e.seq)
    alt = f" [{shown + 1}/{count}]" if count > 1 else ""
    return f"#{e.seq} {who}: {text}{alt}"


def _list_html(entries: list[Entry], current: Any) -> str:
    if not entries:
        return (
            '<div class="library-list" data-scenes="0"><em>No scenes yet: press Play to start one.</em></div>'
        )
    rows = []
    for e in entries:
        here = " current" if e.path == current else ""
        rows.append(
            f'<div class="scene{here}" data-scene="{esc(e.id)}"><strong>{esc(e.title)}</strong>'
            f'<div class="meta">{esc(e.beat or "not started")} · {e.turns} turn(s) · {esc(e.when)}'
            f'{" · ended" if e.ended else ""}</div><div class="gist">{esc(e.gist)}</div></div>'
        )
    return f'<div class="library-list" data-scenes="{len(entries)}">{"".join(rows)}</div>'


def _branches_html(scene: Scene | None) -> str:
    if scene is None:
        return '<div class="branches" data-branches="0"></div>'
    branches = scene.tree.branches()
    said = [e for e in scene.line if isinstance(e, Turn | UserLine)]
    rows = [f'<div class="here">● this line: {len(said)} line(s), ends at #{scene.tree.tip}</div>']
    rows += [
        f'<div class="branch" data-tip="{b.tip}">○ a branch from #{b.parts_at}: {b.turns} line(s), ends at #{b.tip}'
        f"{' — “' + str(esc(b.last[:SNIPPET])) + '”' if b.last else ''}</div>"
        for b in branches
    ]
    return f'<div class="branches" data-branches="{len(branches)}">{"".join(rows)}</div>'
