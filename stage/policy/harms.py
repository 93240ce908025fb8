"""The typed vocabulary of harm: what the content policy refuses, and how a persona's boundaries name it."""

from __future__ import annotations

import re
from collections.abc import Iterable
from enum import StrEnum


class Harm(StrEnum):
    VIOLENCE = "violence"  # violence and weapons
    SELF_HARM = "self_harm"
    SEXUAL = "sexual"  # sexual content, nudity, romance aimed at a child
    BULLYING = "bullying"  # threats, harassment, cruelty
    DANGEROUS = "dangerous"  # instructions that put a child at risk (safety settings, sneaking out, fire)
    DRUGS = "drugs"  # drugs, alcohol, smoking, misusing medicine
    HATE = "hate"  # hate against groups
    GROOMING = "grooming"  # a child asked for real personal details, photos, meetings or secrets from parents


BENIGN = "benign"  # the head's one class that is not a harm
CLASSES: tuple[str, ...] = (BENIGN, *(h.value for h in Harm))

# What a persona's ``boundaries`` line says when it rules out a harm: a writer's words ("Never describes anything
# violent, gory or romantic"), matched as word stems. A boundary that names none (keeping a secret, never speaking
# as someone else) is the guards' business, not the content policy's.
BOUNDARY_WORDS: dict[Harm, tuple[str, ...]] = {
    Harm.VIOLENCE: ("violen", "gory", "gore", "blood", "injur", "weapon", "harm", "frighten", "graphic", "hurt"),
    Harm.SELF_HARM: ("self-harm", "suicid"),
    Harm.SEXUAL: ("romanc", "romantic", "sexual", "nudity", "flirt"),
    Harm.BULLYING: ("insult", "cruel", "bad language", "threat", "belittl", "swear", "bully", "anger"),
    Harm.DANGEROUS: ("safety setting", "sneaking out", "sneak out", "real-world instruction", "risk"),
    Harm.DRUGS: ("drug", "alcohol", "smok", "vap"),
    Harm.HATE: ("hate", "prejudic", "racis", "slur"),
    Harm.GROOMING: ("personal detail", "address", "meet up", "secret from"),
}


def harm_of(value: str) -> Harm | None:
    """A category name as written in a transcript, or None (older transcripts wrote 'graphic_violence')."""
    if value == "graphic_violence":
        return Harm.VIOLENCE
    try:
        return Harm(value)
    except ValueError:
        return None


def boundary_harms(boundaries: Iterable[str]) -> frozenset[Harm]:
    """The harms a persona's boundaries rule out, by the words they use."""
    found: set[Harm] = set()
    for line in boundaries:
        low = line.lower()
        for harm, stems in BOUNDARY_WORDS.items():
            if any(re.search(rf"\b{re.escape(s)}", low) for s in stems):
                found.add(harm)
    return frozenset(found)
