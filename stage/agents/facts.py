"""A character's "who you are" fact sheet, generated from its persona file: short, second person, always there.

A 135M model keeps only a few lines in view, and it answers "who is your best friend?" far better from
"Max: your best friend since the first day of school." than from a paragraph about "her". So the sheet is
built from the persona's own fields (nothing written per question): who they are, where they live, what they
do, and one line for every other character, on stage or not. Sentences are turned from third person into
second person by rewriting only the subject and possessives that refer to the character itself.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from stage.text import split_sentences
from stage.types import Persona

IRREGULAR = {
    "is": "are",
    "has": "have",
    "was": "were",
    "does": "do",
    "goes": "go",
    "isn't": "aren't",
    "wasn't": "weren't",
    "hasn't": "haven't",
    "doesn't": "don't",
}
_CLAUSE_END = re.compile(r"[,:;(—–]|\s-\s|(?<=[.!?])\s")


@dataclass(frozen=True)
class Pronouns:
    subject: str  # "she"
    possessive: str  # "her"
    object: str  # "her"


SHE = Pronouns("she", "her", "her")
HE = Pronouns("he", "his", "him")
THEY = Pronouns("they", "their", "them")


def pronouns_of(p: Persona) -> Pronouns:
    """Guessed from how the persona's own prose refers to them (the files have no pronoun field)."""
    text = f" {p.description} {' '.join(p.relationships.values())} ".lower()
    counts = {
        SHE: len(re.findall(r"\b(she|her)\b", text)),
        HE: len(re.findall(r"\b(he|his|him)\b", text)),
    }
    best = max(counts, key=lambda k: counts[k])
    return best if counts[best] else THEY


def base_verb(verb: str) -> str:
    low = verb.lower()
    if low in IRREGULAR:
        return IRREGULAR[low]
    if re.search(r"(ss|sh|ch|x|o)es$", low):
        return verb[:-2]
    if low.endswith("ies") and len(low) > 4:
        return verb[:-3] + "y"
    if low.endswith("s") and not low.endswith("ss"):
        return verb[:-1]
    return verb


def second_person(sentence: str, p: Persona, pro: Pronouns | None = None, *, objects: bool = True) -> str:
    """Rewrite a sentence about ``p`` so it speaks to them: "She lives above her mother's bakery" -> "You live
    above your mother's bakery". Only the leading subject (their name or pronoun) and their possessives change;
    a sentence that starts with anyone else is kept as it is. ``objects=False`` leaves "him"/"her"/"his" alone
    (they mean someone else: see ``relation_facts``)."""
    pro = pro or pronouns_of(p)
    s = sentence.strip()
    names = [re.escape(n) for n in names_of(p)]
    subject = rf"^(?:{'|'.join(names)}|{pro.subject})\s+([\w']+)"
    m = re.match(subject, s, flags=re.IGNORECASE)
    if not m:
        return s
    s = f"You {base_verb(m.group(1))}{s[m.end():]}"
    return yours(agree(s), pro, objects=objects)


# a verb joined to the same subject: "..., writes the column", "and keeps her notes", "and is now crew lead". A
# third-person verb is told from a plural noun ("apples and pears from the orchard") by what follows it: a verb
# takes an object (a determiner, a pronoun, a number, a quotation), a noun a preposition
_OBJECT_NEXT = (
    r"(?=\s+(?:(?:the|a|an|her|his|their|its|my|your|him|them|me|everything|everyone|nothing|up|out|off|one|two|"
    r"three|four|five|that|it|he|she|they|we|how|what|why|whether|if)\b|\d|[A-Z]|['\"“‘]))"
)
# "and hardly sees him", "and privately thinks": after an adverb, a word ending in -s is a verb
# "-ly" words that are adverbs, not "family", "belly" or "Italy"
_LY = r"\w+(?:ely|ully|ntly|ckly|ably|ibly|dly|tly|sly|wly|ghly|rly|vely|ally)"
ADVERB = rf"(?:{_LY}|also|still|never|always|often|even|just|only|then|now|sometimes)"
_JOIN = re.compile(r"(,\s+(?:and\s+|but\s+)?|\s+(?:and|but)\s+)")
_NOT_VERBS = frozenset({"his", "its", "this", "thus", "us", "yes", "always", "sometimes", "perhaps", "less", "unless"})


