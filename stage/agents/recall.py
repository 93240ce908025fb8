"""Which of a character's own facts bear on the line they are answering, by meaning (MiniLM) and by shape.

A 135M model answers "what's your daughter's name?" when the fact sits right next to the question, and
drifts when it is twenty lines up. So the turn's cue carries the one or two facts nearest the line being
answered, picked from everything the character can recall (``stage.agents.viewpoint.recall_pool``).

MiniLM alone ranks poorly on short questions against long sentences ("What school do you go to?" scores
0.08 against the sentence that names the school), so a fact is ranked on five things, each general:
- meaning: the best cosine of the question to the sentence or to one of its clauses;
- the question's content words that the fact contains (stemmed, kin words by kind so "dad" finds "father",
  each weighted by how rare it is among the facts, as in BM25: "siren" says more than "night");
- the answer's shape: "what year" wants a year, "how old" a number, "where" a place, "who" a name,
  "what's your mum called?" the name given to the mum ("Their mother, Nadia, ..."), and "which floor" a
  named or numbered one ("the 41st floor", "cluster 12-Heron");
- whose it is: "your mum" wants the speaker's own mum, not "Zara: Lyra's mum";
- whom it opens with, against whom the question is about (its subject, after the auxiliary): "where do *you*
  live?" wants a fact about the speaker, not "Their grandmother ... lives in a care home"; without it, one
  long sentence that names everyone wins every question about any of them.
The weights are ``WEIGHTS`` over ``FEATURES``, each chosen by coordinate search on the quiz's dev half (the
whole sentence's cosine and its length were offered too and got weight 0, so they are not computed).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np

from stage.text import CONTENT_STOP, content_words, stem

# below this score a "relevant" fact is noise: better none than a wrong one. On the whole score, not meaning
# alone: MiniLM gives "Where do you live?" 0.22 against "You live on the 41st floor of the Halden Spire ...",
# which the answer's shape and whose it is pick out. Set on the quiz's dev half: no top fact scoring less was right.
MIN_SCORE = 0.45
LEXICAL_WEIGHT = 0.3
SHAPE_WEIGHT = 0.25
OWNER_WEIGHT = 0.3
SUBJECT_WEIGHT = 0.05
FEATURES = ("meaning", "words", "shape", "owner", "subject")
WEIGHTS = np.array([1.0, LEXICAL_WEIGHT, SHAPE_WEIGHT, OWNER_WEIGHT, SUBJECT_WEIGHT])

_CLAUSE = re.compile(r"\s*(?:[,;:()]|\s-\s|—|–|\bwith\b|\bwho\b|\bwhere\b|\band\b)\s*")
_NUMBER_WORDS = (
    r"one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|"
    r"seventeen|eighteen|nineteen|twenty|thirty|forty|fifty|sixty|seventy|eighty|ninety"
)
_MONTHS = r"january|february|march|april|may|june|july|august|september|october|november|december"
_DAYS = r"monday|tuesday|wednesday|thursday|friday|saturday|sunday|weekend|weekday"
# what a question asks for -> what an answer of that kind contains (the classic answer-type step of factoid QA)
SHAPES: tuple[tuple[re.Pattern[str], re.Pattern[str]], ...] = (
    (re.compile(r"\b(what|which) year\b|\byear is it\b", re.I), re.compile(r"\b(19|20)\d\d\b")),
    (
        re.compile(r"\bhow old\b|\bage\b|\bhow many\b|\bhow long\b", re.I),
        re.compile(rf"\b\d+\b|\b({_NUMBER_WORDS})(-\w+)?\b|\byears? old\b", re.I),
    ),
    # "what time" asks for the clock, not for any time word ("most nights", "last spring")
    (re.compile(r"\bwhat time\b", re.I), re.compile(r"\b\d{1,2}[:.]\d\d\b|\bo'clock\b|\bhalf past\b|\bmidnight\b", re.I)),
    (
        re.compile(r"\bwhen\b|\bwhich (day|night|month)s?\b", re.I),
        re.compile(
            rf"\b\d{{1,2}}[:.]\d\d\b|\b({_MONTHS}|{_DAYS})s?\b|\b(morning|evening|night|midnight|spring|summer|"
            r"autumn|winter|o'clock|since|ago|last|every|until)\b",
            re.I,
        ),
    ),
    (
        re.compile(r"\bjob\b|\bwork\b|\bfor a living\b|\bwhat do(?:es)? (?:[\w'’]+ ){1,3}do\b", re.I),
        re.compile(
            r"\b(works?|worked|working|job|engineer|architect|paramedic|reporter|journalist|writer|driver|nurse|"
            r"teacher|doctor|baker|bakery|runs|crew|shifts?|column|office)\b|\b(at|for) (the )?[A-Z]",
            re.I,
        ),
    ),
    (
        re.compile(r"\bwhere\b", re.I),
        re.compile(r"\b(in|on|at|above|below|near|from|to|off)\s+(the\s+)?[A-Z0-9]"),
    ),
    (re.compile(r"\bwho\b|\bname\b|\bcalled\b|\bcall you\b", re.I), re.compile(r"(?!)")),  # see _names_in
)
NAMED = SHAPES[-1][1]
# words a question is made of, not what it is about ("what's your mum called?" is about "mum")
_QUESTION_WORDS = "what what's whats which who who's whom whose where where's when when's how how's why do does did"
QUESTION_WORDS = frozenset(f"{_QUESTION_WORDS} you your yours called name tell".split(" "))
_NOT_NAMES = frozenset(
    {
        *("i", "mum", "dad", "mummy", "daddy", "mother", "father", "gran", "granny", "mr", "mrs", "ms", "dr"),
        *_MONTHS.split("|"),
        *_DAYS.split("|"),
    }
)
# "your mum" and "my mother" are the same person; "Lyra's mum" is someone else's
KIN = {
    "mum": "mother",
    "mom": "mother",
    "mummy": "mother",
    "mother": "mother",
    "dad": "father",
    "daddy": "father",
    "father": "father",
    "sister": "sister",
    "brother": "brother",
    "wife": "wife",
    "husband": "husband",
    "daughter": "daughter",
    "son": "son",
    "friend": "friend",
    "grandmother": "grandmother",
    "gran": "grandmother",
    "granny": "grandmother",
    "grandma": "grandmother",
    "grandfather": "grandfather",
    "grandad": "grandfather",
    "grandpa": "grandfather",
    "parents": "parents",
    "boss": "boss",
    "editor": "boss",
}
_KIN = "|".join(sorted(KIN, key=len, reverse=True))
_KIN_ADJ = r"(?:(?:best|big|little|older|younger|own)\s+)*"  # "your big sister", "my own dad"
_OWN_KIN = re.compile(rf"\b(?:your|my)\s+{_KIN_ADJ}({_KIN})\b", re.I)
_KIN_OF_KIN = re.compile(rf"^['’]s\s+{_KIN_ADJ}({_KIN})\b", re.I)


def asked_relatives(query: str) -> set[str]:
    """Whom of the speaker's people a question asks after, as ``KIN`` values: "your mum" and "your mum's name"
    ask after the mother, but "your daughter's best friend" asks after the friend (the last of a possessive
    chain), not the daughter. A relative named after "you" is not whom it asks after: in "what do you want your
    mum to feel?" the question is about the speaker."""
    return {
        _kin_asked(query, m) for m in _OWN_KIN.finditer(query) if not re.search(r"\byou\b", query[: m.start()], re.I)
    }


