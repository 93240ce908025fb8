"""A card's fields put where the stage keeps them: a persona file, lore sections, and a plot if there is none.

Where each card field goes (README, "Bring your own characters"):
- name -> name (and the id, as a slug); description -> description, and its first sentence -> role;
- personality -> voice.style; mes_example -> voice.examples (the character's lines, actions and quotes taken
  off), topped up from the greetings when a card has fewer than four;
- first_mes, alternate_greetings, group_only_greetings -> greetings;
- scenario -> a lore section only this character knows (and the summary of a one-beat plot when the story has
  none); character_book -> lore sections this character may know (constant entries: everyone), keys ->
  key_terms; world info and V3 lorebooks -> lore everyone knows;
- creator, character_version, tags, creator_notes -> the comment at the head of the persona file;
- a card this stage wrote keeps the whole persona in ``extensions.dream_stage``, so a round trip loses nothing.
Everything else (system_prompt, post_history_instructions, other extensions, assets, lorebook settings) has no
place here: each is named in the report, never dropped silently. ``{{char}}`` and ``{{user}}`` become the name and
"you" (in lines) or "the visitor" (in prose); other macros are removed and reported.
"""

from __future__ import annotations

import colorsys
import re
import unicodedata
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml

from stage.cards.read import CardError, RawCard
from stage.text import split_sentences

EXTENSION = "dream_stage"  # the key under a card's ``extensions`` where this stage keeps what cards have no field for
BEAT = "scene"  # the id of the one-beat plot made for a story that has none
BOUNDARIES = (
    "Keeps everything gentle and safe for children: nothing violent, gory, romantic or frightening beyond a children's book",
    "Never speaks as another character",
)
# a card's avatar is a picture; the page draws an emoji (or, without an emoji font, the initial): one of these,
# the same for the same name
AVATARS = ("🎭", "🧭", "🪁", "🌙", "🔮", "🎈", "🌻", "🪶", "🗝️", "🛶")
_MACRO = re.compile(r"\{\{[^{}]{0,80}\}\}")
_CHAR = re.compile(r"\{\{\s*char\s*\}\}|<BOT>", re.IGNORECASE)
_USER = re.compile(r"\{\{\s*user\s*\}\}|<USER>", re.IGNORECASE)
_ACTION = re.compile(r"\*[^*]{0,400}\*|_[^_]{1,200}_")  # *smiles warmly*: narration, not speech
_DECORATOR = re.compile(r"^@@(@?)(\w+)[ \t]*(.*)$", re.MULTILINE)
_AGE = re.compile(r"\b(\d{1,3})[- ](?:years?|yrs?)[- ]old\b|\baged? (\d{1,3})\b|\bage:\s*(\d{1,3})\b", re.IGNORECASE)
# V3 decorators with a meaning here; the rest (depth, role, scan_depth, position ...) are about prompt insertion
_KEPT_DECORATORS = {"activate": "constant: everyone may know it", "dont_activate": "not imported (never active)"}


@dataclass
class Report:
    """What went where, and what had no place: one line each, shown by ``stage import``."""

    placed: list[str] = field(default_factory=list)
    unplaced: list[str] = field(default_factory=list)

    def put(self, what: str) -> None:
        self.placed.append(what)

    def skip(self, what: str) -> None:
        self.unplaced.append(what)


@dataclass(frozen=True)
class Section:
    id: str
    title: str
    text: str
    visible_to: tuple[str, ...] | str
    key_terms: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    from_beat: str | int = 1


@dataclass(frozen=True)
class Character:
    """One card, mapped: the persona file's fields and the lore that came with it."""

    persona: dict[str, Any]
    lore: tuple[Section, ...]
    header: str  # the comment at the top of the persona file
    scenario: str


def sentences(text: str, n: int) -> list[str]:
    return split_sentences(text)[:n]


def slug(text: str, taken: Iterable[str] = (), fallback: str = "character") -> str:
    """An id: lower-case ASCII letters, digits, '-'; starts with a letter; not one of ``taken``."""
    ascii_ = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_.lower()).strip("-")[:32].strip("-")
    base = base if base[:1].isalpha() else f"{fallback}-{base}".strip("-")
    used = set(taken)
    out, n = base, 2
    while out in used:
        out, n = f"{base}-{n}", n + 1
    return out


