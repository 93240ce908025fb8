"""The scene library: every scene someone played, kept on disk under ``home/scenes/<shelf>/``.

A shelf belongs to one owner: a browser (a random id kept in its local storage) or, under ``--auth``, a login
name. The shelf's folder name is a hash of the owner, so neither an id nor a name is ever a path, and no one
can name another's shelf without knowing their id. A scene is its transcript file; its title, beat, turns
and gist are read from the file (``stage.timeline``), and its name in the library is a ``rename`` event in
the log. Deleting moves the file to the shelf's ``trash/`` folder, from which it can be restored; nothing is
removed for good by the stage.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import shutil
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from stage.agents.inputs import clean_user_text
from stage.errors import ConfigError, DataError
from stage.timeline import Tree
from stage.transcript import BeatChange, Rename, Transcript, Turn, UserLine, read_events

TRASH = "trash"
TITLE_CHARS = 80


def clean_title(text: str) -> str:
    """A scene's title as a person typed it, made safe to show and store: one line, at most 80 characters."""
    return clean_user_text(text, max_chars=TITLE_CHARS).text or "A scene"
_ID = re.compile(r"[0-9]{8}-[0-9]{6}-[0-9a-f]{8}")
GIST_CHARS = 90


@dataclass(frozen=True)
class Entry:
    """One scene on a shelf, as the library lists it."""

    id: str
    path: Path
    title: str
    beat: str  # "3. Sync Hour"
    turns: int  # lines said on its line (characters' and people's)
    played: float  # when it was last written (the file's mtime)
    gist: str  # its last line, who said it and what, cut short
    ended: bool

    @property
    def when(self) -> str:
        return time.strftime("%Y-%m-%d %H:%M", time.localtime(self.played))

    @property
    def label(self) -> str:
        """One line for a list: title · beat · turns · last played."""
        return f"{self.title} · {self.beat or 'not started'} · {self.turns} turn(s) · {self.when}"


def shelf_name(owner: str) -> str:
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:24]


def new_owner() -> str:
    """A browser's id: random and long enough that shelves cannot be guessed."""
    return secrets.token_urlsafe(24)


class Library:
    def __init__(self, root: Path, names: dict[str, str] | None = None) -> None:
        self.root = root
        self.names = names or {}  # character ids -> names, for the gists
        self._cache: dict[Path, tuple[tuple[int, int], Entry]] = {}
        self._lock = threading.Lock()

    def shelf(self, owner: str) -> Path:
        if not owner:
            raise ConfigError("a scene library needs an owner")
        return self.root / shelf_name(owner)

    def new_path(self, owner: str) -> Path:
        stamp = time.strftime("%Y%m%d-%H%M%S")
        return self.shelf(owner) / f"{stamp}-{secrets.token_hex(4)}.jsonl"

    def path(self, owner: str, scene_id: str, trash: bool = False) -> Path:
        """The file of ``scene_id`` on ``owner``'s shelf; a clear error if it is not there."""
        if not _ID.fullmatch(scene_id or ""):
            raise ConfigError(f"{scene_id!r} is not a scene id of this library")
        folder = self.shelf(owner) / TRASH if trash else self.shelf(owner)
        path = folder / f"{scene_id}.jsonl"
        if not path.is_file():
            where = "in the trash" if trash else "in your library"
            raise ConfigError(f"there is no scene {scene_id} {where}")
        return path

    # -- reading --------------------------------------------------------------------------------------------

    def entries(self, owner: str, trash: bool = False) -> list[Entry]:
        """The shelf's scenes, the most recently played first (unreadable files are left out, and logged)."""
        return self.listing(self.shelf(owner) / TRASH if trash else self.shelf(owner))

    def listing(self, folder: Path) -> list[Entry]:
        """The scenes in one shelf's folder (or its trash), the most recently played first."""
        out = []
        for path in folder.glob("*.jsonl"):
            entry = self.entry(path)
            if entry is not None:
                out.append(entry)
        return sorted(out, key=lambda e: (e.played, e.id), reverse=True)

    def last(self, owner: str) -> Entry | None:
        found = self.entries(owner)
        return found[0] if found else None

    def entry(self, path: Path) -> Entry | None:
        try:
            st = path.stat()
        except OSError:
            return None
        key = (st.st_mtime_ns, st.st_size)
        with self._lock:
            hit = self._cache.get(path)
            if hit is not None and hit[0] == key:
                return hit[1]
        try:
            events = read_events(path).events
            tree = Tree.of(events)
        except DataError:
            return None
        line = tree.line()
        beat = next((e for e in reversed(line) if isinstance(e, BeatChange)), None)
        spoken = [e for e in line if isinstance(e, Turn | UserLine)]
        gist = ""
        if spoken:
            e = spoken[-1]
            who = self.names.get(e.speaker, e.speaker) if isinstance(e, Turn) else (e.name or "Visitor")
            text = e.text if len(e.text) <= GIST_CHARS else e.text[: GIST_CHARS - 1].rstrip() + "…"
            gist = f"{who}: {text}"
        entry = Entry(
            id=path.stem,
            path=path,
            title=tree.title or "A scene",
            beat=f"{beat.position}. {beat.title}" if beat is not None else "",
            turns=len(spoken),
            played=st.st_mtime,
            gist=gist,
            ended=any(e.kind == "end" for e in line),
        )
        with self._lock:
            self._cache[path] = (key, entry)
        return entry

    # -- changing -------------------------------------------------------------------------------------------

    def rename(self, owner: str, scene_id: str, title: str) -> None:
        """Name a scene that no one has open (an open scene is renamed through its ``Scene``)."""
        path = self.path(owner, scene_id)
        t = Transcript.open(path)
        try:
            beat = t.events[-1].beat if t.events else ""
            t.append(Rename(beat=beat, title=clean_title(title)))
        finally:
            t.close()

    def duplicate(self, owner: str, scene_id: str) -> Path:
        """A copy of the scene on the same shelf, named "… (copy)"."""
        source = self.path(owner, scene_id)
        entry = self.entry(source)
        target = self.new_path(owner)
        shutil.copyfile(source, target)
        title = (entry.title if entry is not None else "A scene") + " (copy)"
        self.rename(owner, target.stem, title)
        return target

    def trash(self, owner: str, scene_id: str) -> Path:
        """Move the scene to the shelf's trash (``restore`` brings it back)."""
        source = self.path(owner, scene_id)
        folder = source.parent / TRASH
        folder.mkdir(parents=True, exist_ok=True)
        return source.rename(folder / source.name)

    def restore(self, owner: str, scene_id: str) -> Path:
        return self.restore_file(self.path(owner, scene_id, trash=True))

    def restore_file(self, path: Path) -> Path:
        """Move a deleted scene (a file in some shelf's trash of this library) back to its shelf."""
        source = path.resolve()
        shelf = source.parent.parent
        if source.parent.name != TRASH or not source.is_file() or shelf.parent != self.root.resolve():
            raise ConfigError(f"{path}: not a deleted scene of {self.root} (see `stage scenes --trash`)")
        return source.rename(shelf / source.name)

    def owners(self) -> list[Path]:
        """Every shelf on this machine (for ``stage scenes`` from the terminal, whose user owns the files)."""
        if not self.root.is_dir():
            return []
        return sorted(p for p in self.root.iterdir() if p.is_dir())
