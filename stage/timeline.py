"""The line of a scene that counts, folded from its append-only log.

Every event that happens (a turn, a person's line, a direction, a beat change ...) is a node whose parent is
the line's last event when it was written. Changes name earlier nodes by ``seq``: a ``Swipe`` or ``Choose``
picks the alternative a turn shows, an ``Edit`` corrects a line, a ``Delete`` hides one, a ``Rewind`` moves
the line's end back to any node (on this branch or an earlier one). The line is the path from the scene's
start to that end, with its alternatives, edits and deletions applied: what the page shows, what characters
remember and what the director's state is folded from. A transcript without changes is its own line.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from stage.errors import DataError
from stage.transcript import (
    ALTERNATIVE_FIELDS,
    CHANGES,
    RATINGS,
    Choose,
    Delete,
    Edit,
    Event,
    Narration,
    Rate,
    Rename,
    Rewind,
    SceneStart,
    Swipe,
    Transcript,
    Turn,
    UserLine,
)

EDITABLE_KINDS = (Turn, UserLine, Narration)  # what an edit or a delete may name: lines someone says


@dataclass(frozen=True)
class Branch:
    """A line that a rewind left: it parts from the current line after ``parts_at`` and ends at ``tip``."""

    tip: int
    parts_at: int
    turns: int  # character turns and people's lines on it after the parting
    last: str  # the text of its last spoken line


@dataclass
class Tree:
    """The log folded as it grows: ``add`` each event in order; ``line()`` is the line that counts.

    A change that names an event the log does not have (or one of the wrong kind) raises ``DataError`` naming
    the change's seq, its field and what was expected."""

    parent: dict[int, int] = field(default_factory=dict)  # seq -> the seq it followed (0 for the first)
    nodes: dict[int, Event] = field(default_factory=dict)
    path: list[int] = field(default_factory=list)  # the current line, as seqs (deleted ones included)
    alternatives: dict[int, list[Swipe]] = field(default_factory=dict)
    shown: dict[int, int] = field(default_factory=dict)  # seq -> which alternative stands (0: the turn)
    edited: dict[int, str] = field(default_factory=dict)
    ratings: dict[int, str] = field(default_factory=dict)  # turn seq -> "like" / "dislike" / ""
    deleted: set[int] = field(default_factory=set)
    title: str = ""
    _on_path: set[int] = field(default_factory=set)
    _line: list[Event] | None = None

    @classmethod
    def of(cls, events: Iterable[Event]) -> Tree:
        tree = cls()
        for e in events:
            tree.add(e)
        return tree

    @property
    def tip(self) -> int:
        return self.path[-1] if self.path else 0

    def add(self, e: Event) -> None:
        """Fold ``e`` in (after ``check``: a change that names a missing or wrong event raises, and leaves
        the tree as it was)."""
        self.check(e)
        if not isinstance(e, CHANGES):
            self.parent[e.seq] = self.tip
            self.nodes[e.seq] = e
            self.path.append(e.seq)
            self._on_path.add(e.seq)
            if isinstance(e, SceneStart) and not self.title:
                self.title = e.title
            if self._line is not None:
                self._line.append(e)
            return
        if isinstance(e, Rate):  # the line reads the same
            self.ratings[e.of] = e.value
            return
        self._line = None
        if isinstance(e, Rename):
            self.title = e.title
        elif isinstance(e, Rewind):
            self.path = self._path_to(e.to)
            self._on_path = set(self.path)
        elif isinstance(e, Swipe):
            self.alternatives.setdefault(e.of, []).append(e)
            self.shown[e.of] = len(self.alternatives[e.of])
            self.edited.pop(e.of, None)  # an edit was of the text it replaces
        elif isinstance(e, Choose):
            if self.shown.get(e.of, 0) != e.index:
                self.edited.pop(e.of, None)
            self.shown[e.of] = e.index
        elif isinstance(e, Edit):
            self.edited[e.of] = e.text
        elif isinstance(e, Delete):
            self.deleted.add(e.of)

    def check(self, e: Event) -> None:
        """Raise ``DataError`` if ``e``, as the next event, names an event it cannot (nothing changes)."""
        if isinstance(e, Rewind):
            self._need(e, "to", e.to, (Event,), on_path=False)
        elif isinstance(e, Swipe | Rate):
            self._need(e, "of", e.of, (Turn,))
        elif isinstance(e, Edit | Delete):
            self._need(e, "of", e.of, EDITABLE_KINDS)
        elif isinstance(e, Choose):
            self._need(e, "of", e.of, (Turn,))
            count = len(self.alternatives.get(e.of, ())) + 1
            if not 0 <= e.index < count:
                raise DataError(
                    f"event {e.seq} (choose): index: expected 0 to {count - 1} (turn {e.of} has {count}"
                    f" alternative(s)), got {e.index}"
                )
        if isinstance(e, Rate) and e.value not in RATINGS:
            raise DataError(f"event {e.seq} (rate): value: expected one of like, dislike or '', got {e.value!r}")

    def _need(
        self, e: Event, name: str, seq: int, kinds: tuple[type[Event], ...], on_path: bool = True
    ) -> None:
        node = self.nodes.get(seq)
        what = " or ".join(k.kind for k in kinds) if kinds != (Event,) else "event"
        a = "an" if what[0] in "aeiou" else "a"
        if node is None:
            raise DataError(
                f"event {e.seq} ({e.kind}): {name}: expected the seq of {a} {what} before it, got {seq}"
            )
        if not isinstance(node, kinds):
            raise DataError(
                f"event {e.seq} ({e.kind}): {name}: expected {a} {what}, got event {seq}, a {node.kind}"
            )
        if on_path and seq not in self._on_path:
            raise DataError(
                f"event {e.seq} ({e.kind}): {name}: event {seq} is on a branch the scene has left; rewind to it first"
            )
        if on_path and seq in self.deleted:
            raise DataError(f"event {e.seq} ({e.kind}): {name}: event {seq} was deleted")

    def _path_to(self, seq: int) -> list[int]:
        out: list[int] = []
        while seq:
            out.append(seq)
            seq = self.parent[seq]
        return out[::-1]

    # -- reading --------------------------------------------------------------------------------------------

    def effective(self, seq: int) -> Event:
        """Event ``seq`` as it now reads: its chosen alternative, its edit."""
        e = self.nodes[seq]
        k = self.shown.get(seq, 0)
        if k and isinstance(e, Turn):
            s = self.alternatives[seq][k - 1]
            e = replace(e, **{f: getattr(s, f) for f in ALTERNATIVE_FIELDS})
        if seq in self.edited and isinstance(e, EDITABLE_KINDS):
            e = replace(e, text=self.edited[seq])
        return e

    def on_line(self, seq: int) -> Event | None:
        """Event ``seq`` as it reads on the line that counts; None if it is deleted or on another branch."""
        if seq not in self._on_path or seq in self.deleted:
            return None
        return self.effective(seq)

    def line(self) -> list[Event]:
        """The events that count, in order (a new list each call; cached between changes)."""
        if self._line is None:
            self._line = [self.effective(s) for s in self.path if s not in self.deleted]
        return list(self._line)

    def count(self, seq: int) -> tuple[int, int]:
        """(which alternative of turn ``seq`` stands, how many there are)."""
        return self.shown.get(seq, 0), len(self.alternatives.get(seq, ())) + 1

    def is_edited(self, seq: int) -> bool:
        return seq in self.edited

    def branches(self) -> list[Branch]:
        """The lines rewinds left, newest first: each ends at a node that no later node follows."""
        followed = set(self.parent.values())
        on = self._on_path
        out: list[Branch] = []
        for tip in sorted(self.nodes, reverse=True):
            if tip in followed or tip in on:
                continue
            path = self._path_to(tip)
            parts_at = max((s for s in path if s in on), default=0)
            after = [self.effective(s) for s in path if s > parts_at and s not in self.deleted]
            spoken = [e for e in after if isinstance(e, Turn | UserLine)]
            if not after:
                continue
            out.append(Branch(tip, parts_at, len(spoken), spoken[-1].text if spoken else ""))
        return out


def line(events: Sequence[Event]) -> list[Event]:
    """The line that counts of a whole log (see the module's docstring)."""
    return Tree.of(events).line()


def changed_before(events: Sequence[Event], upto: int) -> list[Event]:
    """The log up to ``upto``, and the later changes to the events on ``upto``'s line (not rewinds or
    renames): what a fork at ``upto`` starts from, so that it reads as the line did."""
    kept = [e for e in events if e.seq <= upto]
    tree = Tree.of(kept)
    ancestry = set(tree._path_to(upto)) if upto in tree.nodes else set()
    for e in events:
        if e.seq > upto and isinstance(e, Swipe | Choose | Edit | Delete) and e.of in ancestry:
            kept.append(e)
    return kept


def fork(events: Sequence[Event], upto: int, path: Path | None) -> Transcript:
    """A new transcript (open for appends) that starts as the line of ``events`` read at ``upto``: the log up
    to it and the later changes to its line (``changed_before``). Seqs are kept as they were, so a replay of
    the fork draws as the original did."""
    return Transcript.written(path, changed_before(events, upto))