def agree(sentence: str) -> str:
    """The verbs joined to a leading "You" in the base form: "You are twenty-four, writes the column and keeps
    her notes" -> "..., write the column and keep her notes" (said back: "I write ... and keep ..."). A part
    of the list that opens with a word in -s is a verb when an object or an adverb says so, or when the part
    before it opened with one ("..., practises its rhyme, and waits for the courage")."""
    if not sentence.startswith("You "):
        return sentence
    parts = _JOIN.split(sentence)  # [head, joint, part, joint, part, ...]
    after_verb = False
    for i in range(2, len(parts), 2):
        m = re.match(rf"({ADVERB}\s+)?([a-z][a-z'-]*)", parts[i])
        word = m.group(2) if m else ""
        rest = parts[i][m.end() :] if m else ""
        third = word.endswith("s") and not word.endswith("ss") and len(word) > 3 and word not in _NOT_VERBS
        verb = m is not None and (
            word in IRREGULAR or (third and bool(m.group(1) or after_verb or re.match(_OBJECT_NEXT, rest)))
        )
        if verb and m is not None:
            parts[i] = f"{m.group(1) or ''}{base_verb(word)}{rest}"
        after_verb = verb
    return "".join(parts)


# "Camille Benoit, twenty-four, is ...": an aside between the name and the verb (not a list: "Camille, Max and Lyra")
_APPOSITIVE = re.compile(r",\s*(?![^,]*\b(?:and|or)\b)[a-z][^,]{0,40},\s+(?=[a-z])")


def about_self(sentence: str, p: Persona) -> str:
    """A lore sentence that opens with the character's name, turned to speak to them (others kept as they are:
    a "she" in lore may be anyone). An aside after the name is dropped, or the character would recite their
    own file in the third person ("Camille Benoit, twenty-four, is a reporter" said by Camille)."""
    s = sentence.strip()
    name = "|".join(re.escape(n) for n in names_of(p))
    s = re.sub(rf"^({name}){_APPOSITIVE.pattern}", r"\1 ", s, count=1)
    if re.match(rf"(?:{name})\s+[a-z]", s):
        return second_person(s, p)
    return sentence


_TAKES_OBJECT = (
    "let|lets|make|makes|made|help|helps|helped|tell|tells|told|give|gives|gave|ask|asks|asked|see|sees|saw|"
    "take|takes|took|send|sends|sent|call|calls|called|want|wants|wanted|keep|keeps|kept|leave|leaves|left|"
    "show|shows|showed|pay|pays|paid|join|joins|joined|hug|hugs|hugged|meet|meets|met"
)


# "her" before a determiner is an object ("have told her their children ..."), before a noun a possessive
_BEFORE_NOUN = re.compile(
    r"(?=\s+(?!(?:and|or|but|to|that|if|when|because|so|own|their|the|a|an|his|its|our|them|this|what|how|"
    r"about|off|up|out|in|on|at|with|from|for|anywhere|everywhere|somewhere|too|again|back|home|here|there|alone|"
    rf"now|then|once|instead|tonight|today|{_LY})\b)[A-Za-z])"
)


