"""Assemble what a character sees on a turn, from Jinja templates, with a stable persona prefix."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from stage.agents.facts import fact_sheet
from stage.agents.inputs import as_quoted_speech
from stage.prompts import render
from stage.text import split_sentences
from stage.transcript import Event, Narration, Turn, UserLine, speaker_of
from stage.types import Beat, LoreHit, Message, Persona, Plot

WINDOW = 6  # recent utterances shown verbatim
EARLIER_TURNS = 3  # older utterances of this beat kept as one-sentence gists
LORE_WORDS = 45
EXAMPLES = 4


@dataclass(frozen=True)
class TurnContext:
    """Everything one character's turn needs, built by the scene from its state and transcript."""

    persona: Persona
    beat: Beat
    names: Mapping[str, str]  # every character id -> display name
    people: tuple[tuple[str, str], ...]  # (id, display name) of everyone else here, visitors as ("", label)
    lore: tuple[LoreHit, ...]
    recent: tuple[Event, ...]
    earlier: str  # the gist of the last earlier beat the speaker was in: the same all through this beat
    whispers: tuple[str, ...]
    here: tuple[tuple[str, str], ...] = ()  # (who, first sentence) of this beat's lines older than the window
    heard: tuple[str, ...] = ()  # the last lines spoken by anyone: a reply must not repeat them
    others: tuple[str, ...] = ()  # names of everyone else who might speak: a reply stops where they would
    absent: tuple[str, ...] = ()  # names of characters not here: the fallback line avoids them
    setting: str = ""  # the story's where and when (``Plot.setting``)
    hints: tuple[str, ...] = ()  # the character's own facts nearest in meaning to the line being answered
    answer: str = ""  # the recalled fact that answers a question put to them, in their own words ("" if none)
    moment: str = ""  # the director's push toward the beat's key moment ("" when none), second person
    moment_level: int = 0  # 1: the character's beat goal; 2: the moment itself
    moment_line: str = ""  # at level 2, the moment as the plot file says the character might put it ("" if none)
    moments: tuple[tuple[int, str, tuple[str, ...]], ...] = ()  # open exit conditions: (index, description, terms)


def _lines(text: str) -> tuple[str, ...]:
    return tuple(x.strip() for x in text.split("\n") if x.strip())


def apply_edits(p: Persona, edits: Mapping[str, str]) -> Persona:
    """A persona with a writer's session edits applied; list fields take one item per line."""
    if not edits:
        return p
    get = edits.get
    voice = replace(
        p.voice,
        style=get("style", p.voice.style),
        sentence_length=get("sentence_length", p.voice.sentence_length),
        vocabulary=get("vocabulary", p.voice.vocabulary),
        examples=_lines(edits["examples"]) if "examples" in edits else p.voice.examples,
    )
    return replace(
        p,
        voice=voice,
        role=get("role", p.role),
        description=get("description", p.description),
        goals=_lines(edits["goals"]) if "goals" in edits else p.goals,
        fears=_lines(edits["fears"]) if "fears" in edits else p.fears,
    )


def persona_block(p: Persona, names: Mapping[str, str], setting: str = "") -> str:
    """The system prompt's stable part for ``p``: only its own secrets, never anyone else's (structural).

    Rendered from the persona, the cast's names and the story's setting, so it is byte-identical from turn to
    turn and llama.cpp reuses its cache."""
    return render(
        "character_persona.j2",
        p=p,
        facts=fact_sheet(p, names, setting),
        style=sentences(p.voice.style, 1),
        examples=p.voice.examples[:EXAMPLES],
        secrets=[s.text for s in p.secrets],
    )


def sentences(text: str, n: int) -> str:
    return " ".join(split_sentences(text)[:n])


def _first_sentence(text: str, limit: int = 18) -> str:
    first = re.split(r"(?<=[.!?])\s", text.strip(), maxsplit=1)[0]
    words = first.split()
    return " ".join(words[:limit]) + ("…" if len(words) > limit else "")


def spoken_line(event: Event, names: Mapping[str, str]) -> dict[str, str] | None:
    """One line of the conversation for the prompt: who said it (a label) and what, or narration."""
    if isinstance(event, Narration):
        return {"who": "", "text": sentences(event.text, 2)}
    who = speaker_of(event, names)
    if who is None:
        return None
    text = event.text if isinstance(event, Turn) else as_quoted_speech(getattr(event, "text", ""))
    return {"who": who.label, "text": text}


