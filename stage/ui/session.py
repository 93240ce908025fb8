"""One scene per browser session, created lazily; the story, model and lore store are shared by all of them.

Gradio keeps each ``Session`` in a ``gr.State`` (stage/ui/app.py): one value per page load, one per
``gradio_client.Client``, so two tabs never see each other's conversation. Gradio also decides when a
session ends: it deletes the value ``SESSION_TTL_S`` after the session's last event (an hour after it, once
the tab has closed: Gradio's fixed grace) and calls the State's delete callback, ``Sessions.delete``.
A session's scenes live in the scene library (``stage.library``), on its owner's shelf: the browser's id
(kept in its local storage, so a reload, a closed tab or an app restart finds them again) or the login name.
Two sessions of one owner (two tabs, or a tab and the session a reload left behind) that open the same scene
share one ``Scene``: one writer per transcript file.
"""

from __future__ import annotations

import logging
import secrets
import shutil
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stage import timeline
from stage.agents.retrieval import Retriever
from stage.errors import ConfigError
from stage.library import Library, new_owner
from stage.llm.base import ChatModel, GenParams
from stage.scene import Scene
from stage.settings import Settings
from stage.transcript import BeatChange, Event, Turn
from stage.types import Story
from stage.ui.chat import Chat, ChatView, Pending
from stage.ui.render import Renderer, StatusKind

log = logging.getLogger(__name__)

SESSION_TTL_S = 4 * 3600  # an idle session is closed this long after its last event (gr.State time_to_live)
# Gradio keeps the state of at most this many browser sessions (``launch(state_session_capacity=...)``) and
# drops the least recently used beyond it. Its default, 10,000, is too many here: every session with a scene
# holds its transcript file open, and ten thousand would run out of file descriptors (often 1024) long
# before memory. Gradio drops a session without calling the delete callback; the session's ``_Held`` is then
# released when it is garbage-collected.
MAX_SESSIONS = 256


@dataclass
class Stage:
    """What every session shares. How many scenes generate at once is the model endpoint's business: its
    calls pass the endpoint's gate (``stage.llm.limits``), so no lock here holds every session back."""

    settings: Settings
    story: Story
    model: ChatModel
    retriever: Retriever
    params: GenParams
    renderer: Renderer = field(init=False)
    chat: ChatView = field(init=False)
    library: Library = field(init=False)
    open_scenes: OpenScenes = field(init=False)

    def __post_init__(self) -> None:
        self.renderer = Renderer(self.story)
        self.chat = ChatView(self.renderer)
        self.library = Library(self.settings.story_home / "scenes", {c: p.name for c, p in self.story.personas.items()})
        self.open_scenes = OpenScenes()

    @property
    def transcripts(self) -> Path:
        return self.settings.story_home / "transcripts"

    @property
    def exports(self) -> Path:
        return self.settings.story_home / "exports"