def yours(s: str, pro: Pronouns, *, objects: bool = True) -> str:
    """The character's possessives, later subject pronouns and reflexives in ``s``, turned to "you" (with
    ``objects=False`` the subject pronouns only)."""
    subject = rf"\b{pro.subject}\s+({ADVERB}\s+)?([\w']+)"  # "he also knows" -> "you also know"

    def you(v: re.Match[str]) -> str:
        return f"you {v.group(1) or ''}{base_verb(v.group(2))}"

    if not objects:
        # a later "she" is most often them still ("wishes Mum would ask what she thinks"), though not always
        return re.sub(subject, you, s)
    before_noun = _BEFORE_NOUN.pattern
    s = re.sub(rf"^{pro.possessive.capitalize()}\b{before_noun}", "Your", s)  # "His dad drove ..."
    s = re.sub(rf"\b{pro.possessive}\b{before_noun}", "your", s) if pro.possessive != pro.object else s
    if pro is SHE:  # "her" is possessive before a noun and an object otherwise
        # after a verb that takes an object, "her" + a plural is a possessive ("keeps her notes"), "her" + a bare
        # word an object ("let her go", "told her a story")
        s = re.sub(rf"\b({_TAKES_OBJECT})\s+her\b(?!\s+[a-z]+[^s\W]s\b)", r"\1 you", s)
        s = re.sub(rf"\bher\b{before_noun}", "your", s)
        s = re.sub(r"\bher\s+own\b", "your own", s)
        s = re.sub(r"\bher\b", "you", s)
    elif pro is HE:
        s = re.sub(r"\bhim\b", "you", s)
    s = re.sub(subject, you, s)
    s = re.sub(r"\b(himself|herself|themselves)\b", "yourself", s)
    return s


def names_of(p: Persona) -> list[str]:
    """What the character is called, longest first: ["Zara Adair", "Zara"] (just ["Max"] with no surname)."""
    full = full_name(p)
    return [full, p.name] if full != p.name else [p.name]


def full_name(p: Persona) -> str:
    """"Lyra Adair" when the description opens with it, else the persona's name."""
    m = re.match(rf"\s*{re.escape(p.name)}((?:\s+[A-Z][\w'-]+)*)", p.description)
    return p.name + m.group(1) if m else p.name


def first_clause(text: str, limit: int = 16) -> str:
    """The head of a description: "His big sister Cami, who does his bedtimes" -> "His big sister Cami"."""
    head = _CLAUSE_END.split(text.strip(), maxsplit=1)[0].rstrip(" .")
    words = head.split()
    return " ".join(words[:limit])


def relation_line(p: Persona, other: str, text: str, pro: Pronouns) -> str:
    """"Max: your best friend since the first day of Brightwater Primary." from p's relationship text."""
    head = first_clause(text)
    head = re.sub(r"^(The|A|An)\b", lambda m: m.group(1).lower(), head)  # "Camille: the journalist who ..."
    head = re.sub(rf"^{pro.possessive}\b", "your", head, flags=re.IGNORECASE)
    head = re.sub(rf"\b{pro.possessive}\b", "your", head) if pro is not SHE else re.sub(r"\bher\b", "your", head)
    return f"{other}: {head}."


def relation_facts(p: Persona, other: Persona, text: str, cast: Sequence[Persona] = ()) -> list[str]:
    """All that p's file says about another character, as p's own facts ("Theo: Lyra's dad, who once let you
    press the siren button.", "You think Theo is the kindest grown-up you know"), not only the sheet's first
    clause. A relationship text is p's view of the other: its first sentence describes them, so a pronoun of
    p's there is p ("who once let him sit in the ambulance"); a later sentence has p as its subject ("Theo likes
    him"), so its "him" is the other, when p and the other share their pronouns. A sentence that names someone
    else of the ``cast`` who shares p's pronouns keeps its "her" ("distracts Lyra from her Stars", in Zara's)."""
    pro, theirs = pronouns_of(p), pronouns_of(other)
    pronouns = {q.id: pronouns_of(q) for q in cast}
    sentences = split_sentences(text)
    if not sentences:
        return []
    head = yours(sentences[0], pro)
    head = re.sub(r"^(The|A|An|Your)\b", lambda m: m.group(1).lower(), head)
    out = [f"{other.name}: {head}"]
    names = "|".join(re.escape(n) for n in names_of(p))
    for s in sentences[1:]:
        alike = pro == theirs or any(
            q.id != p.id and pronouns[q.id] == pro and re.search(rf"\b{re.escape(q.name)}\b", s) for q in cast
        )
        opens = re.match(rf"(?:{names}|{pro.subject.capitalize()})\s", s) is not None
        if opens:
            s = second_person(s, p, pro, objects=not alike)
        elif not alike:
            s = yours(s, pro)
        others = any(
            q.id not in (p.id, other.id) and pronouns[q.id] == theirs and re.search(rf"\b{re.escape(q.name)}\b", s)
            for q in cast
        )
        # said on its own, "I am a bit in awe of her" says nobody: the first pronoun that can only be them, named
        if not others and not re.search(rf"\b{re.escape(other.name)}\b", s) and (pro != theirs or opens):
            s = _name_them(s, other.name, theirs, subjects=pro != theirs)
        out.append(s)
    return out