def _kin_asked(text: str, own: re.Match[str]) -> str:
    """The ``KIN`` value a "your <kin>" match asks after: the last of a possessive chain ("your daughter's best
    friend" -> "friend")."""
    chain = _KIN_OF_KIN.match(text[own.end() :])
    return KIN[(chain or own).group(1).lower()]


_OTHERS_KIN = re.compile(rf"\b[A-Z][\w'-]*'s\s+(?:(?:best|big|little|older|younger)\s+)*({_KIN})\b")


class Embedder(Protocol):
    """Texts -> L2-normalised vectors (``stage.lore.embed.MiniLMEmbedding`` is one)."""

    def __call__(self, input: list[str]) -> Sequence[Any]: ...


def default_embedder() -> Embedder:
    from stage.lore.embed import embedding_function

    return embedding_function()


@dataclass(frozen=True)
class Recalled:
    """A fact and how well it fits the line it was recalled for."""

    fact: str
    score: float  # WEIGHTS . the features (``FEATURES``)
    similarity: float  # meaning alone
    shaped: bool = False  # the question asks for a kind of answer (a year, a name...) and the fact has one


def clauses(fact: str) -> list[str]:
    """The fact and its clauses of three words or more: a short question matches a clause better."""
    parts = [c for c in _CLAUSE.split(fact) if len(c.split()) >= 3]
    return [fact, *(p for p in parts if p != fact)]