class OpenScenes:
    """The scenes sessions have open, by transcript file: a file has one ``Scene`` (one writer) however many
    sessions show it; it is closed when the last of them lets go."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._open: dict[Path, tuple[Scene, set[str]]] = {}

    def hold(self, path: Path, holder: str, make: Callable[[], Scene]) -> Scene:
        key = path.resolve()
        with self._lock:
            if key in self._open:
                scene, holders = self._open[key]
                holders.add(holder)
                return scene
            scene = make()
            self._open[key] = (scene, {holder})
            return scene

    def add(self, scene: Scene, holder: str) -> Scene:
        """A scene just made by ``holder`` (a new file, that no one else can hold yet)."""
        assert scene.transcript.path is not None
        with self._lock:
            self._open[scene.transcript.path.resolve()] = (scene, {holder})
        return scene

    def release(self, path: Path | None, holder: str) -> None:
        if path is None:
            return
        key = path.resolve()
        with self._lock:
            held = self._open.get(key)
            if held is None:
                return
            held[1].discard(holder)
            if held[1]:
                return
            del self._open[key]
        held[0].transcript.close()

    def holding(self, path: Path) -> int:
        with self._lock:
            held = self._open.get(path.resolve())
            return len(held[1]) if held else 0


class _Held:
    """What a session holds open: its scene (shared with other sessions of its owner) and its export folder."""

    def __init__(self, exports: Path, scenes: OpenScenes, key: str) -> None:
        self.exports = exports
        self.scenes = scenes
        self.key = key
        self.path: Path | None = None

    def release(self) -> None:
        self.scenes.release(self.path, self.key)
        self.path = None
        shutil.rmtree(self.exports, ignore_errors=True)


class Session:
    """One visitor's scene and what the page shows of it. ``busy`` is held while a turn is generated."""

    def __init__(self, stage: Stage, owner: str = "") -> None:
        self.key = secrets.token_hex(8)
        self.stage = stage
        # whose shelf of the library this session's scenes go on: the page sets it to its browser's id (or the
        # login name); a client without a page (gradio_client) gets a shelf of its own
        self.owner = owner or new_owner()
        self.scene: Scene | None = None
        self.scenes = 0  # scenes started in this session (names the transcript files)
        self.pending: Pending | None = None
        self.playing = False
        self.played = ""  # the character this person plays, if any
        self.status = ""
        self.status_kind: StatusKind = "info"
        self.busy = threading.Lock()
        self.lock = threading.RLock()  # guards replacing the scene
        self.token = secrets.token_urlsafe(16)  # names the export folder, which is served: unguessable
        self.reveal: int | None = None  # while a loaded transcript is replayed: events shown so far
        self._dressed: tuple[Story, Renderer, ChatView] | None = None  # the scene's cast, once cards arrived
        self._held = _Held(stage.exports / self.token, stage.open_scenes, self.key)
        # released once: by close(), or when a session Gradio dropped is garbage-collected, or at exit
        self._release = weakref.finalize(self, self._held.release)

    @property
    def exports(self) -> Path:
        """This session's download folder (served to its page only: the name is unguessable)."""
        return self._held.exports

    @property
    def closed(self) -> bool:
        return not self._release.alive

    # -- the scene ------------------------------------------------------------------------------------------

    def _next_path(self) -> Path:
        self.scenes += 1
        return self.stage.library.new_path(self.owner)

    def ensure(self, beat: str) -> Scene:
        """The session's scene, started at ``beat`` if there is none yet."""
        with self.lock:
            if self.scene is None:
                self.start(beat)
            assert self.scene is not None
            return self.scene

    def start(self, beat: str) -> Scene:
        """A new scene at ``beat``, replacing (and closing) the current one."""
        st = self.stage
        seed = st.settings.seed if st.settings.seed is not None else secrets.randbelow(1_000_000)
        with self.lock:
            scene = Scene.new(
                st.story,
                st.model,
                st.retriever,
                self._next_path(),
                st.params,
                from_beat=beat or 1,
                seed=seed,
                backend=st.settings.backend,
            )
            self._replace(st.open_scenes.add(scene, self.key))
            return scene

    def open(self, scene_id: str) -> Scene:
        """Continue a scene of this session's shelf (shared with any other session that has it open)."""
        st = self.stage
        path = st.library.path(self.owner, scene_id)
        with self.lock:
            if self.scene is not None and self.scene.transcript.path == path:
                return self.scene
            scene = st.open_scenes.hold(
                path, self.key, lambda: Scene.resume(st.story, st.model, st.retriever, path, st.params)
            )
            self._replace(scene)
            self.played = min(scene.state.humans, default="")
            return scene

    def fork(self, at: int) -> Scene:
        """A new scene on the shelf that starts as this one's line did at event ``at``; this session moves to it."""
        st = self.stage
        with self.lock:
            if self.scene is None:
                raise ConfigError("there is no scene to fork yet")
            path = self._next_path()
            self.scene.fork(at, path).close()
            title = st.library.entry(self.scene.transcript.path) if self.scene.transcript.path else None
            scene = Scene.resume(st.story, st.model, st.retriever, path, st.params)
            scene.rename(f"{title.title if title else st.story.plot.title} (fork at {at})")
            self._replace(st.open_scenes.add(scene, self.key))
            return scene

    def adopt(self, events: list[Event]) -> Scene:
        """Continue a loaded transcript: its events are copied into this session's next file and resumed."""
        st = self.stage
        with self.lock:
            path = self._next_path()
            timeline.fork(events, events[-1].seq, path).close()
            scene = Scene.resume(st.story, st.model, st.retriever, path, st.params)
            self._replace(st.open_scenes.add(scene, self.key))
            self.played = min(scene.state.humans, default="")  # this person now plays whom it recorded
            return scene

    def drop(self) -> None:
        """Let go of the current scene (it is being moved to the trash): the page shows no scene."""
        with self.lock:
            self.playing = False
            if self.scene is not None:
                self.stage.open_scenes.release(self.scene.transcript.path, self.key)
            self.scene = None
            self._held.path = None
            self.pending = None
            self.played = ""

    def _replace(self, scene: Scene) -> None:
        if self.scene is not None and self.scene is not scene:
            self.stage.open_scenes.release(self.scene.transcript.path, self.key)
        self.scene = scene
        self._held.path = scene.transcript.path
        self.pending = None
        self.played = ""

    # -- what the page shows --------------------------------------------------------------------------------

    def note(self, text: str, kind: StatusKind = "info") -> None:
        self.status, self.status_kind = text, kind

    def dress(self) -> tuple[Renderer, ChatView]:
        """How this scene's people look: the stage's, unless characters arrived from cards in this scene."""
        scene = self.scene
        if scene is None or scene.story is self.stage.story:
            return self.stage.renderer, self.stage.chat
        if self._dressed is None or self._dressed[0] is not scene.story:
            renderer = Renderer(scene.story)
            self._dressed = (scene.story, renderer, ChatView(renderer))
        return self._dressed[1], self._dressed[2]

    def chat(self) -> Chat:
        """The scene's line (``Scene.line``: swipes, edits, deletes and rewinds applied) as the page's chat
        messages, with the turn being written last."""
        scene = self.scene
        if scene is None:
            return self.stage.chat.chat([], None, self.pending)
        _, chat = self.dress()
        events = scene.line
        shown = events if self.reveal is None else events[: self.reveal]
        return chat.chat(shown, scene.tree, self.pending)

    def header_html(self) -> str:
        scene = self.scene
        if scene is None:
            return self.stage.renderer.header(None, [], set(), "idle", 0)
        events = scene.line
        beat = next((e for e in reversed(events) if isinstance(e, BeatChange)), None)
        turns = sum(1 for e in events if isinstance(e, Turn))
        state = "ended" if scene.state.ended else "playing" if self.playing else "paused" if turns else "idle"
        renderer, _ = self.dress()
        return renderer.header(beat, list(scene.state.present), scene.state.humans, state, turns)

    def close(self) -> None:
        """Close the transcript and remove the export folder; the session is not used again (idempotent)."""
        with self.lock:
            self.playing = False
            self._release()


