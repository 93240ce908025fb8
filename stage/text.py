"""Words out of text: the stage's one tokenizer, with the three cuts its parts need.

- ``words``: every run of letters and apostrophes, lower-cased, in order. The guards' trigram overlap and the
  evals' distinct-n count these.
- ``content_words``: the distinct words of two or more letters (hyphenated words kept whole), without a short
  list of function words. The keyword retriever matches on these, and the evals' grounding compares them.
- ``search_tokens``: words and numbers (a possessive or contraction kept on), without a longer stop list,
  cut down to rough stems (``stem``). The lore search's BM25 indexes and queries these
  (``stage.lore.lexical``).

Nothing here imports the rest of the stage.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

WORD = re.compile(r"[a-z']+")
CONTENT_WORD = re.compile(r"[a-z][a-z'-]+")
SEARCH_WORD = re.compile(r"[a-z0-9]+(?:['’][a-z]+)?")

_CONTENT_STOP_WORDS = (
    "the a an and or of to in on at is are was were be it its this that with for as by from her his "
    "their she he they you i we me my your our what who how why when where do does did not no yes"
)
_SEARCH_STOP_WORDS = (
    "a about after all also am an and any are as at be been before being but by can could did do "
    "does doing for from had has have he her here hers him his how i if in into is it its just me more "
    "most my no nor not now of on once only or other our out over own she should so some such tell than "
    "that the their them then there these they this those through to too under until up us very was we "
    "were what when where which while who whom whose why will with would yes you your"
)
CONTENT_STOP = frozenset(_CONTENT_STOP_WORDS.split())  # function words, for matching content
SEARCH_STOP = frozenset(_SEARCH_STOP_WORDS.split())  # a fuller list, for BM25 over stems
MIN_STEM = 3  # shorter stems match too much (and Chroma's substring index wants three characters)


def words(text: str) -> list[str]:
    """The words of ``text`` in order, lower-cased: runs of letters and apostrophes."""
    return WORD.findall(text.lower())


def content_words(text: str) -> set[str]:
    """The distinct content words of ``text``: two letters or more, hyphens kept, function words dropped."""
    return {w for w in CONTENT_WORD.findall(text.lower()) if w not in CONTENT_STOP}


def stem(word: str) -> str:
    """A deliberately light stemmer: plurals, possessives, -ed and -ing ('synced' and 'syncs' -> 'sync')."""
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    for suffix, repl in (("sses", "ss"), ("ies", "y"), ("ing", ""), ("ed", "")):
        if w.endswith(suffix) and len(w) - len(suffix) + len(repl) >= MIN_STEM + 1:
            return w[: -len(suffix)] + repl
    if re.search(r"(s|x|z|ch|sh)es$", w) and len(w) > MIN_STEM + 2:
        return w[:-2]
    if w.endswith("s") and not w.endswith(("ss", "us", "is")) and len(w) > MIN_STEM + 1:
        return w[:-1]
    return w


def search_tokens(text: str) -> list[str]:
    """The stems of ``text``'s words and numbers in order, stop words dropped (repeats kept, for counting)."""
    return [stem(w) for w in SEARCH_WORD.findall(text.lower()) if w not in SEARCH_STOP]


def says_any(text: str, terms: Iterable[str]) -> bool:
    """Does ``text`` hold one of ``terms`` (lower-case phrases), each starting a word? How an exit condition is
    met. A term is the start of a word, so "read" is said in "reading" and "breath" in "breathe", but "our own"
    is not said in "your own", nor "read" in "already"."""
    lowered = text.lower()
    return any(re.search(rf"(?<![\w'’]){re.escape(term)}", lowered) for term in terms)


SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+")


# Markdown that lore and persona files may hold: a heading or a list item is a unit of its own, and its markers are
# not words (a model shown "### The Sky Orchard Islands of ..." copies the hashes and runs the title into the text)
_BLOCK_MARK = re.compile(r"^\s*(?:#{1,6}\s+|[-*+]\s+|\d{1,2}[.)]\s+|>\s*)")
_INLINE_MARK = re.compile(r"\*\*|__|`")


def split_sentences(text: str) -> list[str]:
    """The sentences of ``text`` (split after . ! or ? and a space), empty ones dropped. Markdown is read as
    prose: paragraphs and list items never run into each other, a heading leads the text under it, and the
    markers are dropped."""
    units: list[str] = []
    for para in re.split(r"\n\s*\n", text.strip()):
        run: list[str] = []
        for raw in para.splitlines():
            block = _BLOCK_MARK.match(raw)
            line = _INLINE_MARK.sub("", raw[block.end() :] if block else raw).strip()
            if block and run:  # a heading or item starts a unit of its own
                units.append(" ".join(run))
                run = []
            if line and block and raw.lstrip().startswith("#"):
                # a heading names what the text under it is about: it leads that text ("The Sky Orchard: Islands of
                # apple trees ...") rather than standing alone as a sentence that says nothing
                run.append(line if line[-1] in ".!?:" else line + ":")
            elif line:
                run.append(line)
        if run:
            units.append(" ".join(run))
    return [s for unit in units for s in SENTENCE_BREAK.split(unit) if s]
