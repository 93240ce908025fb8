"""The policy's fast first pass: normalised text against word patterns that are never innocent in this story.

Normalising undoes the cheap tricks (case, accents, zero-width characters, leetspeak, spaced-out letters) before
anything looks at the text; the patterns are kept to words with no innocent sense in a children's story, so they
can refuse on their own. Everything subtler is the classifier's job (``stage.policy.head``).
"""

from __future__ import annotations

import re
import unicodedata

from stage.policy.harms import Harm

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s"})

PATTERNS: dict[Harm, tuple[str, ...]] = {
    Harm.SEXUAL: (
        r"sex(y|ual\w*|ting|ted|t)?",
        r"naked",
        r"nudes?",
        r"nudity",
        r"porn\w*",
        r"erotic\w*",
        r"horny",
        r"orgasm\w*",
        r"genital\w*",
        r"undress\w*",
        r"strip(ping)? (for|naked)",
        r"sleep with (me|her|him)",
        r"kiss (me|her|him) on the lips",
        r"boobs?",
        r"penis",
        r"vagina",
        r"molest\w*",
        r"touch (your|her|his|my) (body|private\w*)",
        r"fetish\w*",
        r"seduc\w*",
        r"lingerie",
    ),
    Harm.VIOLENCE: (
        r"gore",
        r"gory",
        r"disembowel\w*",
        r"dismember\w*",
        r"decapitat\w*",
        r"behead\w*",
        r"mutilat\w*",
        r"slit (his|her|their|your) throat",
        r"blood (everywhere|spurting|gushing)",
        r"guts spill\w*",
        r"(stab|shoot|kill|murder) (him|her|them|you|someone|everyone|the kids?) (slowly|brutally|to death)",
        r"how to (kill|murder|hurt) (someone|a person|people|a child|kids)",
        r"massacre\w*",
        r"bloodbath",
    ),
    Harm.SELF_HARM: (
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
# three or more single characters with one separator between each: a word spelled out to dodge a filter
_SPELLED = re.compile(r"(?<![\w*])(?:\w[\s_*.\-]{1,2}){2,}\w(?![\w*])")
_COMPILED = {k: re.compile(r"\b(" + "|".join(v) + r")\b") for k, v in PATTERNS.items()}


def normalise(text: str) -> str:
    """Lower-case, strip accents and invisible characters, undo leetspeak, and join spaced-out letters."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(c for c in text if unicodedata.category(c) not in ("Mn", "Cf", "Cc") or c in "\n\t ")
    text = text.lower()
    # digits inside or at the edge of a word are letters in disguise ("k1ll", "b0mb"); a number stays a number
    text = re.sub(r"[0-9@$]*[a-z][a-z0-9@$]*|[0-9@$]+[a-z][a-z0-9@$]*", lambda m: m.group().translate(_LEET), text)
    text = _SPELLED.sub(lambda m: re.sub(r"[\s_*.\-]", "", m.group()), text)  # "s.e.x", "k i l l" -> one word
    text = re.sub(r"(?<=\w)[_.\-](?=\w)", " ", text)  # "well-known" -> "well known"; "b*mb" keeps its mask
    return re.sub(r"\s+", " ", text).strip()


def match(text: str) -> Harm | None:
    """The harm a never-innocent pattern finds in already-normalised text, if any. A letter masked with "*"
    ("p*rn") is read as each vowel in turn: masks hide vowels."""
    readings = [text] + ([text.replace("*", v) for v in "aeiou"] if "*" in text else [])
    for harm, pattern in _COMPILED.items():
        if any(pattern.search(r) for r in readings):
            return harm
    return None
