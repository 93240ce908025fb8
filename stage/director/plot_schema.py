"""The plot file format (lore/plot.yaml): ordered beats as schema-checked data."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from stage.cast.schema import Id, Text
from stage.text import says_any
from stage.types import Beat, ExitCondition, Plot, frozen_map

Term = Annotated[str, StringConstraints(strip_whitespace=True, to_lower=True, min_length=1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ExitSchema(Strict):
    description: Text
    terms: list[Term] = Field(min_length=1)
    by: list[Id] = Field(default_factory=list)
    # the moment said as a character would say it (first person, one or two short sentences): offered by the
    # director as a candidate line once the beat is half gone and the moment has not happened
    line: str = Field(default="", max_length=240)

    @model_validator(mode="after")
    def _line_meets_the_condition(self) -> ExitSchema:
        if self.line and not says_any(self.line, self.terms):
            raise ValueError(
                f"line {self.line!r} holds none of the terms {self.terms}, so saying it would not meet the condition"
            )
        return self


class BeatSchema(Strict):
    id: Id
    position: int = Field(ge=1)
    title: Text
    summary: Text
    location: Text
    present: list[Id] = Field(min_length=1)
    goals: dict[Id, Text]
    exit: list[ExitSchema] = Field(min_length=1)
    unlocks: list[Id] = Field(default_factory=list)
    turn_budget: int = Field(ge=1, le=500)
    min_turns: int = Field(default=2, ge=0, le=500)


class PlotSchema(Strict):
    title: Text
    setting: str = Field(default="", max_length=200)  # "Corvale, a city of 2085": every character knows it
    beats: list[BeatSchema] = Field(min_length=1, max_length=50)

    def to_plot(self, source: str) -> Plot:
        beats = tuple(
            Beat(
                id=b.id,
                position=b.position,
                title=b.title,
                summary=b.summary,
                location=b.location,
                present=tuple(b.present),
                goals=frozen_map(b.goals),
                exit=tuple(ExitCondition(e.description, tuple(e.terms), tuple(e.by), e.line.strip()) for e in b.exit),
                unlocks=tuple(b.unlocks),
                turn_budget=b.turn_budget,
                min_turns=b.min_turns,
            )
            for b in self.beats
        )
        return Plot(title=self.title, beats=beats, source=source, setting=self.setting.strip())
