"""One scene per browser session, created lazily; the story, model and lore store are shared by all of them.

A session is keyed by Gradio's ``session_hash`` (one per page load, one per ``gradio_client.Client``), so two
tabs never see each other's conversation. Its transcript is written to ``home/transcripts/ui-<hash>.jsonl``.
"""

from __future__ import annotations

import logging
import re
import secrets
import shutil
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

from stage.agents.retrieval import Retriever
from stage.errors import ConfigError
from stage.llm.base import ChatModel, GenParams
from stage.scene import Scene
from stage.settings import Settings
from stage.transcript import BeatChange, Event, Transcript, Turn
from stage.types import Story
from stage.ui.render import Pending, Renderer, StatusKind

log = logging.getLogger(__name__)

MAX_SESSIONS = 64
_SAFE_KEY = re.compile(r"[^A-Za-z0-9_-]")


@dataclass
class Stage:
    """What every session shares. ``turn_lock`` lets one character speak at a time across all sessions:
    the embedded model has two cores, and two scenes generating at once would only slow both down."""

    settings: Settings
    story: Story
    model: ChatModel
    retriever: Retriever
    params: GenParams
    renderer: Renderer = field(init=False)
    turn_lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.renderer = Renderer(self.story)

    @property
    def transcripts(self) -> Path:
        return self.settings.home / "transcripts"

    @property
    def exports(self) -> Path:
        return self.settings.home / "exports"


class Session:
    """One visitor's scene and what the page shows of it. ``busy`` is held while a turn is generated."""

    def __init__(self, key: str, stage: Stage) -> None:
        self.key = _SAFE_KEY.sub("", key)[:40] or "anon"
        self.stage = stage
        self.scene: Scene | None = None
        self.scenes = 0  # scenes started in this session (names the transcript files)
        self.pending: Pending | None = None
        self.playing = False
        self.played = ""  # the character this person plays, if any
        self.status = ""
        self.status_kind: StatusKind = "info"
        self.busy = threading.Lock()
        self.lock = threading.RLock()  # guards replacing the scene
        self.token = secrets.token_urlsafe(16)  # names the export folder: unguessable, unlike the hash
        self.last_used = time.monotonic()
        self.reveal: int | None = None  # while a loaded transcript is replayed: events shown so far
        self._parts: list[str] = []  # rendered HTML of self.scene's events, in order
        self._render_lock = threading.Lock()

    # -- the scene ------------------------------------------------------------------------------------------

    def _next_path(self) -> Path:
        self.scenes += 1
        suffix = "" if self.scenes == 1 else f"-{self.scenes}"
        return self.stage.transcripts / f"ui-{self.key}{suffix}.jsonl"

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
            self._replace(scene)
            return scene

    def adopt(self, events: list[Event]) -> Scene:
        """Continue a loaded transcript: its events are copied into this session's next file and resumed."""
        st = self.stage
        with self.lock:
            path = self._next_path()
            Transcript(None, events).fork(events[-1].seq, path).close()
            scene = Scene.resume(st.story, st.model, st.retriever, path, st.params)
            self._replace(scene)
            self.played = min(scene.state.humans, default="")  # this person now plays whom it recorded
            return scene

    def _replace(self, scene: Scene) -> None:
        if self.scene is not None:
            self.scene.transcript.close()
        self.scene = scene
        self.pending = None
        self.played = ""
        with self._render_lock:
            self._parts = []

    # -- what the page shows --------------------------------------------------------------------------------

    def note(self, text: str, kind: StatusKind = "info") -> None:
        self.status, self.status_kind = text, kind

    def transcript_html(self) -> str:
        r = self.stage.renderer
        with self._render_lock:
            events = list(self.scene.transcript.events) if self.scene is not None else []
            self._parts.extend(r.event(e) for e in events[len(self._parts) :])
            shown = self._parts if self.reveal is None else self._parts[: self.reveal]
            return r.transcript(shown, self.pending)

    def header_html(self) -> str:
        scene = self.scene
        if scene is None:
            return self.stage.renderer.header(None, [], set(), "idle", 0)
        events = scene.transcript.events
        beat = next((e for e in reversed(events) if isinstance(e, BeatChange)), None)
        turns = sum(1 for e in events if isinstance(e, Turn))
        state = "ended" if scene.state.ended else "playing" if self.playing else "paused" if turns else "idle"
        return self.stage.renderer.header(beat, list(scene.state.present), scene.state.humans, state, turns)

    def close(self) -> None:
        with self.lock:
            self.playing = False
            if self.scene is not None:
                self.scene.transcript.close()
            shutil.rmtree(self.stage.exports / self.token, ignore_errors=True)


class Sessions:
    """Sessions by key, created on first use; the least recently used idle one goes when there are too many."""

    def __init__(self, stage: Stage, limit: int = MAX_SESSIONS) -> None:
        self.stage = stage
        self.limit = limit
        self._by_key: OrderedDict[str, Session] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> Session:
        if not key:
            raise ConfigError("this request has no session; reload the page")
        with self._lock:
            session = self._by_key.get(key)
            if session is None:
                session = self._by_key[key] = Session(key, self.stage)
                self._evict()
            self._by_key.move_to_end(key)
            session.last_used = time.monotonic()
            return session

    def _evict(self) -> None:
        idle = [s for s in self._by_key.values() if not s.playing and not s.busy.locked()]
        while len(self._by_key) > self.limit and idle:
            old = idle.pop(0)
            del self._by_key[next(k for k, v in self._by_key.items() if v is old)]
            old.close()
            log.info("closed the idle session %s (more than %d sessions)", old.key, self.limit)

    def drop(self, key: str | None) -> None:
        with self._lock:
            session = self._by_key.pop(key or "", None)
        if session is not None:
            session.close()

    def close_all(self) -> None:
        with self._lock:
            sessions, self._by_key = list(self._by_key.values()), OrderedDict()
        for s in sessions:
            s.close()

    def __len__(self) -> int:
        return len(self._by_key)
