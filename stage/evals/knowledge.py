"""Knowledge leaks: a turn says a lore section's key term that its speaker could not know at that beat.

A term is *knowable* by a speaker when it appears in the speaker's own persona (including its arc and goals
up to this beat), in any lore section in its scope, or in anything said, narrated or whispered in its
presence earlier in the scene. Only terms of sections out of scope that are not knowable count as leaks,
so echoing a visitor's question or a fact another character told you is never a leak.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stage.types import Persona, Story

_APOSTROPHES = str.maketrans({"’": "'", "‘": "'", "“": '"', "”": '"'})


def normalise(text: str) -> str:
    return text.translate(_APOSTROPHES).lower()


def term_pattern(term: str) -> re.Pattern[str]:
    """A key term as a whole phrase, case-insensitive (``o.f.``, ``21:47`` and ``9-bravo`` included)."""
    return re.compile(rf"(?<![\w]){re.escape(normalise(term.strip()))}(?![\w])")


@dataclass(frozen=True)
class Leak:
    term: str
    section: str  # the lore section the term reveals
    why: str  # for a person: whose scope it is in and from when


def persona_text(p: Persona, arc_beats: set[str], goals: list[str]) -> str:
    parts = [p.name, p.role, p.description, p.voice.style, p.voice.vocabulary, *p.voice.tics]
    parts += [*p.voice.examples, *p.goals, *p.fears, *(s.text for s in p.secrets)]
    parts += [*p.relationships.values(), *p.knows_at_start, *goals]
    parts += [text for beat, text in p.arc.items() if beat in arc_beats]
    return normalise("\n".join(parts))


class Knowledge:
    """What each character may know at each beat, cached; ``leaks`` checks one turn."""

    def __init__(self, story: Story) -> None:
        self.story = story
        self._terms = [(t, term_pattern(t), s) for s in story.lore for t in s.key_terms]
        self._candidates: dict[tuple[str, int], list[tuple[str, re.Pattern[str], str, str]]] = {}

    def known_text(self, speaker: str, position: int) -> str:
        """The speaker's persona and every lore section in its scope at ``position``, lower-cased."""
        p = self.story.personas[speaker]
        earlier = [b for b in self.story.plot.beats if b.position <= position]
        goals = [b.goals[speaker] for b in earlier if speaker in b.goals]
        parts = [persona_text(p, {b.id for b in earlier}, goals)]
        for s in self.story.lore:
            if s.visible(speaker, position):
                parts.append(normalise(" ".join([s.title, s.text, *s.key_terms])))
        return "\n".join(parts)

    def candidates(self, speaker: str, position: int) -> list[tuple[str, re.Pattern[str], str, str]]:
        """(term, pattern, section id, why) for the out-of-scope terms the speaker's own sources lack."""
        key = (speaker, position)
        if key not in self._candidates:
            known = self.known_text(speaker, position)
            out = []
            for term, pattern, section in self._terms:
                if section.visible(speaker, position) or pattern.search(known):
                    continue
                who = "everyone" if "everyone" in section.visible_to else ", ".join(section.visible_to)
                why = f"'{section.id}' is known to {who} from beat {section.from_beat}"
                out.append((term, pattern, section.id, why))
            self._candidates[key] = out
        return self._candidates[key]

    def leaks(self, text: str, speaker: str, position: int, heard: str) -> list[Leak]:
        """Out-of-scope key terms in ``text`` that the speaker had neither in its sources nor heard."""
        if speaker not in self.story.personas:
            return []
        said, heard = normalise(text), normalise(heard)
        found: dict[str, Leak] = {}
        for term, pattern, section, why in self.candidates(speaker, position):
            if term in found or not pattern.search(said) or pattern.search(heard):
                continue
            found[term] = Leak(term, section, why)
        return list(found.values())