class Sessions:
    """The live sessions, kept only so that shutdown can close them (Gradio has no such hook): each one's
    lifetime is its ``gr.State``'s. Weak, so that a session Gradio dropped (``MAX_SESSIONS``) is not kept
    alive here."""

    def __init__(self, stage: Stage) -> None:
        self.stage = stage
        self._live: weakref.WeakSet[Session] = weakref.WeakSet()
        self._lock = threading.Lock()

    def new(self) -> Session:
        session = Session(self.stage)
        with self._lock:
            self._live.add(session)
        return session

    def delete(self, value: object) -> None:
        """The ``gr.State`` delete callback: Gradio has let this session go. It runs on Gradio's event loop,
        whose state-expiry task would stop for good if this raised."""
        if not isinstance(value, Session):
            return
        with self._lock:
            self._live.discard(value)
        try:
            value.close()
            log.info("closed the session %s (idle, or its tab closed)", value.key)
        except Exception:
            log.exception("could not close the session %s", value.key)

    def close_all(self) -> None:
        with self._lock:
            sessions = list(self._live)
            self._live.clear()
        for s in sessions:
            s.close()

    def __len__(self) -> int:
        with self._lock:
            return len(self._live)

    def __iter__(self) -> Iterator[Session]:
        with self._lock:
            return iter(list(self._live))
