"""Guards on every reply: a character speaks only for itself, in role, briefly, and not in circles.

``clean`` repairs what can be repaired (a name prefix, another speaker's line, length); ``reject`` names
what cannot (empty, off-role, self-address, a near-duplicate), and the agent regenerates.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from stage.prompts import FOLDER as PROMPTS_FOLDER
from stage.text import content_words, stem, words

MAX_WORDS = 60
MAX_SENTENCES = 3
# names that are not characters: a reply must not start a line for them either ("User: ...", "Narrator: ...")
ROLE_WORDS = ("Visitor", "Narrator", "User", "Assistant", "You", "System")

OFF_ROLE = re.compile(
    r"\b(as an ai|an ai (language )?model|language model|ai assistant|i am an assistant|i'm an assistant|"
    r"i'm just an ai|i am an ai|openai|chatgpt|as a character|this role-?play|my (instructions|prompt)|"
    r"system prompt|i cannot (assist|help) with|virtual assistant|creative writing|"
    r"i(?:'m| am) (?:a|an|your) (?:helpful |friendly |virtual |digital )?assistant|"
    r"i(?:'m| am| was) (?:designed|programmed) to)\b",
    re.IGNORECASE,
)
LABEL = re.compile(r"\b\w+['’]s (?:response|reply|answer|turn|line)\s*:", re.IGNORECASE)
SPECIAL_TOKENS = re.compile(r"<\|[^|>]{0,40}\|>|</?s>|\[/?INST\]", re.IGNORECASE)
# where a sentence ends: its stop and any closing quote or bracket, before a space and what starts a sentence (a
# title's "?" inside a line goes on: "wrote 'Who Paid for Your Child's Dream?' last spring")
SENTENCE_END = re.compile(r"[.!?…][\"'”’)\]]*(?=\s+[^a-z\s])")


T = TypeVar("T")


@dataclass
class GuardLog:
    """What the guards did to one reply and what each cost."""

    flags: list[str] = field(default_factory=list)
    ms: dict[str, float] = field(default_factory=dict)

    def timed(self, name: str, fn: Callable[[], T]) -> T:
        start = time.perf_counter()
        try:
            return fn()
        finally:
            self.ms[name] = self.ms.get(name, 0.0) + (time.perf_counter() - start) * 1000


def _name_prefix(name: str) -> re.Pattern[str]:
    n = re.escape(name)
    return re.compile(rf"^\s*[\"'*_]*{n}[\"'*_]*\s*(\([^)]{{0,40}}\))?\s*[:：\-–—]\s*", re.IGNORECASE)


def strip_own_name(text: str, name: str, log: GuardLog) -> str:
    out = _name_prefix(name).sub("", text, count=1)
    if out != text:
        log.flags.append("strip:own-name")
    return out


# A reply that opens with a speaker label it made up ("Lingua: I'm happy to help ...") is a line of a script the
# model is writing for someone, known or not; a time ("20:30") or a word inside speech is not a label.
OPENING_LABEL = re.compile(r"^[\"'*_(\[]*([A-Z][\w'’-]{0,20})[\"'*_]*\s*(\([^)]{0,40}\))?\s*:(?![\d/])")


def cut_other_speakers(text: str, others: Iterable[str], log: GuardLog) -> str:
    """Cut at the first point where the reply starts a line for someone else ("Max: ..."), or for anyone at
    all when it opens with a label (its own name's label is stripped before this)."""
    m = OPENING_LABEL.match(text)
    if m is not None:
        log.flags.append(f"cut:speaker:{m.group(1).lower()}")
        return ""
    names = [re.escape(n) for n in others if n]
    if not names:
        return text
    pattern = re.compile(
        # "Max:" or, with a surname, "Max Benoit:"
        rf"(^|\n|[.!?…\"]\s*)[\"'*_(\[]*({'|'.join(names)})(?:\s+[A-Z][\w'’-]+)?[\"'*_]*\s*(\([^)]{{0,40}}\))?\s*:",
        re.IGNORECASE,
    )
    m = pattern.search(text)
    if m is None:
        return text
    log.flags.append(f"cut:speaker:{m.group(2).lower()}")
    return text[: m.start()] + (m.group(1).strip() if m.group(1).strip() in ".!?" else "")


STAGE_DIRECTION = re.compile(r"\([^()]{0,200}\)|\*[^*]{1,200}\*|\[[^\]]{0,200}\]")


def tidy(text: str, log: GuardLog) -> str:
    """Drop control tokens, stage directions ("(smiles)", "*waves*"), extra paragraphs and wrapping quotes."""
    token = SPECIAL_TOKENS.search(text)
    out = text[: token.start()] if token else text  # a control token means the model started a new message
    out = out.replace("**", "").replace("__", "")
    out = STAGE_DIRECTION.sub(" ", out)
    # a direction the model opened and never closed runs to the end of the reply ("(Narrator: The sky is ...")
    out = re.sub(r"[(\[][^()\[\]]*$", " ", out)
    out = out.replace("\r", "")
    out = out.split("\n\n")[0]  # a spoken turn is one paragraph
    out = re.sub(r"\s+", " ", out).strip()
    out = re.sub(r"\s+(?=[,.;:!?])", "", out)  # where a direction was cut out: "old stories , four lullabies"
    if len(out) >= 2 and out[0] in '"“' and out[-1] in '"”' and out.count('"') <= 2:
        out = out[1:-1].strip()
    if out != text.strip():
        log.flags.append("tidy")
    return out


DANGLING = re.compile(r"(?:^|(?<=[.!?…]))\s*[^.!?…]*:\s*$")  # a last clause that announces more: "It says:"


def drop_dangling(text: str, log: GuardLog) -> str:
    """A reply cut at the end of its line often stops on a label ("The report says:"): drop that last clause
    when a complete sentence stands before it; a reply that is nothing but the label is rejected later."""
    m = DANGLING.search(text)
    if m is None or m.start() == 0:
        return text
    log.flags.append("cut:dangling")
    return text[: m.start()].rstrip()


def drop_unfinished(text: str, log: GuardLog) -> str:
    """A reply the token limit stopped mid-sentence ("... and I have to say"): keep the complete sentences
    before the fragment; a reply that is only a fragment stays (the scorer and the guards judge it)."""
    stripped = text.rstrip()
    if not stripped or stripped[-1] in ".!?…\"')]":
        return text
    ends = list(re.finditer(r"[.!?…][\"')\]]*(?=\s)", stripped))
    if not ends:
        return text
    log.flags.append("cut:unfinished")
    return stripped[: ends[-1].end()]


def sentences_of(text: str) -> list[str]:
    """The sentences of a line, each with its closing quote or bracket."""
    out, start = [], 0
    for m in SENTENCE_END.finditer(text):
        out.append(text[start : m.end()].strip())
        start = m.end()
    out.append(text[start:].strip())
    return [s for s in out if s]


def limit_length(
    text: str, log: GuardLog, max_words: int = MAX_WORDS, max_sentences: int = MAX_SENTENCES
) -> str:
    out = " ".join(sentences_of(text)[:max_sentences])
    words = out.split()
    if len(words) > max_words:
        out = " ".join(words[:max_words])
        last = max(out.rfind("."), out.rfind("!"), out.rfind("?"))
        out = out[: last + 1] if last > len(out) // 2 else out.rstrip(",;:- ") + "…"
    if out != text:
        log.flags.append("cut:length")
    return out


def _shingles(text: str, n: int = 3) -> set[tuple[str, ...]]:
    ws = words(text)
    if len(ws) < n:
        return {tuple(ws)} if ws else set()
    return {tuple(ws[i : i + n]) for i in range(len(ws) - n + 1)}


def similarity(a: str, b: str) -> float:
    """Jaccard overlap of word trigrams, in [0, 1]."""
    sa, sb = _shingles(a), _shingles(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


def scaffold_pattern() -> re.Pattern[str]:
    """The prompt templates' own section labels ("Your goal:", "You, now:", ...), read from the templates so
    the detector follows them, at the start of a turn or a sentence: a small model often reads them out."""
    labels: set[str] = set()
    for path in sorted(PROMPTS_FOLDER.glob("*.j2")):
        text = re.sub(r"\{[#%].*?[#%]\}", "", path.read_text(encoding="utf-8"), flags=re.DOTALL)
        labels |= {m.group(1) for m in re.finditer(r"^([A-Z][A-Za-z ,']{1,30}?)(?: \([^)]*\))?:", text, re.M)}
    alternatives = "|".join(re.escape(x) for x in sorted(labels, key=len, reverse=True))
    return re.compile(rf"(?:^|[.!?;]\s+|\n)\W*({alternatives})(?: \([^)]*\))?\s*:", re.IGNORECASE)


SCAFFOLD = scaffold_pattern()


ECHO_SPAN = 7  # words in a row shared with the instructions that count as reciting them


def echoes(text: str, instructions: str, span: int = ECHO_SPAN) -> bool:
    """Does ``text`` recite ``span`` or more words in a row from the character's private instructions?"""
    ours = _shingles(text, span)
    return bool(ours) and len(text.split()) >= span and not ours.isdisjoint(_shingles(instructions, span))


# words a finished line does not end on: "This is the", "The light of", "and I" (not "you", "it", "her", "this",
# "in" or "so", which end lines often: "I love you", "Come in", "I think so")
_OPEN_ENDED = frozenset(
    {"the", "a", "an", "of", "and", "or", "but", "with", "from", "by", "because", "than", "if"}
    | {"my", "your", "his", "their", "our", "its", "i", "we", "he", "she", "they"}
)
_OPENS_PHRASE = _OPEN_ENDED - {"i", "we", "he", "she", "they"}  # "The light", "My band"; not "I love you"


def is_fragment(text: str) -> bool:
    """The start of a line rather than a line: no closing punctuation, and too short to be a reply or ending
    on a word a sentence cannot end on, or a bare phrase that opens like a sentence and stops. "Nightmare.",
    "Okay!" and "Goodnight, kiddo" are lines; "This is the", "It was my" and "The light" are not."""
    t = text.strip().rstrip("\"'”’)")
    if not t or t[-1] in ".!?…":
        return False
    if t[-1] in ",;—–-":  # "The light of night is not a boat,": stopped in the middle of a sentence
        return True
    ws = re.findall(r"[\w'’-]+", t.lower())
    if not ws:
        return False
    # a bare noun phrase that stops ("The light", "My band"), not a short sentence ("I love you")
    return ws[-1] in _OPEN_ENDED or (len(ws) <= 3 and ws[0] in _OPENS_PHRASE and "," not in t)


# a line that opens by calling someone by a name of two or more capitalised words: "Zara Adair, ...", "Mr Benoit,
# ...", or a thing spoken to as if it were a person ("Sync Hour, you're the best.", "Dream Network, ...")
_VOCATIVE = re.compile(r"^[\"'“*]*(?!(?:The|A|An|This|That|These|Those)\s)((?:[A-Z][\w'’-]*\s+)+[A-Z][\w'’-]*),\s")
# words that may open a greeting or an address to a person: "Good Morning, Max", "Mr Benoit, ..."
_ADDRESS_WORDS = frozenset(
    {
        *("mr", "mrs", "ms", "miss", "mister", "dr", "doctor", "sir", "madam", "dear", "my", "our", "you"),
        *("mum", "mummy", "dad", "daddy", "auntie", "uncle", "gran", "granny", "grandma", "grandpa", "little", "big"),
        *("hey", "oh", "well", "yes", "no", "okay", "ok", "hello", "hi", "good", "thank", "thanks", "sorry"),
        *("please", "night", "morning", "evening", "everyone", "all"),
    }
)


def addresses_a_thing(text: str, people: Iterable[str]) -> bool:
    """The line opens by speaking to something that is nobody: a name of capitalised words none of which is a
    person's name (one of ``people``) or a word one addresses people with ("Good Night, ...")."""
    m = _VOCATIVE.match(text.strip())
    if not m:
        return False
    known = {w.lower() for who in people for w in who.split()} | _ADDRESS_WORDS
    return not any(re.sub(r"['’]s$", "", w).lower() in known for w in m.group(1).split())


def labelled(text: str, people: Iterable[str]) -> set[str]:
    """Who of ``people`` the line writes a speaker label for ("Theo:"), anywhere in it, lower-cased: not only
    where the cut looks (a line's start or a sentence's). "I told you: ..." is speech, not a label."""
    names = [re.escape(n) for n in people if n and n.lower() != "you"]
    if not names:
        return set()
    label = rf"(?<![\w'])({'|'.join(names)})[\"'*_]*\s*(\([^)]{{0,40}}\))?\s*:(?!\d)"
    return {m.group(1).lower() for m in re.finditer(label, text, re.IGNORECASE)}


def writes_for(text: str, name: str, people: Iterable[str]) -> bool:
    """A speaker label for someone else anywhere in the line: "21:48, Theo: Max's family." is a script, whoever
    it is said by."""
    return bool(labelled(text, [n for n in people if n.lower() != name.lower()]))


NUMBER_LIST_SHARE = 0.4  # of a line's words that are numbers or months ("It rose from 0.71 to 0.93" has 2 of 10)
_MONTH = r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"


def is_number_list(text: str) -> bool:
    """Dates strung together ("No.1 2085, October 31, 2074, November 6, 2090"): three years or months or more
    making up a large part of the line, which the small model writes when it loses the thread and nobody says.
    Counts are not dates: "We have 3 kids: 4, 7 and 9 years old." stands."""
    tokens = re.findall(r"[\w'’.:-]+", text)
    dates = [t for t in tokens if re.fullmatch(rf"(?:1\d|2\d)\d\d|{_MONTH}", t)]
    numbers = [t for t in tokens if re.search(r"\d", t) or re.fullmatch(_MONTH, t)]
    return len(dates) >= 3 and len(numbers) >= NUMBER_LIST_SHARE * len(tokens)


def reject_reason(
    text: str,
    name: str,
    recent: Sequence[str],
    threshold: float = 0.5,
    instructions: str = "",
    people: Iterable[str] = (),
) -> str:
    """Why this reply must be regenerated, or "" if it may stand. ``people`` are the names one may speak to
    (those on stage, visitors, the speaker): a line that writes a label for one of them, or opens by addressing
    anything else, is rejected."""
    if len(re.findall(r"\w", text)) < 2:
        return "empty"
    if OFF_ROLE.search(text):
        return "off-role"
    if instructions and echoes(text, instructions):
        return "prompt-echo"  # reciting its instructions, secrets or lore notes verbatim
    if SCAFFOLD.search(text) or LABEL.search(text):
        return (
            "scaffold"  # reading out a label of its prompt ("Your goal: ...") or of a script ("Max's reply:")
        )
    if text.rstrip().endswith(":"):
        return "unfinished"  # only a label that announces what it never says ("The day of the Cascade:")
    if is_fragment(text):
        return "fragment"  # the start of a line a stop sequence or a cut left behind ("This is the")
    n = re.escape(name)
    if re.search(rf"(,\s*{n}\s*[.!?]|^{n}\s*,|\b(i am|i'm) not {n}\b)", text, re.IGNORECASE):
        return "self-address"  # the small model sometimes answers *to* its own character
    introductions = re.sub(
        rf"\b(i'm|i am|my name is|it's|call me|this is)\s+{n}\b", "", text, flags=re.IGNORECASE
    )
    if re.search(rf"\b{n}\b", introductions, re.IGNORECASE):
        return "third-person"  # narrating about itself ("Theo speaks", "Theo's voice") instead of speaking
    if writes_for(text, name, people):
        return "script-label"  # "21:48, Theo: Max's family.": a line for someone else inside this one
    if is_number_list(text):
        return "number-list"  # "No.1 2085, October 31, 2074, November 6, 2090": a table, not something said
    if people and addresses_a_thing(text, [name, *people]):
        return "addresses-a-thing"  # "Sync Hour, you're the best.": the beat's title spoken to as a person
    for earlier in recent:
        if similarity(text, earlier) >= threshold:
            return "near-duplicate"
    if any(parrots(text, earlier) for earlier in recent[-2:]):
        return "parrots"
    return ""


PARROT_SHARE = 0.8  # of a line's content words found in the line just said
PARROT_MIN_WORDS = 4  # a short answer ("Yes, at home.") shares its few words with any question


def parrots(text: str, earlier: str) -> bool:
    """The line just said, said again in other words' order: "I'm sorry you missed me, I just got the news."
    after "I'm sorry I missed you, I just got the news." Word trigrams miss it (the order changed); the
    content words, stemmed, do not. A small model copies the last line it saw, and a scene turns into a chain
    of echoes. An answer to a question may say its words back ("Is your band green?" "Yes, my band is green."),
    so a question is never parroted."""
    if "?" in earlier:
        return False
    mine = {stem(w) for w in content_words(text)}
    if len(mine) < PARROT_MIN_WORDS:
        return False
    theirs = {stem(w) for w in content_words(earlier)}
    return len(mine & theirs) / len(mine) >= PARROT_SHARE


def clean(text: str, name: str, others: Iterable[str], log: GuardLog) -> str:
    """All repairs in order; each one's cost is recorded in ``log.ms``."""
    others = list(others)
    out = log.timed("tidy", lambda: tidy(text, log))
    out = log.timed("own-name", lambda: strip_own_name(out, name, log))
    out = log.timed("other-speaker", lambda: cut_other_speakers(out, others, log))
    out = log.timed("own-name", lambda: strip_own_name(out, name, log))
    out = log.timed("length", lambda: limit_length(out, log))
    out = log.timed("dangling", lambda: drop_dangling(out, log))
    return out.strip()