def asks_for(query: str) -> re.Pattern[str] | None:
    """What kind of answer a wh-question wants (None for a yes/no question or a remark)."""
    return next((answer for asked, answer in SHAPES if asked.search(query)), None)


def is_wh_question(line: str) -> bool:
    """A question a fact can answer: 'what', 'who', 'where', 'how old'... (not 'are you ready?', and not 'how
    was your day?' or 'how are you?', which ask how someone feels, not what they know)."""
    if "?" not in line:
        return False
    if re.search(r"\b(what|what's|which|who|who's|whom|whose|where|when)\b", line, re.I):
        return True
    return re.search(r"\bhow\b(?!\s+(?:is|was|are|were|'s|’s|do you feel|does it feel)\b)", line, re.I) is not None


def _owner(asked: set[str], fact: str, kin: Mapping[str, str] | None = None) -> float:
    """+1 when the fact is about the speaker's own relative the question asks after (``asked``, as ``KIN``
    values); -1 when it is about someone else's ("Zara: Lyra's mum" for Max's "what's your mum called?")."""
    if not asked:
        return 0.0
    own = {KIN[m.lower()] for m in _OWN_KIN.findall(fact)}
    own |= {k for k, name in (kin or {}).items() if re.search(rf"\b{re.escape(name)}\b", fact)}
    others = {KIN[m.lower()] for m in _OTHERS_KIN.findall(fact)}
    if asked & own:
        return 1.0
    return -1.0 if asked & others else 0.0


def people_named(texts: Sequence[str], names: Sequence[str] = ()) -> frozenset[str]:
    """Who a story names: its characters and anyone introduced as someone's relative or by what they are
    called ("Their mother, Nadia, ...", "a grandmother called Josephine"). "Who"/"name" questions want one of
    these, not any capitalised word ("the Sky Orchard")."""
    found = set(names)
    for t in texts:
        found.update(_INTRODUCED.findall(t))
    return frozenset(found)


_GIVEN_NAME = r"\s*,?\s+[\"“']?([A-Z][a-z]+)"  # "mother, Nadia", "called “Maxou”"
_INTRODUCED = re.compile(rf"\b(?:{_KIN}|called|named|nicknamed){_GIVEN_NAME}")
_KIN_THEN_NAME = re.compile(rf"\b({_KIN}){_GIVEN_NAME}")  # "Their mother, Nadia"
_NAME_THEN_KIN = re.compile(rf"\b([A-Z][a-z]+)(?::|,)\s+(?:\w+\s+){{0,2}}?({_KIN})\b")  # "Zara: your mum"


_OPENING_KIN = re.compile(rf"^(?:[\w'-]+\s+){{0,3}}?{_KIN_ADJ}({_KIN})\b", re.I)
_SELF_OPENING = re.compile(r"^(?:You|I)\b(?!')")
_ASKS_OF_YOU = re.compile(r"\byou\b", re.I)


def _subject_of_fact(fact: str, people: frozenset[str] | None = None) -> tuple[str, str]:
    """Who a fact is about, from how it opens: ("self", "") for "You live ..." / "I ...", ("kin", "mother") for
    "Their mother, Nadia, runs ..." or "Your dad drove ...", ("name", "Camille") for "Camille is a journalist"
    or the sheet's "Max: your best friend", ("", "") when it opens with anything else ("Sync Hour is ...")."""
    f = fact.strip()
    if _SELF_OPENING.match(f):
        return "self", ""
    m = _OPENING_KIN.match(f)
    if m and not re.match(r"^[A-Z][\w'-]*'s\b", f):  # "Lyra's mum" opens with someone else's kin
        return "kin", KIN[m.group(1).lower()]
    m = re.match(r"^([A-Z][a-z'-]+)(?:\s+[A-Z][a-z'-]+)?(?::|,|\s+(?!of\b)[a-z])", f)
    name = m.group(1).removesuffix("'s") if m else ""
    # one of the story's people ("Camille is ..."), not a word that opens a sentence ("Screens are ...")
    if name and (name in people if people is not None else name.lower() not in CONTENT_STOP):
        return "name", name
    return "", ""


_AUX = r"(?:do|does|did|is|are|was|were|will|would|can|could|has|have|had)"
_QUESTION_HEAD = re.compile(
    rf"^\W*(?:(?:what|which|who|whom|whose|where|when|why|how)(?:\s+(?!{_AUX}\b)[a-z'-]+){{0,2}}?)"
    rf"(?:\s+{_AUX}\b|['’]s\b)\s+(.*)$",
    re.I,
)


