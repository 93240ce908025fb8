"""Best-of-n: score a turn's candidate replies and say why the winner won.

The scorer is built on the MiniLM embedder the lore store already loads. A candidate scores for answering
what was just said to the character, for being grounded in its own facts and the lore it was given, and
for sounding like this character rather than the others; it loses points for names that appear nowhere in
the story. Detectors reject a candidate outright (with the reason): role confusion (telling someone
"you are <a character>", speaking as someone else, reading the fact sheet back as "your daughter ..."),
assistant-speak (near in meaning to a bank of assistant phrases, beyond the guards' patterns), a critic's
talk about the story from outside it (another bank) and the guards' own rejections. These are classes of
failure measured by meaning and by who is named, not a pattern per bad line.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from stage.agents.guards import similarity
from stage.agents.recall import Embedder
from stage.text import says_any
from stage.types import Story

# What assistants say and characters don't. Matched by meaning, so "i'm ready to assist. what is your
# query?" is caught although no pattern lists it.
ASSISTANT_BANK = (
    "I am ready to help. What would you like to know?",
    "How can I assist you today?",
    "Is there anything else I can help you with?",
    "As an AI language model, I cannot do that.",
    "I am a virtual assistant designed to answer your questions.",
    "Sure! Here is the information you requested.",
    "I'm here to help. Please provide more details about your request.",
    "Thank you for your question. Let me explain.",
    "I don't have personal experiences or feelings.",
    "Please let me know if you have any other questions.",
    "I'm here and ready to assist you.",
    "What is your question for me?",
    "Please enter your request.",
    "I'm sorry, but I don't have the ability to share personal details.",
)
# A line is assistant-speak when it is near the bank AND clearly nearer the bank than any character's own lines:
# "Can I help you with that bag, kiddo?" is near help-talk too, but nearer the cast's voices.
ASSISTANT_SIMILARITY = 0.5
ASSISTANT_MARGIN = 0.2
# What a reader or a critic says about a story, and a character inside it never does: the tiny model slips out of
# the scene and reviews it ("This is a big part of the story. It's funny, but it adds to the mood of the moment.").
# Matched by meaning, like assistant-speak; the wider margin lets a character talk about stories ("Every story
# needs a good ending, Max." is 0.54 near the bank, 0.21 above the cast's lines).
CRITIC_BANK = (
    "This is a big part of the story.",
    "The story is a mix of humor and drama.",
    "It adds to the mood of the scene.",
    "This scene shows the relationship between the characters.",
    "The author uses this moment to build tension.",
    "In this chapter, the characters learn an important lesson.",
    "The plot takes an unexpected turn here.",
    "This character is funny and relatable.",
    "The dialogue between the characters feels natural.",
    "What a great story! I loved the ending.",
    "The theme of this story is friendship and family.",
    "The narrator describes the setting in detail.",
)
CRITIC_SIMILARITY = 0.5
CRITIC_MARGIN = 0.25

WEIGHTS = {
    "answers": 1.0,
    "grounded": 1.0,
    "voice": 0.5,
    "invented": 0.3,
    "fulfils": 0.5,
    "misaddressed": 0.5,
    "repeats": 1.0,
    "narrates": 0.5,
}
PENALTIES = ("invented", "misaddressed", "repeats", "narrates")
# Exit conditions are met by their terms only. Matching them by meaning was measured and dropped: MiniLM gives
# "Quiet night tonight." 0.50 and "Good-night, sweetheart." 0.51 for "say goodnight", and "I don't want to sync
# tonight" 0.48 for "ready to sync in", so no threshold separates the moment from a mention of it.

MODEL = "model"
RECALLED = "recalled"
MOMENT = "moment"  # the plot file's line for the beat's key moment, offered by the director when the beat runs late

_WORD = re.compile(r"[A-Za-z][A-Za-z'’-]*")
_SENTENCE_START = re.compile(r"(?:^|[.!?…]\s+|[\"“(]\s*)([A-Z][A-Za-z'’-]*)")
_RELATION = re.compile(r"^[A-Z][\w'-]*: your ([a-z][a-z -]{1,30}?)(?:\s+(?:of|since|and|who|from)\b|[.,]|$)")


@dataclass(frozen=True)
class Candidate:
    """One reply the model offered for a turn, and what the scorer made of it."""

    text: str
    score: float = 0.0
    reject: str = ""  # why it may not stand ("" if it may)
    parts: Mapping[str, float] = field(default_factory=dict)  # each feature's value, for the turn details
    source: str = MODEL  # MODEL (sampled), RECALLED (the character's own fact, said as an answer) or MOMENT

    def as_record(self) -> dict[str, Any]:
        """What the transcript keeps of it: never the words of a candidate the content policy refused."""
        return {
            "text": "" if self.reject.startswith(("unsafe", "boundary", "echo")) else self.text,
            "source": self.source,
            "score": round(self.score, 3),
            "reject": self.reject,
            "parts": {k: round(v, 3) for k, v in self.parts.items()},
        }


@dataclass(frozen=True)
class Situation:
    """What a turn's candidates are judged against."""

    speaker: str  # character id
    answering: str  # the line the character is answering ("" when nobody spoke to them)
    facts: tuple[str, ...]  # the character's fact sheet, its recalled facts and the lore it was given
    relations: tuple[str, ...] = ()  # "daughter", "best friend": what others are to the speaker (fact sheet)
    asker: str = ""  # who said the line being answered (a character id, or "" for a person)
    hints: tuple[str, ...] = ()  # the facts recalled for the line being answered (names in them may be answers)
    heard: tuple[str, ...] = ()  # the last lines spoken: a candidate that says them again loses
    moments: tuple[tuple[int, str, tuple[str, ...]], ...] = ()  # open exit conditions the speaker can meet