def _name_them(s: str, name: str, pro: Pronouns, *, subjects: bool) -> str:
    """The first of ``pro``'s pronouns in ``s`` replaced by ``name`` ("her notes" -> "Camille's notes", "trust
    him" -> "trust Max"); with ``subjects=False`` only an object ("him", "her" before no noun)."""
    forms = [pro.object] + ([pro.subject, pro.possessive] if subjects else [])
    m = re.search(rf"\b({'|'.join(dict.fromkeys(forms))})\b", s)
    if not m:
        return s
    word = m.group(1)
    possessive = word == pro.possessive and (pro.possessive != pro.object or _BEFORE_NOUN.match(s[m.end() :]))
    if possessive and not subjects:
        return s
    said = f"{name}'s" if possessive else name
    return f"{s[: m.start()]}{said}{s[m.end() :]}"


def recallable(p: Persona, names: Mapping[str, str], setting: str = "") -> list[str]:
    """Every fact about themselves a character might be asked, second person: the sheet, the rest of their
    description, what they know at the start, what they want and what they fear."""
    pro = pronouns_of(p)
    # only the sentences about the character themselves ("His arc is ..." is the writer talking)
    described = [t for t in (second_person(s, p, pro) for s in split_sentences(p.description)) if t.startswith("You ")]
    return [
        *fact_sheet(p, names, setting),
        *described,
        # what the character knows is theirs: "His dad drove the Line 7 tram" is about their own dad
        *(yours(second_person(k, p, pro), pro) for k in p.knows_at_start),
        *(yours(f"You want to {g[0].lower()}{g[1:]}.", pro) for g in p.goals),
        *(yours(_afraid(f), pro) for f in p.fears),
    ]


def _afraid(fear: str) -> str:
    head = fear[0].lower() + fear[1:]
    return f"You are afraid {head}." if head.startswith("that ") else f"You are afraid of {head}."


def fact_sheet(p: Persona, names: Mapping[str, str], setting: str = "", sentences: int = 2) -> list[str]:
    """The lines of the sheet, most asked first: who you are, where and when, then everyone you know."""
    pro = pronouns_of(p)
    lines = [f"You are {full_name(p)}, {p.age} years old." if p.age is not None else f"You are {full_name(p)}."]
    # "Lyra's mother, Senior Lattice Architect at Nocturne Systems, who never stops ..." -> the relation and the
    # job; a role that is a story function ("The heroine: ...") says nothing a visitor would ask
    role = re.split(r",?\s+who\b", p.role.strip(), maxsplit=1)[0]
    head = ",".join(role.split(",")[:2]).rstrip(" .") if re.match(r"^[A-Z][\w'-]*'s\s", role) else ""
    if head:
        lines.append(f"You are {head}.")
    lines += [second_person(s, p, pro) for s in split_sentences(p.description)[:sentences]]
    if setting:
        # where and when the story is, not the character's home ("where do you live?" wants the flat)
        lines.append(f"You are in {setting}.")
    for cid, text in p.relationships.items():
        if cid != p.id and cid in names:
            lines.append(relation_line(p, names[cid], text, pro))
    return lines


# a recalled fact said as a line: long enough for one sentence of lore with its answer in a later clause ("It is the
# first time she tells anyone about the dream, and ... the house feels empty ..." is 30 words), short of a recital
SPOKEN_WORDS = 32


