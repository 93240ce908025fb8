"""One answer for a line of text: allowed, or refused with the harm it was refused for, and by what.

The word patterns go first (no model, never innocent); then the classifier reads the line's meaning. A line a
character says is held to that character's boundaries as well: a harm the persona rules out ("never describes
anything violent, gory or romantic") is refused at the head's ``strict`` bar instead of its usual one.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from stage.policy.features import Embed, featurise
from stage.policy.harms import Harm
from stage.policy.head import Head, load
from stage.policy.patterns import match, normalise
from stage.text import content_words


class By(StrEnum):
    PATTERN = "pattern"
    MEANING = "meaning"
    BOUNDARY = "boundary"
    CONTEXT = "context"  # a reply to a line that reads as harmful, held harder (see ``Policy.check``)


ECHO = 0.34  # share of a reply's content words taken from a harmful-reading line that makes it an echo of it


@dataclass(frozen=True)
class Verdict:
    harm: Harm | None = None
    by: By | None = None
    score: float = 0.0  # the classifier's probability behind a refusal by meaning (1.0 for a pattern)

    @property
    def allowed(self) -> bool:
        return self.harm is None

    @property
    def category(self) -> str:
        return self.harm.value if self.harm else ""


ALLOWED = Verdict()


class Policy:
    def __init__(self, head: Head, embed: Embed) -> None:
        self.head = head
        self.embed = embed

    def check(self, text: str, *, boundaries: frozenset[Harm] = frozenset(), answering: str = "") -> Verdict:
        """``text`` as a line on its own; with ``answering`` (the line it replies to) also in context.

        A small model's commonest unsafe reply is the harmful message handed back ("I'll help you make a fake
        ID"), and the messages that get past the input screen mostly still read as suspect to the head. So
        after a line whose harmful probability reaches the head's ``context`` bar, the reply is held to the
        ``strict`` bar for every harm, and a reply that is mostly that line's own words is refused as its echo."""
        verdict = self.check_all([text], boundaries=boundaries)[0]
        if not verdict.allowed or not answering.strip() or not text.strip():
            return verdict
        heard = self.head.harms(self.head.probabilities(featurise([answering], self.embed))[0])
        # a question about a character's own life reads like a stranger's question to a child, and the answer
        # repeats it ("my dad's name is Theo"): a grooming-like question does not make the answer an echo
        heard.pop(Harm.GROOMING)
        if sum(heard.values()) < self.head.context:
            return verdict
        stricter = self.check_all([text], boundaries=frozenset(Harm))[0]
        if not stricter.allowed:
            return Verdict(stricter.harm, By.CONTEXT, stricter.score)
        mine, theirs = content_words(text), content_words(answering)
        if len(mine) >= 2 and len(mine & theirs) / len(mine) >= ECHO:
            return Verdict(max(heard, key=heard.__getitem__), By.CONTEXT, round(sum(heard.values()), 3))
        return verdict

    def check_all(self, texts: Sequence[str], *, boundaries: frozenset[Harm] = frozenset()) -> list[Verdict]:
        """A verdict per text; the texts the patterns leave are embedded in one batch."""
        out: list[Verdict | None] = []
        for t in texts:
            harm = match(normalise(t))
            out.append(Verdict(harm, By.PATTERN, 1.0) if harm else None)
        todo = [i for i, v in enumerate(out) if v is None and texts[i].strip()]
        if todo:
            probs = self.head.probabilities(featurise([texts[i] for i in todo], self.embed))
            for i, row in zip(todo, probs, strict=True):
                out[i] = self._judge(self.head.harms(row), boundaries)
        return [v or ALLOWED for v in out]

    def _judge(self, harms: dict[Harm, float], boundaries: frozenset[Harm]) -> Verdict:
        worst = max(harms, key=harms.__getitem__)
        if sum(harms.values()) >= self.head.threshold:
            return Verdict(worst, By.MEANING, round(sum(harms.values()), 3))
        ruled_out = {h: p for h, p in harms.items() if h in boundaries and p >= self.head.strict}
        if ruled_out:
            harm = max(ruled_out, key=ruled_out.__getitem__)
            return Verdict(harm, By.BOUNDARY, round(ruled_out[harm], 3))
        return ALLOWED


_DEFAULT: Policy | None = None
_LOCK = threading.Lock()


def default_policy() -> Policy:
    """The process's policy: the shipped head over the shared MiniLM (both load on first use)."""
    global _DEFAULT
    with _LOCK:
        if _DEFAULT is None:
            from stage.lore.embed import embedding_function

            _DEFAULT = Policy(load(), embedding_function())
        return _DEFAULT