def translate(text: str, name: str, report: Report, where: str, *, spoken: bool = False) -> str:
    """Macros resolved: ``{{char}}`` is the name, ``{{user}}`` the person talking to them."""
    text = _CHAR.sub(name, text)
    if spoken:  # "Hello, {{user}}!" -> "Hello!"; "{{user}}, look" -> "Look"
        text = re.sub(r",\s*(?:\{\{\s*user\s*\}\}|<USER>)(?=[\s.!?,]|$)", "", text, flags=re.IGNORECASE)
        text = re.sub(r"^(?:\{\{\s*user\s*\}\}|<USER>),\s*(\w)", lambda m: m.group(1).upper(), text, flags=re.I)
    who = "you" if spoken else "the visitor"
    text = _USER.sub(lambda m: _cased(who, text, m.start()), text)
    others = _MACRO.findall(text)
    if others:
        report.skip(f"{where}: macros {', '.join(sorted(set(others)))} have no meaning here; removed")
        text = _MACRO.sub("", text)
    return re.sub(r"[ \t]+", " ", text).strip()


def _cased(word: str, text: str, at: int) -> str:
    """``word`` capitalised where it starts a sentence of ``text``."""
    return word[:1].upper() + word[1:] if not text[:at].strip() or re.search(r"[.!?]\s*$", text[:at]) else word


def spoken(text: str, name: str, report: Report, where: str) -> str:
    """A line as the character says it: no *actions*, no quotes round it, at most two sentences."""
    line = _ACTION.sub(" ", translate(text, name, report, where, spoken=True))
    line = re.sub(r"\s+", " ", line).strip().strip('"“”').strip()
    line = " ".join(sentences(line, 2)) if line else ""
    return line[:240].rstrip() if len(line.split()) >= 2 else ""


def example_lines(mes_example: str, name: str, report: Report) -> list[str]:
    """The character's own lines from a card's example dialogue (``<START>`` blocks of ``{{char}}: ...``)."""
    lines: list[str] = []
    current: list[str] | None = None
    for raw in mes_example.splitlines():
        if re.match(r"^\s*<START>\s*$", raw, re.IGNORECASE):
            current = None
            continue
        label = re.match(r"^\s*([^:\n]{1,40}):\s*(.*)$", raw)
        if label:
            who = label.group(1).strip()
            if _CHAR.fullmatch(who) or who.lower() == name.lower():
                current = [label.group(2)]
                lines.append("")
            else:
                current = None
        elif current is not None and raw.strip():
            current.append(raw.strip())
        if current is not None and lines:
            lines[-1] = " ".join(current)
    out = [s for line in lines if (s := spoken(line, name, report, "mes_example"))]
    return list(dict.fromkeys(out))


def age_in(*texts: str) -> int | None:
    for text in texts:
        m = _AGE.search(text)
        if m:
            age = int(next(g for g in m.groups() if g))
            if 1 <= age <= 120:
                return age
    return None


def colour_of(name: str) -> str:
    r, g, b = colorsys.hsv_to_rgb((zlib.crc32(name.encode()) % 360) / 360, 0.55, 0.75)
    return f"#{round(r * 255):02X}{round(g * 255):02X}{round(b * 255):02X}"


def _text(data: Mapping[str, Any], key: str, shown: str) -> str:
    value = data.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise CardError(f"{shown}: {key}: expected text, got {type(value).__name__}")
    return value


def _texts(data: Mapping[str, Any], key: str, shown: str) -> list[str]:
    value = data.get(key) or []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise CardError(f"{shown}: {key}: expected a list of texts")
    return list(value)


