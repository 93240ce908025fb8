"""Transcripts written before the seams were reshaped (persona edits as JSON in ``text``, no candidates, no cue)
still load, resume and replay: ``data/written-before-the-seams.jsonl`` was written by the stage as it was."""

from __future__ import annotations

import shutil
from pathlib import Path

from stage.agents.retrieval import KeywordRetriever
from stage.llm.scripted import ScriptedModel
from stage.replay import replay
from stage.scene import Scene, events_of
from stage.transcript import Action, Direction, Turn, read_events
from tests.scene.helpers import PARAMS

OLD = Path(__file__).parent / "data" / "written-before-the-seams.jsonl"


def test_it_loads_with_typed_directions_and_the_old_persona_edits(story) -> None:  # type: ignore[no-untyped-def]
    result = read_events(OLD)
    assert result.problems == []
    directions = [e for e in result.events if isinstance(e, Direction)]
    assert {d.action for d in directions} >= {Action.PERSONA, Action.WHISPER, Action.FORCE, Action.GOTO}
    persona = next(d for d in directions if d.action is Action.PERSONA)
    assert persona.edits == {} and persona.persona_edits() == {"style": "Speaks only in rhymes."}


def test_it_replays_event_for_event(story) -> None:  # type: ignore[no-untyped-def]
    outcome = replay(story, read_events(OLD).events, KeywordRetriever(story.lore))
    assert outcome.divergence == ""


def test_it_resumes_and_the_old_persona_edit_still_applies(story, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "old.jsonl"
    shutil.copy(OLD, path)
    model = ScriptedModel(seed=2)
    sc = Scene.resume(story, model, KeywordRetriever(story.lore), path, PARAMS)
    assert sc.state.persona_edits["theo"] == {"style": "Speaks only in rhymes."}
    before = len([e for e in sc.transcript.events if isinstance(e, Turn)])
    sc.direct("goto", "bedtime")
    sc.direct("force", "theo")
    events_of(sc.step())
    assert "Speaks only in rhymes." in model.calls[-1][0].content
    sc.transcript.close()
    after = read_events(path)
    assert after.problems == [] and len([e for e in after.events if isinstance(e, Turn)]) == before + 1
