"""Lore read from one character's point of view: what a section says about *them*, in the second person.

Lore is written about the cast in the third person, and most of what it says about a character is not in a
sentence that opens with their name: "Lyra Adair is ten. Her mother, Zara Adair, 41, is Senior Lattice
Architect ... They live on the 41st floor of the Halden Spire." Read one sentence at a time, Zara never
learns where she lives. So a section is read in order, keeping track of whom its pronouns can mean (a small,
rule-based coreference step, the classic "most recent named subject" heuristic):
- the *topic* is the cast member the latest sentence that opened with a name was about ("Lyra Adair is ten");
  "she"/"her" opening a later sentence mean the topic when the pronoun fits them;
- the *group* is the topic and every cast member named since ("Her mother, Zara Adair ..."); a sentence that
  opens with "They", "Their" or "The family" means the group.
A sentence about the reader is turned to speak to them ("You live on the 41st floor ..."); the rest is kept as
it is. Independent clauses joined by a semicolon become facts of their own, so each is recalled (and said) on
its own rather than cut off after twenty-odd words.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from stage.agents.facts import (
    IRREGULAR,
    Pronouns,
    about_self,
    base_verb,
    fact_sheet,
    full_name,
    names_of,
    pronouns_of,
    recallable,
    relation_facts,
    second_person,
    yours,
)
from stage.text import split_sentences
from stage.types import LoreHit, LoreSection, Persona, Story

# writers' notes about the story ("Lyra, not Kyra"): lore a character may see, but nothing they would say
EDITORIAL = "editorial"
_GROUP_OPENING = re.compile(r"^(?:They|The family|The whole family)\b\s*")
_GROUP_POSSESSIVE = re.compile(r"^Their\b")
# a word that links a sentence to the one before without being its subject: "So he reads ...", "Then she ..."
_CONNECTIVE = re.compile(r"^(?:So|Then|But|And|Now|Still|Yet|Soon|Later|Sometimes|Often|Tonight|Instead),?\s+(?=[a-z])")


def clauses_of(sentence: str) -> list[str]:
    """A sentence's independent clauses, split at semicolons, each read as a sentence of its own."""
    parts = [p.strip() for p in sentence.split(";") if p.strip()]
    if len(parts) < 2 or any(len(p.split()) < 3 for p in parts):  # "Lyra: dentist Tues; Theo: nights" stays whole
        return [sentence]
    out = [p[0].upper() + p[1:] for p in parts]
    return [p if p[-1] in ".!?" else p + "." for p in out[:-1]] + [out[-1]]


def _opening_name(sentence: str, cast: Sequence[Persona]) -> Persona | None:
    """The cast member a sentence opens with as its subject ("Max Benoit is ten", "Camille, 24, ...")."""
    for p in cast:
        names = "|".join(re.escape(n) for n in names_of(p))
        if re.match(rf"(?:{names})(?:\s+[a-z]|,)", sentence):
            return p
    return None


def _named(sentence: str, cast: Sequence[Persona]) -> list[Persona]:
    return [p for p in cast if re.search(rf"\b{re.escape(p.name)}\b", sentence)]


def _unlinked(sentence: str) -> str:
    """The sentence without a connective that opens it ("So he reads ..." -> "he reads ...")."""
    return _CONNECTIVE.sub("", sentence, count=1)


def _fits(sentence: str, pro: Pronouns) -> bool:
    """The sentence opens with this pronoun as its subject or possessive ("She is ...", "His dad ...")."""
    words = {pro.subject.capitalize(), pro.possessive.capitalize()}
    return sentence.split(" ", 1)[0].capitalize() in words