def character(card: RawCard, pid: str, report: Report) -> Character:
    """The persona and lore of one card; ``pid`` is its id in the story."""
    d, shown = card.data, card.name
    name = _text(d, "name", shown).strip()
    if not name:
        raise CardError(f"{shown}: name: expected the character's name, got none")
    stored = _stored(d, report)
    if stored:  # a card this stage wrote: the persona as it was, nothing derived
        _unplaced(d, card, report)
        lore = tuple(_book(d.get("character_book"), pid, shown, report, owner=pid, name=str(stored.get("name", ""))))
        return Character({**stored, "id": pid}, lore, _header(card, d), "")
    said = _text(d, "nickname", shown).strip() or name  # V3: what {{char}} stands for
    if said != name:
        report.put(f"nickname -> what {{{{char}}}} says ({said!r})")
    description = translate(_text(d, "description", shown), said, report, "description")
    personality = translate(_text(d, "personality", shown), said, report, "personality")
    scenario = translate(_text(d, "scenario", shown), said, report, "scenario")
    if not description:
        description = personality or f"{name}."
        report.put("description: empty; the personality stands in" if personality else "description: empty")
    greetings: list[str] = []
    for key in ("first_mes", "alternate_greetings", "group_only_greetings"):
        for raw in [_text(d, key, shown)] if key == "first_mes" else _texts(d, key, shown):
            if text := translate(raw, said, report, key, spoken=True):
                greetings.append(text)
    examples = example_lines(_text(d, "mes_example", shown), said, report)[:8]
    report.put(f"mes_example -> voice.examples ({len(examples)} lines)")
    if len(examples) < 4:
        topped = [s for g in greetings for s in _greeting_lines(g, said, report)]
        examples = list(dict.fromkeys([*examples, *topped]))[:8]
        report.put(f"voice.examples: topped up from the greetings to {len(examples)} lines")
    if len(examples) < 4:
        raise CardError(
            f"{shown}: mes_example: expected at least 4 lines that {name} says (example dialogue or greetings), "
            f"found {len(examples)}; add some under 'mes_example' as '{{{{char}}}}: ...'"
        )
    role = (sentences(description, 1) or [description])[0]
    # "Captain Mira is a 34-year-old airship captain ..." -> "A 34-year-old airship captain ...": who they are
    bare = re.sub(rf"^(?:{re.escape(name)}|{re.escape(said)})\s+(?:is|was)\s+", "", role)
    role = bare[:1].upper() + bare[1:] if bare != role else role
    role = role if len(role) <= 160 else role[:157].rsplit(" ", 1)[0] + "..."
    age = age_in(description, personality)
    persona: dict[str, Any] = {"id": pid, "name": name, **({"age": age} if age is not None else {})}
    persona |= {
        "role": role,
        "description": description,
        "voice": {"style": personality or "In their own words, as in the lines below.", "examples": examples},
        "boundaries": list(BOUNDARIES),
        "display": {"color": colour_of(name), "avatar": AVATARS[zlib.crc32(name.encode()) % len(AVATARS)]},
    }
    if age is not None:
        report.put(f"age: {age}, read from the description")
    else:
        report.put("age: the card does not say; none written (add one for a child: under 14 gets a child's refusals)")
    if greetings:
        persona["greetings"] = greetings[:20]
        report.put(f"first_mes and alternate greetings -> greetings ({len(greetings[:20])})")
    report.put("description -> description; its first sentence -> role; personality -> voice.style")
    report.put("boundaries: the stage's child-safe defaults added (a card has none)")
    _unplaced(d, card, report)
    sections = [*_book(d.get("character_book"), pid, shown, report, owner=pid, name=said)]
    if scenario:
        sections.append(Section(f"{pid}-scenario", f"{name}'s scenario", scenario, (pid,), tags=("scenario",)))
        report.put(f"scenario -> lore section '{pid}-scenario' (only {name} knows it)")
    return Character(persona, tuple(sections), _header(card, d), scenario)


def _greeting_lines(greeting: str, name: str, report: Report) -> list[str]:
    bare = re.sub(r"\s+", " ", _ACTION.sub(" ", greeting)).strip()
    return [s for s in (spoken(x, name, report, "first_mes") for x in sentences(bare, 12)) if s]


def _stored(d: Mapping[str, Any], report: Report) -> dict[str, Any]:
    ext = d.get("extensions") or {}
    stored = ext.get(EXTENSION, {}).get("persona") if isinstance(ext, dict) and isinstance(ext.get(EXTENSION), dict) else None
    if not isinstance(stored, dict):
        return {}
    report.put(f"extensions.{EXTENSION}: the persona this stage exported, restored whole (scenario and greetings too)")
    return dict(stored)