def question_subject(query: str) -> tuple[str, str]:
    """Whom a wh-question is about, from the subject after its auxiliary: ("self", "") for "where do *you*
    live?", ("kin", "mother") for "what does *your mum* do?", ("name", "Max") for
    "what time does *Max* sync in?", ("", "") when the wh-word is the subject ("who let you ...?") or it
    cannot tell. "What do you want for Lyra?" is about the speaker, not Lyra: she comes after the subject."""
    m = _QUESTION_HEAD.match(query.strip())
    if not m:
        return "", ""
    rest = m.group(1)
    if re.match(r"you\b", rest, re.I):
        return "self", ""
    own = _OWN_KIN.match(rest)
    if own and own.group(0).lower().startswith("your"):
        return "kin", _kin_asked(rest, own)
    if re.match(r"your\b", rest, re.I):  # "your favourite dreamscape": a fact about the dreamscape answers it
        return "", ""
    name = re.match(r"([A-Z][a-z-]+)\b(?!['’])", rest)  # not "Lyra's dad": someone else's relative
    return ("name", name.group(1)) if name else ("", "")


def _subject_match(
    asked: tuple[str, str], fact: str, kin: Mapping[str, str], people: frozenset[str] | None = None
) -> float:
    """+1 when the fact opens with whom the question is about (``question_subject``): the speaker for "where
    do you live?", their own relative (by kin word or by name) for "what's your mum called?", the named person
    for "what time does Max sync in?"; -1 when it opens with someone else; 0 when either says nothing.
    A long sentence that names everyone ("You live above your mother's bakery ... your sister Camille ...")
    otherwise wins every question about any of them."""
    want, who = asked
    kind, whom = _subject_of_fact(fact, people)
    if not want or not kind:
        return 0.0
    if want == "kin":
        return 1.0 if (kind == "kin" and whom == who) or (kind == "name" and whom == kin.get(who)) else -1.0
    if want == "name":
        return 1.0 if kind == "name" and whom == who else -1.0
    return 1.0 if kind == "self" else -1.0


def _names_kin(asked_kin: set[str], fact: str, people: frozenset[str] | None) -> bool:
    """A "what's your mum called?" answer names the relative: the kin word next to a name ("Their mother,
    Nadia, ...", "Nadia, your mother") or the sheet's "Zara: your mum"."""
    for m in _KIN_THEN_NAME.finditer(fact):
        if KIN[m.group(1).lower()] in asked_kin and (people is None or m.group(2) in people):
            return True
    for m in _NAME_THEN_KIN.finditer(fact):
        if KIN[m.group(2).lower()] in asked_kin and (people is None or m.group(1) in people):
            return True
    return False


def _term(word: str) -> str:
    """A word as the lexical feature compares it: stemmed, and a kin word as its kind ("dad" and "father")."""
    w = stem(word)
    return KIN.get(w, w)


_HEAD_SKIP = frozenset(
    {"year", "time", "day", "night", "month", "kind", "sort", "part", "way", "one", "thing", "things"}
    | {"do", "does", "did", "is", "are", "was", "were", "has", "have", "can", "will", "would", "should"}
)
_HEAD_NOUN = re.compile(r"\b(?:what|which)(?:'s| is| was)?\s+(?:the\s+|your\s+)?([a-z][a-z-]+)\b", re.I)


def head_noun(query: str) -> str:
    """What a "which X" question asks for ("Which floor is your flat on?" -> "floor"), "" when it has none:
    a fact answers it when it names an X ("the 41st floor", "cluster 12-Heron", "unit 9-Bravo")."""
    m = _HEAD_NOUN.search(query)
    word = m.group(1).lower() if m else ""
    return "" if word in _HEAD_SKIP or word in QUESTION_WORDS or word in KIN else word


def _names_a(noun: str, fact: str) -> bool:
    """The fact names one of ``noun``: the noun next to a number or a name, either side ("41st floor",
    "cluster 12-Heron", "Station 9", "Brightwater Primary school"); a capital that opens a sentence is no name."""
    n = rf"(?i:{re.escape(noun)}s?)"
    if re.search(rf"\b{n}\s+[A-Z0-9]", fact):
        return True
    for m in re.finditer(rf"(\b\d[\w-]*|\b[A-Z][\w-]*)\s+{n}\b", fact):
        before = fact[: m.start()].rstrip()
        if m.group(1)[0].isdigit() or (before and before[-1] not in ".!?\"“"):
            return True
    return False