def story_words(story: Story) -> frozenset[str]:
    """Every word in the story's files, lower-cased: a capitalised word outside it is a name nobody wrote."""
    return frozenset(w.lower().strip("'’-") for t in story_texts(story) for w in _WORD.findall(t))


def story_texts(story: Story) -> list[str]:
    """Every text the story's files hold: plot, personas and lore."""
    texts: list[str] = [story.plot.title, story.plot.setting]
    for b in story.plot.beats:
        texts += [b.title, b.summary, b.location, *b.goals.values(), *(c.description for c in b.exit)]
    for p in story.personas.values():
        texts += [p.name, p.role, p.description, p.voice.style, p.voice.vocabulary, *p.voice.examples]
        texts += [*p.voice.tics, *p.goals, *p.fears, *(s.text for s in p.secrets), *p.relationships.values()]
        texts += [*p.knows_at_start, *p.arc.values(), *p.boundaries]
    texts += [s.title + " " + s.text for s in story.lore]
    return texts


def invented_names(text: str, known: frozenset[str]) -> list[str]:
    """Capitalised words, not at the start of a sentence, that appear nowhere in the story's files."""
    starts = {m.start(1) for m in _SENTENCE_START.finditer(text)}
    out = []
    for m in re.finditer(r"\b([A-Z][a-z'’-]+(?:-[A-Z][a-z]+)?)\b", text):
        word = m.group(1).strip("'’-")
        if m.start() in starts or word == "I" or word.lower() in known:
            continue
        out.append(word)
    return out


def relations_of(sheet: Iterable[str]) -> tuple[str, ...]:
    """"daughter", "best friend": the heads of the fact sheet's relation lines ("Lyra: your daughter ...")."""
    heads = [m.group(1).strip() for line in sheet if (m := _RELATION.match(line))]
    return tuple(dict.fromkeys(h for h in heads if h))


def role_confusion(text: str, speaker: str, names: Mapping[str, str], relations: Sequence[str] = ()) -> str:
    """Why ``text`` is not ``speaker`` talking as themselves, or "".

    - telling anyone "you are <a character>" ("You are Zara, a 50 year old"): narrating identities at people;
    - "I am <someone else>" / "my name is <someone else>": speaking as another character;
    - "your <relation>" where the relation is the speaker's own ("Your daughter's name is Lyra", said by
      Zara): the fact sheet read back to the listener as if they were the speaker.
    """
    low = text.lower()
    for cid, name in names.items():
        n = re.escape(name.lower())
        if re.search(rf"\b(you are|you're|youre|you were)\s+{n}\b", low):
            return "role:you-are-a-character"
        if cid != speaker and re.search(rf"\b(i am|i'm|im|my name is|this is)\s+{n}\b(?!['’]s)", low):
            return "role:speaks-as-another"
    for rel in relations:
        r = re.escape(rel.lower())
        if re.search(rf"(?<!i'm )(?<!i am )(?<!i’m )\byour\s+{r}\b", low):
            return "role:own-relation-as-yours"
    return ""


# a reply this near (word trigrams) one of the speaker's own "You ..." lines reads their sheet back to someone else
OWN_FACTS_SIMILARITY = 0.3