_USED = {
    "name", "nickname", "description", "personality", "scenario", "first_mes", "alternate_greetings",
    "group_only_greetings", "mes_example", "character_book", "extensions", "creator", "character_version",
    "tags", "creator_notes",
}  # fmt: skip
_WHY = {
    "system_prompt": "the stage writes its own prompt; a card's instructions never replace it",
    "post_history_instructions": "the stage writes its own prompt; a card's instructions never replace it",
    "assets": "images and sounds are not used; an export draws its own portrait",
    "creator_notes_multilingual": "notes for people, not the character",
    "source": "where the card came from: kept in the file's header",
    "creation_date": "kept in the file's header",
    "modification_date": "kept in the file's header",
}


def _unplaced(d: Mapping[str, Any], card: RawCard, report: Report) -> None:
    for key, value in d.items():
        if key in _USED or value in ("", [], {}, None):
            continue
        report.skip(f"{key}: no place here ({_WHY.get(key, 'the stage has no such field')})")
    ext = d.get("extensions") or {}
    if isinstance(ext, dict):
        for key, value in ext.items():
            if key != EXTENSION and value not in ("", [], {}, None):
                report.skip(f"extensions.{key}: no place here (another tool's setting)")


def _header(card: RawCard, d: Mapping[str, Any]) -> str:
    bits = [f"imported from {card.name} ({card.spec.value}, {card.container})"]
    for key in ("creator", "character_version", "source", "creation_date", "modification_date"):
        value = d.get(key)
        if value not in ("", [], None):
            bits.append(f"{key}: {', '.join(map(str, value)) if isinstance(value, list) else value}")
    if d.get("tags"):
        bits.append(f"tags: {', '.join(map(str, d['tags']))}")
    notes = str(d.get("creator_notes") or "").strip()
    lines = [f"# {b}" for b in bits]
    lines += [f"# creator's notes: {line}" for line in notes.splitlines()[:12] if line.strip()]
    return "\n".join(lines) + "\n"


def _book(book: Any, pid: str, shown: str, report: Report, *, owner: str | None, name: str = "") -> Iterable[Section]:
    """Lorebook entries (a card's character_book, a V3 lorebook or SillyTavern world info) as lore sections:
    visible to ``owner`` (everyone for a world book or a constant entry), from the first beat."""
    if book in (None, {}, []):
        return
    if not isinstance(book, dict):
        raise CardError(f"{shown}: character_book: expected an object with entries, got {type(book).__name__}")
    entries = book.get("entries", [])
    if isinstance(entries, dict):  # world info: {"0": {...}, "1": {...}}
        entries = [entries[k] for k in sorted(entries, key=lambda k: (len(str(k)), str(k)))]
    if not isinstance(entries, list):
        raise CardError(f"{shown}: entries: expected a list (or world info's numbered object) of entries")
    settings = sorted(k for k in book if k not in ("entries", "name", "description", "extensions") and book[k] not in (None, ""))
    if settings:
        report.skip(f"lorebook {', '.join(settings)}: no place here (the stage finds lore by meaning, not by scanning)")
    ignored: set[str] = set()
    taken: set[str] = set()
    for n, e in enumerate(entries):
        where = f"{shown}: entries[{n}]"
        if not isinstance(e, dict):
            raise CardError(f"{where}: expected an object, got {type(e).__name__}")
        content = e.get("content", "")
        if not isinstance(content, str):
            raise CardError(f"{where}.content: expected text, got {type(content).__name__}")
        if e.get("enabled") is False or e.get("disable") is True:
            report.skip(f"entries[{n}]: disabled in the card; not imported")
            continue
        constant = bool(e.get("constant"))
        body, decorators = _decorators(content)
        for name, _arg in decorators:
            if name not in _KEPT_DECORATORS:
                ignored.add(f"@@{name}")
        if "dont_activate" in {n for n, _ in decorators}:
            report.skip(f"entries[{n}]: @@dont_activate; {_KEPT_DECORATORS['dont_activate']}")
            continue
        constant = constant or "activate" in {n for n, _ in decorators}
        body = re.sub(r"^#{1,2}(?=\s)", "###", translate(body, name or "the character", report, f"entries[{n}]"), flags=re.MULTILINE)
        if not body.strip():
            report.skip(f"entries[{n}]: no text; not imported")
            continue
        keys = [str(k) for k in (e.get("keys") or e.get("key") or []) if isinstance(k, str | int)]
        title = str(e.get("name") or e.get("comment") or (keys[0] if keys else "") or f"Entry {n + 1}").strip()
        title = re.sub(r"\s+", " ", title)[:80]
        sid = slug(f"{pid}-{title}", taken, fallback="lore")
        taken.add(sid)
        terms = tuple(dict.fromkeys(k.strip().lower() for k in keys if len(k.strip()) >= 2))
        visible: tuple[str, ...] | str = "everyone" if constant or owner is None else (owner,)
        ext: dict[str, Any] = e["extensions"] if isinstance(e.get("extensions"), dict) else {}
        meta = ext[EXTENSION] if isinstance(ext.get(EXTENSION), dict) else None
        if meta and isinstance(meta.get("id"), str):  # this stage's own export: the section as it was
            vis = meta.get("visible_to")
            yield Section(
                meta["id"],
                title,
                body.strip(),
                "everyone" if vis in ("everyone", ["everyone"]) else tuple(vis or visible),
                terms,
                tuple(meta.get("tags") or ()),
                meta.get("from_beat") or 1,
            )
        else:
            yield Section(sid, title, body.strip(), visible, terms, ("lorebook",))
        for key in ("secondary_keys", "keysecondary", "use_regex"):
            if e.get(key):
                ignored.add(key)  # use_regex: the keys are patterns, kept as they are written
    if ignored:
        report.skip(f"lorebook entries' {', '.join(sorted(ignored))}: no place here (about when to insert text)")


