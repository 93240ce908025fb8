"""The content policy of a story whose main characters are children.

Applied to what people send and to what models produce: sexual content, graphic violence and self-harm
methods are refused (in character) and logged, whatever anyone types. Matching is on normalised text so
spacing, case, leetspeak and zero-width tricks do not slip through. It is deliberately conservative.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from stage.prompts import render

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})

CATEGORIES: dict[str, tuple[str, ...]] = {
    "sexual": (
        r"sex\w*",
        r"naked",
        r"nude\w*",
        r"porn\w*",
        r"erotic\w*",
        r"horny",
        r"orgasm\w*",
        r"genital\w*",
        r"undress\w*",
        r"strip(ping)? (for|naked)",
        r"make ?out",
        r"sleep with (me|her|him)",
        r"kiss (me|her|him) on the lips",
        r"boobs?",
        r"breasts?",
        r"penis",
        r"vagina",
        r"molest\w*",
        r"grooming",
        r"touch (your|her|his|my) (body|private\w*)",
        r"private parts",
        r"fetish\w*",
        r"seduc\w*",
        r"lingerie",
        r"sexy",
    ),
    "graphic_violence": (
        r"gore",
        r"gory",
        r"disembowel\w*",
        r"dismember\w*",
        r"decapitat\w*",
        r"behead\w*",
        r"mutilat\w*",
        r"torture\w*",
        r"slit (his|her|their|your) throat",
        r"blood (everywhere|spurting|gushing)",
        r"guts spill\w*",
        r"(stab|shoot|kill|murder) (him|her|them|you|someone|everyone|the kids?) (slowly|brutally|to death)",
        r"how to (kill|murder|hurt) (someone|a person|people|a child|kids)",
        r"massacre\w*",
        r"bloodbath",
    ),
    "self_harm": (
        r"kill (myself|yourself|herself|himself)",
        r"suicid\w*",
        r"self[- ]?harm\w*",
        r"cut (myself|yourself|my wrists?|your wrists?)",
        r"hurt (myself|yourself) on purpose",
        r"end (my|your) life",
        r"overdose\w*",
        r"how to (hang|drown|poison) (myself|yourself)",
        r"want to die",
        r"starve (myself|yourself)",
    ),
}
_COMPILED = {k: re.compile(r"\b(" + "|".join(v) + r")\b") for k, v in CATEGORIES.items()}


def normalise(text: str) -> str:
    """Lower-case, strip accents and invisible characters, undo leetspeak, and join spaced-out letters."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Cf", "Cc") or c in "\n\t ")
    text = text.lower().translate(_LEET)
    text = re.sub(r"(?<=\w)[_*.\-](?=\w)", " ", text)  # "s.e.x" -> "s e x"
    text = re.sub(r"\b(\w) (?=\w\b)", r"\1", text)  # "s e x" -> "sex"
    return re.sub(r"\s+", " ", text)


@dataclass(frozen=True)
class Verdict:
    category: str = ""

    @property
    def allowed(self) -> bool:
        return not self.category


def check(text: str) -> Verdict:
    flat = normalise(text)
    for category, pattern in _COMPILED.items():
        if pattern.search(flat):
            return Verdict(category)
    return Verdict()


def refusal(name: str, age: int, category: str) -> str:
    """What a character says instead of engaging: in character, kind, and steering back to the story."""
    return render("refusal.j2", who=name, age=age, category=category)
