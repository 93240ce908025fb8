"""The policy's classifier: a softmax layer over ``features``, fitted by ``stage.policy.fit``.

Its weights are ``head.npz`` beside this file (about 0.3 MB, float16), with what made them: the hash of the
labelled set's dev half, the settings, and the command that rebuilds them. A line is refused when the head's
probability that it is harmful, 1 - p(benign), reaches ``threshold``; a character's own boundaries lower that bar
to ``strict`` for the harms they name, on the character's own lines only; a reply to a line that reaches
``context`` is held to ``strict`` for every harm, and refused if it echoes that line.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stage.errors import DataError
from stage.policy.features import Vectors
from stage.policy.harms import BENIGN, Harm

HEAD_FILE = Path(__file__).with_name("head.npz")
REBUILD = "stage policy fit"


@dataclass(frozen=True)
class Head:
    classes: tuple[str, ...]
    weights: Vectors  # classes x features
    bias: Vectors  # classes
    threshold: float  # harmful probability at which any line is refused
    strict: float  # the same for a harm a character's boundaries rule out, on that character's lines
    context: float  # harmful probability (grooming aside) of a heard line at which its reply is judged harder
    meta: dict[str, Any] = field(default_factory=dict)

    def probabilities(self, x: Vectors) -> Vectors:
        logits = x @ self.weights.T.astype(np.float32) + self.bias.astype(np.float32)
        logits -= logits.max(axis=1, keepdims=True)
        e = np.exp(logits)
        out: Vectors = (e / e.sum(axis=1, keepdims=True)).astype(np.float32)
        return out

    def harms(self, row: Vectors) -> dict[Harm, float]:
        """One line's probability of each harm."""
        return {Harm(c): float(p) for c, p in zip(self.classes, row, strict=True) if c != BENIGN}

    def save(self, path: Path = HEAD_FILE) -> None:
        np.savez_compressed(
            path,
            classes=np.array(self.classes),
            weights=self.weights.astype(np.float16),
            bias=self.bias.astype(np.float32),
            thresholds=np.array([self.threshold, self.strict, self.context], dtype=np.float32),
            meta=np.array(json.dumps(self.meta, sort_keys=True)),
        )


_LOADED: dict[Path, Head] = {}
_LOCK = threading.Lock()


def load(path: Path = HEAD_FILE) -> Head:
    """The fitted head (read once per process). A missing or damaged file says how to rebuild it."""
    with _LOCK:
        if path not in _LOADED:
            try:
                with np.load(path, allow_pickle=False) as f:
                    threshold, strict, context = (float(v) for v in f["thresholds"])
                    head = Head(
                        classes=tuple(str(c) for c in f["classes"]),
                        weights=np.asarray(f["weights"], dtype=np.float32),
                        bias=np.asarray(f["bias"], dtype=np.float32),
                        threshold=threshold,
                        strict=strict,
                        context=context,
                        meta=json.loads(str(f["meta"])),
                    )
            except (OSError, KeyError, ValueError) as exc:
                raise DataError(f"{path}: cannot read the content policy's classifier ({exc}); rebuild it with `{REBUILD}`") from exc
            if head.classes[0] != BENIGN or set(head.classes[1:]) != {h.value for h in Harm}:
                raise DataError(f"{path}: its classes {head.classes} are not benign + {[h.value for h in Harm]}; rebuild it with `{REBUILD}`")
            _LOADED[path] = head
        return _LOADED[path]