def _decorators(content: str) -> tuple[str, list[tuple[str, str]]]:
    """V3 decorators (``@@name value`` lines at the top of an entry) and the text after them."""
    found: list[tuple[str, str]] = []
    lines = content.splitlines()
    while lines and (m := _DECORATOR.match(lines[0].strip())):
        found.append((m.group(2), m.group(3)))
        lines.pop(0)
    return "\n".join(lines), found


def book_sections(card: RawCard, prefix: str, report: Report) -> list[Section]:
    """A world-info file or V3 lorebook: everything in it is the world's, so everyone may know it."""
    sections = list(_book(card.data, prefix, card.name, report, owner=None))
    report.put(f"{card.spec.value}: {len(sections)} entries -> lore sections everyone knows, keys -> key_terms")
    return sections


def lore_markdown(title: str, sections: Iterable[Section]) -> str:
    out = [f"# {title}", ""]
    for s in sections:
        meta: dict[str, Any] = {
            "id": s.id,
            "tags": list(s.tags),
            "visible_to": s.visible_to if isinstance(s.visible_to, str) else list(s.visible_to),
            "from_beat": s.from_beat,
        }
        if s.key_terms:
            meta["key_terms"] = list(s.key_terms)
        block = yaml.safe_dump(meta, sort_keys=False, allow_unicode=True, default_flow_style=None, width=1000)
        out += [f"## {s.title}", "<!--", block.rstrip(), "-->", s.text, ""]
    return "\n".join(out)


def persona_yaml(c: Character) -> str:
    body = yaml.safe_dump(c.persona, sort_keys=False, allow_unicode=True, width=1000)
    return c.header + body


def one_beat_plot(title: str, cast: Mapping[str, Character], lore_ids: Iterable[str]) -> dict[str, Any]:
    """A story with no plot gets one open scene: everyone imported, present; it ends when someone says goodbye."""
    scenario = next((c.scenario for c in cast.values() if c.scenario), "")
    names = [str(c.persona["name"]) for c in cast.values()]
    return {
        "title": title,
        "beats": [
            {
                "id": BEAT,
                "position": 1,
                "title": f"With {' and '.join(names)}",
                "summary": scenario or f"A visitor talks with {' and '.join(names)}.",
                "location": f"Where {' and '.join(names)} {'is' if len(names) == 1 else 'are'}",
                "present": list(cast),
                "goals": {pid: "Talk with whoever is here, as yourself" for pid in cast},
                "exit": [{"description": "Someone says goodbye", "terms": ["goodbye", "bye", "see you"], "by": []}],
                "unlocks": list(lore_ids),
                "turn_budget": 200,
            }
        ],
    }