def reads_own_facts_back(text: str, facts: Sequence[str]) -> bool:
    """The speaker's own second-person facts said to the listener: "Lena, you are a noticer: you see the ants on
    the pavement ..." from Max, whose sheet says "You are ten, ... a noticer: you see ants on the pavement ...".
    The listener is told who the speaker is, as if they were the speaker."""
    if not re.search(r"\byou\b", text, re.IGNORECASE):
        return False
    return any(similarity(text, f) >= OWN_FACTS_SIMILARITY for f in facts if f.startswith("You "))


_PERSONAL = re.compile(
    r"\b(i|i'm|i've|i'll|i'd|me|my|mine|myself|we|we're|we've|we'll|us|our|ours|you|you're|you've|you'll|your|"
    r"yours|yourself|let's)\b",
    re.IGNORECASE,
)


def narrates(text: str, names: Mapping[str, str]) -> bool:
    """A line of story prose rather than speech: nobody in it says I, we or you, nothing is asked, and someone is
    told about in the past tense ("Later that night, when Max was in the kitchen, he noticed ..."). A tiny model
    slips into writing the story; a character talks to the people in front of them."""
    if "?" in text or _PERSONAL.search(text.replace("’", "'")):
        return False
    who = "|".join(["he", "she", "they", *(re.escape(n) for n in names.values())])
    return re.search(rf"\b(?:{who})\s+(?:\w+ly\s+)?(?:was|were|had|\w+ed)\b", text, re.IGNORECASE) is not None


def misaddressed(text: str, situation: Situation, names: Mapping[str, str]) -> str:
    """The character a reply opens by addressing ("Zara, I'm glad you're here.") when that is neither the one
    who spoke to the speaker nor the speaker: a tiny model often turns to whoever is on stage instead of
    answering the person who asked."""
    m = re.match(r"\W*([A-Z][\w'-]+)\s*,", text)
    if not m or any(re.search(rf"\b{re.escape(m.group(1))}\b", h) for h in situation.hints):
        return ""  # "Max, of course!" answers "who is your best friend?" when Max is the recalled fact
    called = next((cid for cid, n in names.items() if n.lower() == m.group(1).lower()), "")
    return called if called and called not in (situation.asker, situation.speaker) else ""