def history(
    events: Sequence[Event], names: Mapping[str, str], plot: Plot, beat: Beat, speaker: str
) -> tuple[tuple[Event, ...], str, tuple[tuple[str, str], ...]]:
    """Recent events verbatim plus bounded gists of what came before: the prompt stays flat as scenes grow.

    Returns (recent, earlier, here). ``earlier`` recalls the last earlier beat the speaker was *in* (a summary
    of a scene they missed would hand them facts they cannot know); ``here`` gists this beat's lines that
    left the window. They are two strings because they sit in different places of the prompt (see
    character_scene.j2): the first is stable for the beat, the second changes every turn."""
    spoken = [e for e in events if isinstance(e, Turn | UserLine | Narration)]
    since_beat = max(
        (
            i
            for i, e in enumerate(spoken)
            if isinstance(e, Narration) and e.beat == beat.id and e.source == "director"
        ),
        default=0,
    )
    recent = spoken[max(since_beat, len(spoken) - WINDOW) :]
    older = spoken[: len(spoken) - len(recent)]
    earlier_beats = [b for b in plot.beats if b.position < beat.position and speaker in b.present][-1:]
    earlier = sentences(earlier_beats[0].summary, 2) if earlier_beats else ""
    in_beat = [e for e in older if isinstance(e, Turn) and e.beat == beat.id][-EARLIER_TURNS:]
    here = tuple((names.get(t.speaker, t.speaker), _first_sentence(t.text)) for t in in_beat)
    return tuple(recent), earlier, here


def lore_lines(hits: Sequence[LoreHit]) -> list[str]:
    out = []
    for h in hits:
        words = sentences(h.chunk.text, 2).split()
        out.append(" ".join(words[:LORE_WORDS]) + ("…" if len(words) > LORE_WORDS else ""))
    return out


def build_messages(ctx: TurnContext) -> list[Message]:
    """System = stable persona + this moment + the conversation so far; user = the line being answered.

    A small chat model answers the user message far better than it continues a transcript, so the last
    utterance is the user message (as bare speech), and earlier lines sit in the system prompt."""
    p = ctx.persona
    people = [who for _, who in ctx.people]  # who they are to this character is in the fact sheet
    lines = [line for line in (spoken_line(e, ctx.names) for e in ctx.recent[:-1]) if line]
    last = ctx.recent[-1] if ctx.recent else None
    scene = render(
        "character_scene.j2",
        p=p,
        beat=ctx.beat,
        people=people,
        arc=sentences(p.arc.get(ctx.beat.id, ""), 1),
        goal=ctx.beat.goals.get(p.id, ""),
        lore=lore_lines(ctx.lore),
        earlier=ctx.earlier,
        here=ctx.here,
        whispers=ctx.whispers,
        lines=lines,
        speaker=_speaker_of(last, ctx.names, p) if last is not None else "",
    )
    said = render(
        "character_cue.j2", last=_last_line(last), hints=ctx.hints, moment=ctx.moment, level=ctx.moment_level
    )
    system = persona_block(p, ctx.names, ctx.setting)
    return [Message("system", system + "\n" + scene), Message("user", said)]


def _last_line(event: Event | None) -> dict[str, str]:
    """What the character is answering: a line of speech (bare), a narration, or nothing yet."""
    if event is None:
        return {"kind": "start", "text": ""}
    if isinstance(event, Narration):
        return {"kind": "narration", "text": sentences(event.text, 2)}
    if isinstance(event, UserLine):
        return {"kind": "speech", "text": as_quoted_speech(event.text)[1:-1]}
    return {"kind": "speech", "text": event.text if isinstance(event, Turn) else ""}


def instructions_of(ctx: TurnContext) -> str:
    """The private part of a character's prompt (persona and scene notes, minus its own example lines and its
    fact sheet, which are its words and facts to use, and the lore, which it may well quote): a reply must
    not recite it."""
    text = build_messages(replace(ctx, recent=(), lore=(), hints=(), moment=""))[0].content
    for line in (*ctx.persona.voice.examples, *fact_sheet(ctx.persona, ctx.names, ctx.setting)):
        text = text.replace(line, " ")
    return text


def _speaker_of(event: Event, names: Mapping[str, str], p: Persona) -> str:
    who = speaker_of(event, names)
    if who is None:
        return ""
    return "yourself" if who.id == p.id and not who.is_person else who.label