@dataclass(frozen=True)
class Features:
    """Every fact's features (rows: facts, columns: ``FEATURES``) for one question, before weighting."""

    facts: tuple[str, ...]
    values: np.ndarray[Any, np.dtype[np.float64]]

    def rank(self, weights: np.ndarray[Any, np.dtype[np.float64]] = WEIGHTS) -> list[Recalled]:
        scores = self.values @ weights
        meaning, shape = FEATURES.index("meaning"), FEATURES.index("shape")
        out = [
            Recalled(f, float(sc), float(v[meaning]), shaped=bool(v[shape]))
            for f, sc, v in zip(self.facts, scores, self.values, strict=True)
        ]
        return sorted(out, key=lambda r: -r.score)


def features(
    query: str,
    facts: Sequence[str],
    embed: Embedder,
    ignore: Sequence[str] = (),
    people: frozenset[str] | None = None,
    kin: Mapping[str, str] | None = None,
) -> Features:
    """Every fact's features against ``query``; ``.rank()`` scores and orders them, best first. ``ignore``
    names words that say nothing about the fact (the character's own name, used to address them); ``people``
    the story's names (``people_named``); ``kin`` who the speaker's relatives are (``kin_of``), so "your
    sister" also finds "Camille ...". No facts when nothing in the question can be matched."""
    facts = [f for f in dict.fromkeys(facts) if f.strip()]
    skip = {w.lower() for w in ignore}
    asked = {_term(w) for w in content_words(query) if w not in skip and w not in QUESTION_WORDS}
    if not asked or not facts:
        return Features((), np.zeros((0, len(FEATURES))))
    for name in ignore:  # "Theo, where do you work?" asks about work, not about Theo
        query = re.sub(rf"\b{re.escape(name)}\b[,!?]?\s*", "", query, flags=re.IGNORECASE)
    # "What does your sister do for work?" is also "What does Camille do for work?" when Camille is the sister
    # (not when the question asks for the name itself: "what's your daughter's name?" must not become "Lyra's")
    shape = asks_for(query)
    meant = (
        query
        if shape is NAMED
        else _OWN_KIN.sub(lambda m: (kin or {}).get(KIN[m.group(1).lower()], m.group(0)), query)
    )
    queries = [query] if meant == query else [query, meant]
    asked_meant = asked | {_term(w) for w in content_words(meant) if w not in skip and w not in QUESTION_WORDS}
    units = [clauses(f) for f in facts]
    flat = [u for us in units for u in us]
    vectors = np.asarray(embed([*queries, *flat]), dtype=np.float32)
    unit_sims = (vectors[len(queries) :] @ vectors[: len(queries)].T).max(axis=1)
    sims, at = [], 0
    for us in units:
        sims.append(float(unit_sims[at : at + len(us)].max()))
        at += len(us)
    query_names = {w for w in re.findall(r"\b[A-Z][a-z'-]+", query)}
    asked_kin = asked_relatives(query)
    about = query_names - set(ignore) - {w.capitalize() for w in QUESTION_WORDS}
    subject = question_subject(query)
    noun = head_noun(query)  # "which unit does your dad work on?" wants a unit more than a job
    terms = [{_term(w) for w in content_words(f)} for f in facts]
    # a word most facts share ("school", "night") says less about which fact answers than a rare one ("siren")
    df = {t: sum(t in ts for ts in terms) for t in asked_meant}
    idf = {t: float(np.log((1 + len(facts)) / (1 + df[t])) + 1.0) for t in asked_meant}

    def covered(want: set[str], words: set[str]) -> float:
        return sum(idf[t] for t in want & words) / sum(idf[t] for t in want)

    rows = []
    for fact, sim, words in zip(facts, sims, terms, strict=True):
        overlap = max(covered(asked, words), covered(asked_meant, words))
        if noun:
            shaped = _names_a(noun, _without(fact, ignore))
        elif shape is NAMED and about:  # "who is Zara to you?" wants what Zara is, not another name
            shaped = any(fact.startswith(n) for n in about)
        elif shape is NAMED and asked_kin:  # "what's your mum called?" wants the name given to the mum
            shaped = _names_kin(asked_kin, fact, people)
        elif shape is NAMED:
            given = _names_in(fact, exclude={*ignore, *query_names})
            shaped = any(n.removesuffix("'s") in people for n in given) if people is not None else bool(given)
        else:
            shaped = bool(shape and shape.search(_without(fact, ignore)))
        rows.append(
            (
                sim,
                overlap,
                float(shaped),
                _owner(asked_kin, fact, None if shape is NAMED else kin),
                _subject_match(subject, fact, kin or {}, people),
            )
        )
    return Features(tuple(facts), np.asarray(rows, dtype=np.float64))


