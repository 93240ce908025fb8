"""The persona file format (pydantic, ``extra="forbid"``): what writers may put in characters/*.yaml."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from stage.types import Persona, Secret, Voice, frozen_map

Id = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_-]*$", max_length=40)]
Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1)]
Color = Annotated[str, StringConstraints(pattern=r"^#[0-9a-fA-F]{6}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class VoiceSchema(Strict):
    style: Text
    sentence_length: Text
    vocabulary: Text
    tics: list[Text] = Field(min_length=1, max_length=8)
    never_says: list[Text] = Field(min_length=1, max_length=8)
    examples: list[Text] = Field(min_length=4, max_length=8)


class SecretSchema(Strict):
    text: Text
    known_by: list[Id] = Field(default_factory=list)


class DisplaySchema(Strict):
    color: Color
    avatar: Annotated[str, StringConstraints(min_length=1, max_length=8)]


class PersonaSchema(Strict):
    id: Id
    name: Text
    age: int = Field(ge=1, le=120)
    role: Text
    description: Text
    voice: VoiceSchema
    goals: list[Text] = Field(min_length=1)
    fears: list[Text] = Field(min_length=1)
    secrets: list[SecretSchema] = Field(default_factory=list)
    relationships: dict[Id, Text]
    knows_at_start: list[Text] = Field(min_length=1)
    arc: dict[Id, Text] = Field(min_length=1)
    boundaries: list[Text] = Field(min_length=1)
    display: DisplaySchema

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
        )
