"""The persona file format (pydantic, ``extra="forbid"``): what writers may put in characters/*.yaml."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from stage.datafile import validate
from stage.errors import DataError
from stage.types import Persona, Secret, Voice, frozen_map

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VoiceSchema(Strict):
    style: Text
    # how long and with which words: the style says most of it, and an imported card has neither
    sentence_length: str = ""
    vocabulary: str = ""
    tics: list[Text] = Field(default_factory=list, max_length=8)
    never_says: list[Text] = Field(default_factory=list, max_length=8)
    examples: list[Text] = Field(min_length=4, max_length=8)  # the scorer's voice and the fallback lines


class SecretSchema(Strict):
    text: Text
    known_by: list[Id] = Field(default_factory=list)


class DisplaySchema(Strict):
    color: Color
    avatar: Annotated[str, StringConstraints(min_length=1, max_length=8)]


class PersonaSchema(Strict):
    id: Id
    name: Text
    age: int | None = Field(default=None, ge=1, le=120)  # a child (under 14) gets a child's refusals
    role: Text
    description: Text
    voice: VoiceSchema
    # what a character wants, fears and knows goes into their sheet; none of it is required, because a
    # character imported from a card has only what the card says (story.py asks for a relationship with
    # everyone they share a beat with)
    goals: list[Text] = Field(default_factory=list)
    fears: list[Text] = Field(default_factory=list)
    secrets: list[SecretSchema] = Field(default_factory=list)
    relationships: dict[Id, Text] = Field(default_factory=dict)
    knows_at_start: list[Text] = Field(default_factory=list)
    arc: dict[Id, Text] = Field(default_factory=dict)
    boundaries: list[Text] = Field(min_length=1)  # the content policy's stricter bar for this character
    display: DisplaySchema
    greetings: list[Text] = Field(default_factory=list, max_length=20)  # opening lines, as cards have them

    def to_persona(self, source: str) -> Persona:
        v = self.voice
        return Persona(
            id=self.id,
            name=self.name,
            age=self.age,
            role=self.role,
            description=self.description,
            voice=Voice(
                v.style,
                v.sentence_length,
                v.vocabulary,
                tuple(v.tics),
                tuple(v.never_says),
                tuple(v.examples),
            ),
            goals=tuple(self.goals),
            fears=tuple(self.fears),
            secrets=tuple(Secret(s.text, tuple(s.known_by)) for s in self.secrets),
            relationships=frozen_map(self.relationships),
            knows_at_start=tuple(self.knows_at_start),
            arc=frozen_map(self.arc),
            boundaries=tuple(self.boundaries),
            color=self.display.color,
            avatar=self.display.avatar,
            source=source,
            greetings=tuple(self.greetings),
        )


def persona_of(data: Mapping[str, Any], source: str) -> Persona:
    """A persona from its file's fields (a card's, or an ``arrival`` event's), or ``DataError`` naming each field."""
    problems: list[str] = []
    schema = validate(PersonaSchema, dict(data), source, None, problems)
    if schema is None:
        raise DataError(problems)
    return schema.to_persona(source)
