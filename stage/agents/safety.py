"""The content policy as the scene and the agents use it: a verdict on a line, and a refusal in character.

What is refused, and how, lives in ``stage.policy`` (word patterns first, then a classifier by meaning); this
module adds who is speaking. A person's line is judged by the policy alone; a character's line is also held to
that character's own ``boundaries`` (a child's "never anything violent, gory or romantic" is stricter than the
policy's bar for everyone). A refusal never names the rule: it is a kind line in the character's voice.
"""

from __future__ import annotations

import zlib
from functools import lru_cache

from stage.policy.harms import Harm, boundary_harms, harm_of
from stage.policy.verdict import By, Verdict, default_policy
from stage.prompts import render
from stage.types import Persona

__all__ = ["By", "Verdict", "check", "refusal", "ruled_out"]


@lru_cache(maxsize=64)
def _ruled_out(boundaries: tuple[str, ...]) -> frozenset[Harm]:
    return boundary_harms(boundaries)


def ruled_out(persona: Persona) -> frozenset[Harm]:
    """The harms a persona's boundaries name."""
    return _ruled_out(tuple(persona.boundaries))


def check(text: str, speaker: Persona | None = None, *, answering: str = "") -> Verdict:
    """The policy's verdict on ``text``; said by ``speaker``, their boundaries apply too, and ``answering`` (the
    line it replies to) makes the judgement harder when that line reads as harmful."""
    bounds = ruled_out(speaker) if speaker is not None else frozenset()
    return default_policy().check(text, boundaries=bounds, answering=answering)


def refusal(name: str, age: int | None, category: str, *, text: str = "") -> str:
    """What a character says instead of engaging: in character, kind, and steering back to the story. ``text``
    (what was refused) only picks among the template's wordings, so the same message gets the same answer."""
    harm = harm_of(category)
    variant = zlib.crc32(text.encode()) % 3
    return render("refusal.j2", who=name, age=age, harm=harm.value if harm else "", variant=variant)
