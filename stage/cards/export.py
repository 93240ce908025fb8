"""``stage export``: a persona as a Character Card V2 or V3 (JSON, or a PNG portrait carrying both), and the
story's lore as SillyTavern world info. Other tools read the standard fields; this stage also keeps the whole
persona under ``extensions.dream_stage``, so importing an export gives back the same persona."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

from stage.cards.to_story import EXTENSION
from stage.types import EVERYONE, LoreSection, Persona, Story


def persona_fields(p: Persona) -> dict[str, Any]:
    """The persona as its file says it (the optional fields only when they hold something)."""
    v = p.voice
    voice: dict[str, Any] = {"style": v.style}
    for key, value in (("sentence_length", v.sentence_length), ("vocabulary", v.vocabulary)):
        if value:
            voice[key] = value
    for key, items in (("tics", v.tics), ("never_says", v.never_says)):
        if items:
            voice[key] = list(items)
    voice["examples"] = list(v.examples)
    out: dict[str, Any] = {"id": p.id, "name": p.name}
    if p.age is not None:
        out["age"] = p.age
    out |= {"role": p.role, "description": p.description, "voice": voice}
    optional: dict[str, Any] = {
        "goals": list(p.goals),
        "fears": list(p.fears),
        "secrets": [{"text": s.text, "known_by": list(s.known_by)} for s in p.secrets],
        "relationships": dict(p.relationships),
        "knows_at_start": list(p.knows_at_start),
        "arc": dict(p.arc),
    }
    out |= {k: v for k, v in optional.items() if v}
    out |= {"boundaries": list(p.boundaries), "display": {"color": p.color, "avatar": p.avatar}}
    if p.greetings:
        out["greetings"] = list(p.greetings)
    return out


def _private_lore(p: Persona, story: Story) -> list[LoreSection]:
    return [s for s in story.lore if s.visible_to != (EVERYONE,) and p.id in s.visible_to]


def _entry(n: int, s: LoreSection, story: Story, *, v3: bool) -> dict[str, Any]:
    e: dict[str, Any] = {
        "keys": list(s.key_terms) or [s.title.lower()],
        "content": s.text,
        "extensions": {EXTENSION: _lore_meta(s, story)},
        "enabled": True,
        "insertion_order": n,
        "case_sensitive": False,
        "name": s.title,
        "id": n,
        "comment": s.title,
        "constant": s.visible_to == (EVERYONE,),
    }
    if v3:
        e["use_regex"] = False
    return e


def _lore_meta(s: LoreSection, story: Story) -> dict[str, Any]:
    # the beat by id, not position: another story's third beat is not this one's
    beat = story.plot.beats[s.from_beat - 1].id if 0 < s.from_beat <= len(story.plot.beats) else s.from_beat
    return {"id": s.id, "visible_to": list(s.visible_to), "from_beat": beat, "tags": list(s.tags)}


def card(p: Persona, story: Story, *, v3: bool = False) -> dict[str, Any]:
    """Character Card V2 (or V3) for ``p``: the standard fields filled, the persona kept under extensions."""
    beat = next((b for b in story.plot.beats if p.id in b.present), None)
    greetings = list(p.greetings) or [p.voice.examples[0]]
    data: dict[str, Any] = {
        "name": p.name,
        "description": p.description,
        "personality": p.voice.style,
        "scenario": beat.summary if beat else "",
        "first_mes": greetings[0],
        "mes_example": "".join(f"<START>\n{{{{char}}}}: {line}\n" for line in p.voice.examples),
        "creator_notes": f"{p.role} From the story '{story.plot.title}', exported by the stage.",
        "system_prompt": "",
        "post_history_instructions": "",
        "alternate_greetings": greetings[1:],
        "tags": ["dream-stage"],
        "creator": "",
        "character_version": "1",
        "extensions": {EXTENSION: {"persona": persona_fields(p), "story": story.plot.title}},
    }
    lore = _private_lore(p, story)
    if lore:
        data["character_book"] = {
            "name": f"{p.name}'s lore",
            "extensions": {},
            "entries": [_entry(n, s, story, v3=v3) for n, s in enumerate(lore)],
        }
    if not v3:
        return {"spec": "chara_card_v2", "spec_version": "2.0", "data": data}
    data |= {
        "group_only_greetings": [],
        "assets": [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}],
        "nickname": "",
        "source": [],
    }
    return {"spec": "chara_card_v3", "spec_version": "3.0", "data": data}


def world_info(story: Story) -> dict[str, Any]:
    """The story's lore as SillyTavern world info: one entry per section, keys from its key terms."""
    entries = {}
    for n, s in enumerate(story.lore):
        entries[str(n)] = {
            "uid": n,
            "key": list(s.key_terms) or [s.title.lower()],
            "keysecondary": [],
            "comment": s.title,
            "content": s.text,
            "constant": s.visible_to == (EVERYONE,),
            "selective": False,
            "order": 100,
            "position": 0,
            "disable": False,
            "extensions": {EXTENSION: _lore_meta(s, story)},
        }
    return {"name": story.plot.title, "entries": entries}


def portrait_png(p: Persona, story: Story, *, size: tuple[int, int] = (400, 600)) -> bytes:
    """A portrait tile in the persona's colour with their initial, carrying the card as V2 (``chara``) and V3
    (``ccv3``) text chunks, so older and newer readers both find it."""
    from PIL import Image, ImageDraw, ImageFont
    from PIL.PngImagePlugin import PngInfo

    img = Image.new("RGB", size, p.color)
    draw = ImageDraw.Draw(img)
    font = ImageFont.load_default(size=size[1] // 3)
    draw.text((size[0] / 2, size[1] / 2), p.name[:1].upper(), fill="white", font=font, anchor="mm")
    info = PngInfo()
    for chunk, v3 in (("chara", False), ("ccv3", True)):
        text = json.dumps(card(p, story, v3=v3), ensure_ascii=False)
        info.add_text(chunk, base64.b64encode(text.encode("utf-8")).decode("ascii"))
    out = io.BytesIO()
    img.save(out, format="PNG", pnginfo=info)
    return out.getvalue()