class Scorer:
    """Scores candidates for one story; embeddings of fixed texts (example lines, the bank) are computed once."""

    def __init__(self, story: Story, embed: Embedder) -> None:
        self.story = story
        self.embed = embed
        self.names = {cid: p.name for cid, p in story.personas.items()}

    @cached_property
    def known(self) -> frozenset[str]:
        return story_words(self.story)

    def _vectors(self, texts: Sequence[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        return np.asarray(self.embed(list(texts)), dtype=np.float32).reshape(len(texts), -1)

    @cached_property
    def _bank(self) -> np.ndarray[Any, np.dtype[np.float32]]:
        return self._vectors(ASSISTANT_BANK)

    @cached_property
    def _critic(self) -> np.ndarray[Any, np.dtype[np.float32]]:
        return self._vectors(CRITIC_BANK)

    @cached_property
    def _cast_lines(self) -> np.ndarray[Any, np.dtype[np.float32]]:
        return self._vectors([e for p in self.story.personas.values() for e in p.voice.examples])

    @cached_property
    def _voices(self) -> dict[str, np.ndarray[Any, np.dtype[np.float32]]]:
        out = {}
        for cid, p in self.story.personas.items():
            v = self._vectors(p.voice.examples).mean(axis=0)
            out[cid] = v / max(float(np.linalg.norm(v)), 1e-9)
        return out

    def assistant_like(self, texts: Sequence[str]) -> list[bool]:
        return list(self._assistant(self._vectors(texts))) if texts else []

    def _assistant(self, vec: np.ndarray[Any, np.dtype[np.float32]]) -> np.ndarray[Any, np.dtype[np.bool_]]:
        return _near(vec, self._bank, self._cast(vec), ASSISTANT_SIMILARITY, ASSISTANT_MARGIN)

    def _cast(self, vec: np.ndarray[Any, np.dtype[np.float32]]) -> np.ndarray[Any, np.dtype[np.float32]]:
        """Each line's cosine to the nearest of the cast's own example lines."""
        nearest: np.ndarray[Any, np.dtype[np.float32]] = (vec @ self._cast_lines.T).max(axis=1)
        return nearest

    def _out_of_scene(self, vec: np.ndarray[Any, np.dtype[np.float32]]) -> list[str]:
        """Per line, why it is not a character speaking in the scene: "assistant-speak", "critic" (reviewing the
        story from outside it), or ""."""
        cast = self._cast(vec)
        assistant = _near(vec, self._bank, cast, ASSISTANT_SIMILARITY, ASSISTANT_MARGIN)
        critic = _near(vec, self._critic, cast, CRITIC_SIMILARITY, CRITIC_MARGIN)
        return ["assistant-speak" if a else "critic" if c else "" for a, c in zip(assistant, critic, strict=True)]

    def score(
        self, texts: Sequence[str], situation: Situation, rejects: Sequence[str] = (), sources: Sequence[str] = ()
    ) -> list[Candidate]:
        """Each text as a ``Candidate``; ``rejects`` carries the guards' own verdicts (one per text)."""
        if not texts:
            return []
        rejects = list(rejects) or [""] * len(texts)
        sources = list(sources) or [MODEL] * len(texts)
        vec = self._vectors(texts)
        outside = self._out_of_scene(vec)
        if len(texts) == 1:  # nothing to choose between: only the detectors matter
            reject = rejects[0] or self._confusion(texts[0], situation)
            return [Candidate(text=texts[0], reject=reject or outside[0], source=sources[0])]
        fulfils = self._fulfils(texts, situation.moments)
        facts = [f for f in situation.facts if f.strip()]
        fact_vec = self._vectors(facts) if facts else None
        ask_vec = self._vectors([situation.answering])[0] if situation.answering.strip() else None
        own = self._voices.get(situation.speaker)
        others = [v for cid, v in self._voices.items() if cid != situation.speaker]
        out = []
        for i, text in enumerate(texts):
            parts = {
                "answers": float(vec[i] @ ask_vec) if ask_vec is not None else 0.0,
                "grounded": float((fact_vec @ vec[i]).max()) if fact_vec is not None else 0.0,
                "voice": (float(vec[i] @ own) - max(float(vec[i] @ o) for o in others))
                if own is not None and others
                else 0.0,
                "invented": float(len(invented_names(text, self.known))),
                "fulfils": fulfils[i],
                "misaddressed": float(bool(misaddressed(text, situation, self.names))),
                # word-trigram overlap with what was just said: the guard rejects a near-copy, this prefers
                # the fresher of the candidates that passed ("I've just been working on ..." three times)
                "repeats": max((similarity(text, h) for h in situation.heard), default=0.0),
                "narrates": float(narrates(text, self.names)),
            }
            total = sum(WEIGHTS[k] * (-parts[k] if k in PENALTIES else parts[k]) for k in WEIGHTS)
            reject = rejects[i] or self._confusion(text, situation) or outside[i]
            out.append(Candidate(text=text, score=total, reject=reject, parts=parts, source=sources[i]))
        return out

    def _confusion(self, text: str, situation: Situation) -> str:
        """Why a candidate is not the speaker talking as themselves ("" if it is): see ``role_confusion`` and
        ``reads_own_facts_back``."""
        why = role_confusion(text, situation.speaker, self.names, situation.relations)
        return why or ("role:own-facts-as-yours" if reads_own_facts_back(text, situation.facts) else "")

    @staticmethod
    def _fulfils(texts: Sequence[str], moments: Sequence[tuple[int, str, tuple[str, ...]]]) -> list[float]:
        """1.0 for a text that says one of the terms of an exit condition the beat waits on this speaker for."""
        return [
            1.0 if any(says_any(text, terms) for _, _, terms in moments) else 0.0 for text in texts
        ]


def _near(
    vec: np.ndarray[Any, np.dtype[np.float32]],
    bank: np.ndarray[Any, np.dtype[np.float32]],
    cast: np.ndarray[Any, np.dtype[np.float32]],
    similarity: float,
    margin: float,
) -> np.ndarray[Any, np.dtype[np.bool_]]:
    """Which lines are near a bank of what characters never say, and clearly nearer it than the cast's own
    lines (``cast``: each line's best cosine to them)."""
    near = (vec @ bank.T).max(axis=1)
    flagged: np.ndarray[Any, np.dtype[np.bool_]] = (near >= similarity) & (near - cast >= margin)
    return flagged


def best(candidates: Sequence[Candidate]) -> Candidate | None:
    """The highest-scoring candidate that may stand (the first offered wins a tie), or ``None``."""
    standing = [c for c in candidates if not c.reject]
    return max(standing, key=lambda c: c.score) if standing else None