def _names_in(fact: str, exclude: set[str]) -> list[str]:
    """Names a fact gives: capitalised words that do not open a sentence, are not in the question and are
    not kin words ("Mum")."""
    skip = {e.lower() for e in exclude} | _NOT_NAMES
    out = []
    for m in re.finditer(r"\b[A-Z][a-z'-]+", fact):
        start = fact[: m.start()].rstrip()
        word = m.group().removesuffix("'s").lower()
        if start and start[-1] not in '.!?"“' and word not in skip:
            out.append(m.group())
    return out


def _without(fact: str, names: Sequence[str]) -> str:
    """The fact without the speaker's own names: "Lyra" is not an answer to Lyra's "who is your friend?"."""
    for n in names:
        fact = re.sub(rf"\b{re.escape(n)}\b", "", fact)
    return fact


def kin_of(sheet: Sequence[str]) -> dict[str, str]:
    """The speaker's relatives by kind, from their fact sheet's relation lines: "Camille: your big sister Cami."
    -> {"sister": "Camille"}."""
    out: dict[str, str] = {}
    for line in sheet:
        m = re.match(r"^([A-Z][\w'-]*): (.*)$", line)
        if m:
            for k in _OWN_KIN.findall(m.group(2)):
                out.setdefault(KIN[k.lower()], m.group(1))
    return out


def relevant(
    query: str,
    facts: Sequence[str],
    embed: Embedder,
    k: int = 1,
    ignore: Sequence[str] = (),
    people: frozenset[str] | None = None,
    kin: Mapping[str, str] | None = None,
) -> list[str]:
    """Up to ``k`` facts nearest ``query``, best first; none that are only vaguely related."""
    ranked = features(query, facts, embed, ignore, people, kin).rank()
    return [r.fact for r in ranked[:k] if r.score >= MIN_SCORE]


# where a fact may be cut short after the part that answers: before a clause or phrase that adds more ("... with
# a mother who ...", ", and calls ...", ", who ...", "; the ...", ": white walls, ..."), never inside one ("apple
# and lemon trees", "be with you")
_TRAILING = re.compile(
    r",\s+(?=(?:and|but|who|which|where|whose|while|so)\b)|\s+(?=with\s+(?:a|an|the|my|your|his|her|their)\b)"
    r"|[;:]\s+|,\s+(?=[a-z])"
)
TRIM_KEEP = 0.9  # of the whole fact's meaning (cosine to the question) that the part said must keep
TRIM_MIN_WORDS = 5


def trim(fact: str, query: str, embed: Embedder) -> str:
    """The shortest head of ``fact`` that still answers ``query``: "Which floor is your flat on?" wants "You
    live on the 41st floor of the Halden Spire", not the mother and father the sentence goes on to. A head
    answers when it keeps nearly all of the fact's meaning for the question (``TRIM_KEEP``), the kind of answer
    the question asks for (a time, a named one), every name it gives for a "who"/"what is it called?", and at
    least ``TRIM_MIN_WORDS`` words."""
    heads = [fact[: m.start()].rstrip(" ,;:") for m in _TRAILING.finditer(fact)]
    heads = [h for h in heads if h.count('"') % 2 == 0 and h.count("(") == h.count(")")]  # never inside quotes
    heads = [h for h in heads if len(h.split()) >= TRIM_MIN_WORDS]
    if not heads:
        return fact
    shape, noun = asks_for(query), head_noun(query)
    names = set(_names_in(fact, exclude=set(re.findall(r"\b[A-Z][a-z'-]+", query))))
    wants_name = SHAPES[-1][0].search(query) is not None  # "who ...?", "what's it called?", even "at work"

    def answers(head: str) -> bool:
        if noun and _names_a(noun, fact) and not _names_a(noun, head):
            return False
        if wants_name and not all(re.search(rf"\b{re.escape(n)}\b", head) for n in names):
            return False
        return not (shape and shape.search(fact) and not shape.search(head))

    vectors = np.asarray(embed([query, fact, *heads]), dtype=np.float32)
    sims = vectors[1:] @ vectors[0]
    for head, sim in zip(heads, sims[1:], strict=True):
        if sim >= TRIM_KEEP * sims[0] and answers(head):
            return head.rstrip(" .") + "."
    return fact
