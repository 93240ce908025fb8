"""The page's handlers on the scripted model, without a server: sessions, streaming, errors, writers' tools."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from stage import runtime
from stage.llm import params_from
from stage.llm.scripted import ScriptedModel, failing
from stage.llm.wrappers import Metered, Retrying
from stage.settings import Settings
from stage.transcript import read_events
from stage.ui.handlers import Handlers
from stage.ui.session import Sessions, Stage


@pytest.fixture
def setup(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Handlers, ScriptedModel]]:
    """Handlers on the scripted model; ``@pytest.mark.parametrize("setup", [delay], indirect=True)`` slows
    its tokens down."""
    settings = Settings(backend="scripted", home=tmp_path, seed=7, retries=0, backoff=0.0)
    story = runtime.story(settings)
    scripted = ScriptedModel(seed=7, delay=getattr(request, "param", 0.0))
    stage = Stage(
        settings,
        story,
        Metered(Retrying(scripted, retries=0, backoff=0.0)),
        runtime.keyword_retriever(story),
        params_from(settings),
    )
    sessions = Sessions(stage)
    yield Handlers(stage, sessions), scripted
    sessions.close_all()


def req(key: str) -> Any:
    return SimpleNamespace(session_hash=key)


def last(outputs: Iterator[tuple[Any, ...]]) -> tuple[Any, ...]:
    *_, final = outputs
    return final


def speakers(h: Handlers, key: str) -> list[str]:
    return [e["speaker"] for e in h.events(req(key)) if e["kind"] == "turn"]


def test_sessions_are_lazy_isolated_and_write_their_own_transcript(
    setup: tuple[Handlers, ScriptedModel],
) -> None:
    h, _ = setup
    assert h.events(req("tab-a")) == []  # a visit alone starts no scene
    last(h.play("bedtime", 0, 3, req("tab-a")))
    assert len(speakers(h, "tab-a")) == 3 and h.events(req("tab-b")) == []
    path = h.stage.settings.home / "transcripts" / "ui-tab-a.jsonl"
    assert [e.seq for e in read_events(path).events] == [e["seq"] for e in h.events(req("tab-a"))]
    page_b = h.load_page(req("tab-b"))[1]
    assert 'data-kind="turn"' not in page_b


@pytest.mark.parametrize("setup", [0.04], indirect=True)
def test_a_turn_streams_token_by_token(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, scripted = setup
    scripted.enqueue("one two three four five six seven eight")
    renders = [out[1] for out in h.step("bedtime", req("s"))]
    partial = [r for r in renders if 'data-kind="pending"' in r]
    texts = [
        re.search(r'data-kind="pending".*?class="text">(.*?)<span class="cursor"', r, re.S) for r in partial
    ]
    grown = [m.group(1) for m in texts if m]
    assert len(set(grown)) >= 3, "expected several partial renders while the turn streamed"
    assert (
        'data-kind="pending"' not in renders[-1] and "one two three four five six seven eight" in renders[-1]
    )


def test_play_stops_at_the_turn_cap_and_on_pause(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, _ = setup
    final = last(h.play("bedtime", 0, 2, req("p")))
    assert len(speakers(h, "p")) == 2 and "Played 2 turn(s)" in final[2]
    play = h.play("bedtime", 0, 10, req("p"))
    for n, _ in enumerate(play):
        if n == 2:
            h.pause(req("p"))
    assert 2 < len(speakers(h, "p")) < 12


def test_a_model_error_is_shown_and_the_next_step_works(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, scripted = setup
    scripted.enqueue(failing("the endpoint fell over"))
    out = last(h.step("bedtime", req("e")))
    assert (
        "status-error" in out[2] and "The model did not answer" in out[2] and "Press Play or Step" in out[2]
    )
    assert 'data-kind="error"' in out[1]
    out = last(h.step("bedtime", req("e")))
    assert "status-error" not in out[2] and len(speakers(h, "e")) == 1
    kinds = [e["kind"] for e in h.events(req("e"))]
    assert kinds.count("error") == 1 and kinds[-1] in ("turn", "narration")


def test_naming_a_character_gets_their_answer(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, _ = setup
    out = last(h.send("bedtime", "Ann", "", "Zara, is the band tuned?", req("j")))
    events = h.events(req("j"))
    user = next(i for i, e in enumerate(events) if e["kind"] == "user")
    assert events[user]["name"] == "Ann"
    assert next(e for e in events[user:] if e["kind"] == "turn")["speaker"] == "zara"
    assert out[-1] == "" and 'data-speaker="visitor:Ann"' in out[1]


def test_a_person_playing_a_character_is_never_picked_by_the_director(
    setup: tuple[Handlers, ScriptedModel],
) -> None:
    h, _ = setup
    h.speak_as("bedtime", "theo", req("t"))
    last(h.send("bedtime", "", "theo", "Goodnight, sweetheart.", req("t")))
    last(h.play("bedtime", 0, 4, req("t")))
    events = h.events(req("t"))
    assert any(e["kind"] == "user" and e["as_character"] == "theo" for e in events)
    assert "theo" not in speakers(h, "t")
    h.speak_as("bedtime", "", req("t"))  # back to a visitor: Theo is the director's again
    assert [e["action"] for e in h.events(req("t")) if e["kind"] == "direction"] == ["take", "release"]


def test_refused_input_keeps_the_text_and_says_why(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, _ = setup
    out = last(h.send("bedtime", "Ann", "", "   ", req("r")))
    assert "status-error" in out[2] and "empty" in out[2]
    assert out[-1] is not None and out[-1] != ""  # gr.skip(): the box keeps what was typed


def test_writers_controls_change_the_scene(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, scripted = setup
    out = h.inject("bedtime", "A siren wails outside.", req("d"))
    assert 'data-source="writer"' in out[1] and "A siren wails outside." in out[1] and out[-1] == ""
    h.force("bedtime", "zara", req("d"))
    last(h.step("bedtime", req("d")))
    assert speakers(h, "d") == ["zara"]
    h.whisper("bedtime", "theo", "Mention the rollout.", req("d"))
    h.edit_persona("bedtime", "theo", "style", "Speaks only in questions.", req("d"))
    assert h.persona_value("theo", "style", req("d")) == "Speaks only in questions."
    assert h.persona_value("theo", "style", req("other")) != "Speaks only in questions."
    h.force("bedtime", "theo", req("d"))
    last(h.step("bedtime", req("d")))
    prompt = json.dumps([m.content for m in scripted.calls[-1]])
    assert "Speaks only in questions." in prompt and "Mention the rollout." in prompt
    h.add("bedtime", "camille", req("d"))
    out = h.remove("bedtime", "zara", req("d"))
    assert 'data-character="camille"' in out[0] and 'data-character="zara"' not in out[0]
    out = h.goto("bedtime", "dream-meet", req("d"))
    assert 'data-beat="dream-meet"' in out[0] and "Moved to beat 2" in out[2]
    out = h.force("bedtime", "camille", req("d"))
    assert "status-error" in out[2] and "not in this scene" in out[2]


def test_a_saved_transcript_loads_replays_and_continues(
    setup: tuple[Handlers, ScriptedModel], tmp_path: Path
) -> None:
    h, _ = setup
    last(h.play("bedtime", 0, 3, req("old")))
    saved = tmp_path / "saved.jsonl"
    saved.write_bytes((h.stage.settings.home / "transcripts" / "ui-old.jsonl").read_bytes())
    outputs = list(h.load(str(saved), req("new")))
    assert len(outputs) > 3, "the transcript is replayed onto the page, event by event"
    assert outputs[0][1].count('data-kind="turn"') < outputs[-1][1].count('data-kind="turn"') == 3
    assert "Loaded" in outputs[-1][2] and "press Play to continue" in outputs[-1][2]
    assert h.events(req("new")) == h.events(req("old"))
    last(h.step("bedtime", req("new")))
    assert len(speakers(h, "new")) == 4 and len(speakers(h, "old")) == 3
    continued = read_events(h.stage.settings.home / "transcripts" / "ui-new.jsonl").events
    assert [e.seq for e in continued] == list(range(1, len(continued) + 1))

    bad = tmp_path / "bad.jsonl"
    bad.write_text("hello\n")
    out = last(h.load(str(bad), req("new")))
    assert "status-error" in out[2] and "bad.jsonl" in out[2]
    assert len(speakers(h, "new")) == 4  # a failed load leaves the scene as it was


def test_a_scene_waits_its_turn_while_another_scene_is_generating(
    setup: tuple[Handlers, ScriptedModel],
) -> None:
    h, _ = setup
    with h.stage.turn_lock:  # another session's character is speaking
        stepping = h.step("bedtime", req("w"))
        first = next(stepping)
        assert "waiting for the model" in first[1] and first[3] is not None
    rest = list(stepping)
    assert "waiting for the model" not in rest[-1][1] and len(speakers(h, "w")) == 1


def test_pause_while_idle_and_restart(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, _ = setup
    last(h.play("bedtime", 0, 2, req("x")))
    assert "Paused" not in h.pause(req("x"))[2]  # nothing was playing
    out = h.restart("dream-meet", req("x"))
    assert 'data-beat="dream-meet"' in out[0] and 'data-kind="turn"' not in out[1]
    assert (h.stage.settings.home / "transcripts" / "ui-x-2.jsonl").exists()


@pytest.mark.parametrize("setup", [0.02], indirect=True)
def test_unsafe_words_are_not_shown_while_they_stream(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, scripted = setup
    scripted.enqueue("Well the gore was everywhere and more words follow here", "A calm and kind reply.")
    renders = [out[1] for out in h.step("bedtime", req("u"))]
    assert not any("gore" in r for r in renders)
    assert any("held back by the content policy" in r for r in renders)
    assert "A calm and kind reply." in renders[-1]