def spoken(fact: str, limit: int = SPOKEN_WORDS) -> str:
    """A first-person fact as a line someone would say: at most ``limit`` words, cut where a clause ends,
    closed with a full stop ("Max is my best friend since the first day of Brightwater Primary.")."""
    s = re.sub(r"\s+", " ", fact).strip().rstrip(",;:—– ")
    # the tail of a quotation the sentence splitter cut in two ('Z: rollout Sat 27th." Lyra has been ...'): drop it
    if s.count('"') % 2 and (m := re.match(r'^[^"]*"\s+(?=[A-Z])', s)):
        s = s[m.end() :]
    words = s.split()
    if len(words) > limit:
        head = " ".join(words[:limit])
        cut = max(head.rfind(c) for c in (",", ";", ":", " - ", " and ", " but "))
        s = head[:cut] if cut > len(head) // 3 else head
        s = s.rstrip(",;:—– ")
    return s if s[-1:] in ".!?" else s + "."


_SUBJECT_VERBS = (
    "can|can't|cannot|could|couldn't|will|won't|would|wouldn't|should|must|may|might|do|don't|did|didn't|"
    "have|had|are|were|know|think|want|need|love|like|feel|keep|say|said|get|got|go|went|make|made|"
    "understand|hear|see|saw|remember|believe|hope|wish|find|found|call|called"
)


# a quotation or title: opens with a capital, may hold apostrophes inside words ("Child's"), closes before a non-letter
_QUOTED = re.compile(r"['\"“‘](?=[A-Z])(?:[^'\"“”‘’]|(?<=\w)['’](?=\w)){2,80}?['\"”’](?![A-Za-z])")


def first_person(fact: str) -> str:
    """A second-person fact in the character's own voice ("Max: your best friend" -> "Max is my best friend";
    "You live above your mother's bakery" -> "I live above my mother's bakery"): put next to a question, a
    tiny model that copies what is near copies an answer, not a description of itself. Quoted words (a title,
    someone's words: 'Who Paid for Your Child's Dream?') are kept as they are."""
    kept: list[str] = []

    def hide(m: re.Match[str]) -> str:
        kept.append(m.group(0))
        return f"\x00{len(kept) - 1}\x00"

    s = _first_person(_QUOTED.sub(hide, fact))
    return re.sub(r"\x00(\d+)\x00", lambda m: kept[int(m.group(1))], s)


def _first_person(fact: str) -> str:
    # a sheet line "Camille: the journalist who ..." said as is reads as a speaker's label, which the guards cut
    s = re.sub(r"^([A-Z][\w'-]*(?: [A-Z][\w'-]*)?): (?=[Yy]our\b|[A-Z]|(?:the|a|an)\b)", r"\1 is ", fact.strip())
    s = re.sub(r"\b[Yy]ou are\b", "I am", s)
    s = re.sub(r"\b[Yy]ou were\b", "I was", s)
    s = re.sub(r"\b[Yy]ou have\b", "I have", s)
    s = re.sub(r"\b[Yy]our\b", "my", s)
    s = re.sub(r"\b[Yy]ourself\b", "myself", s)
    s = re.sub(r"^[Yy]ou\b", "I", s)
    # after a conjunction, "you" starts a clause: a subject ("when you tease him" -> "when I tease him")
    s = re.sub(r"(?<=[,;] )you\b", "I", s)
    s = re.sub(
        r"\b(and|that|what|when|if|because|before|after|while|until|so|whom|than|how|much|where|why) you\b", r"\1 I", s
    )
    s = re.sub(rf"\b({_TAKES_OBJECT})\s+you\b", r"\1 me", s)  # "let you go": an object
    s = re.sub(rf"\byou\b(?=\s+(?:{_SUBJECT_VERBS})\b)", "I", s)  # "before you can publish": a subject
    s = re.sub(r"\byou\b", "me", s)
    if s.startswith("I "):  # "I have been a paramedic ... and are now crew lead"
        s = re.sub(r"\b(and|but) are\b", r"\1 am", s)
    return s[0].upper() + s[1:] if s else s