def read_as(text: str, reader: Persona, cast: Sequence[Persona], title: str = "") -> list[str]:
    """The facts of a lore text, in order, those about ``reader`` turned to the second person. A ``title``
    that names one of the cast ("What Max saw in the red folder") makes them the topic from the start."""
    pronouns = {p.id: pronouns_of(p) for p in cast}
    mine = pronouns.get(reader.id) or pronouns_of(reader)
    titled = _named(title, cast)
    topic: Persona | None = titled[0] if len(titled) == 1 else None
    group: set[str] = {topic.id} if topic else set()
    out: list[str] = []
    for sentence in split_sentences(text):
        for s in clauses_of(sentence):
            opener = _opening_name(s, cast)
            if opener is not None:
                topic, group = opener, {opener.id}
            if opener is not None and opener.id == reader.id:
                out.append(_named_as_you(about_self(s, reader), reader))
            elif opener is None and topic is not None and topic.id == reader.id and _fits(_unlinked(s), mine):
                said = s[: len(s) - len(_unlinked(s))]  # "So " in "So he reads ..."
                rest = s[len(said) :]
                turned = yours(second_person(rest[0].upper() + rest[1:], reader, mine), mine)
                out.append(f"{said}{turned[0].lower()}{turned[1:]}" if said else turned)
            elif opener is None and reader.id in group and (m := _GROUP_OPENING.match(s)):
                rest = s[m.end() :]
                verb, _, tail = rest.partition(" ")
                # "They live" is already the base form; "The family lives" is not
                base = verb[:-1] if m.group(0).startswith("The") and verb.endswith("s") else verb
                out.append(f"You {base} {tail}".rstrip())
            elif opener is None and reader.id in group and _GROUP_POSSESSIVE.match(s):
                out.append(_GROUP_POSSESSIVE.sub("Your", s))
            else:
                out.append(_named_as_you(s, reader))
            group.update(p.id for p in _named(s, cast))
    return out


def _named_as_you(sentence: str, p: Persona) -> str:
    """The reader named inside a sentence about something else, as "you": "The most admired engineer is Zara
    Adair, whose patch ..." -> "... is you, whose patch ..."; "Zara Adair's project" -> "your project". Said
    back in the first person, it is "me" and "my", not the character talking about herself by name."""
    names = "|".join(re.escape(n) for n in names_of(p))
    if not re.search(rf"\b(?:{names})\b", sentence):
        return sentence
    s = re.sub(rf"(?<=\S )(?:{names})['’]s\b", "your", sentence)
    # "In the pilot logs Zara has noticed" -> "you have noticed": a verb right after the name agrees with "you"
    s = re.sub(
        rf"(?<=\S )(?:{names})\s+((?:{'|'.join(IRREGULAR)})\b|[a-z]+s\b)",
        lambda m: f"you {base_verb(m.group(1))}",
        s,
    )
    return re.sub(rf"(?<=\S )(?:{names})\b(?!['’])", "you", s)


def about(section: LoreSection, p: Persona) -> bool:
    """A section about the character or their family: tagged with their id or surname, or titled with their
    name ("Theo's shifts", "The Adair family"). What a character knows of their own life, they can always
    recall, whatever the line they are answering is about."""
    surname = full_name(p).split()[-1] if " " in full_name(p) else ""
    keys = {p.id.lower(), p.name.lower(), surname.lower()} - {""}
    tags = {t.lower() for t in section.tags}
    if EDITORIAL in tags:  # "Lyra, not Kyra" is a note to writers about her name, not her life
        return False
    if keys & tags:
        return True
    title = section.title.lower()
    return any(re.search(rf"\b{re.escape(k)}\b", title) for k in keys)


def recall_pool(p: Persona, story: Story, beat: int, hits: Sequence[LoreHit]) -> list[str]:
    """Everything a character can draw on to answer a question, in their point of view: their own facts
    (``recallable``) and those of the people they know (``relation_facts``), the lore about them and their
    family that they may know at this beat, and the lore the search found for this line."""
    cast = list(story.personas.values())
    names = {cid: q.name for cid, q in story.personas.items()}
    mine = [s for s in story.lore if s.visible(p.id, beat) and about(s, p)]
    seen = {s.id for s in mine}
    found = [h.chunk for h in hits if h.chunk.section_id not in seen and EDITORIAL not in h.chunk.tags]
    texts = [(s.title, s.text) for s in mine] + [(c.heading, c.text) for c in found]
    lore = [f for title, t in texts for f in read_as(t, p, cast, title)]
    sheet = fact_sheet(p, names, story.plot.setting)
    # the sheet names them on purpose ("You are Zara Adair, 41"); elsewhere their name is "you"
    # what their file says of everyone they know, whole ("who once let you press the siren button")
    related = [
        f
        for cid, text in p.relationships.items()
        if cid in story.personas and cid != p.id
        for f in relation_facts(p, story.personas[cid], text, cast)
    ]
    own = [f if f in sheet else _named_as_you(f, p) for f in [*recallable(p, names, story.plot.setting), *related]]
    return list(dict.fromkeys([*own, *lore]))
