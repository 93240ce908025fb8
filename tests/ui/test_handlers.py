"""The page's handlers on the scripted model, without a server: sessions, streaming, errors, writers' tools."""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stage import runtime
from stage.llm import params_from
from stage.llm.limits import Gate, Limited
from stage.llm.scripted import ScriptedModel, failing
from stage.llm.wrappers import Retrying
from stage.settings import Settings
from stage.transcript import read_events
from stage.ui.handlers import Handlers
from stage.ui.session import Session, Sessions, Stage
from tests.ui.chatlog import Log
from tests.ui.conftest import held_open


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
        Retrying(Limited(scripted, Gate("the scripted backend", 2)), retries=0, backoff=0.0),  # as make_model
        runtime.keyword_retriever(story),
        params_from(settings),
    )
    sessions = Sessions(stage)
    yield Handlers(stage, sessions), scripted
    sessions.close_all()


class Tab:
    """One browser tab, as Gradio drives the handlers: its ``gr.State`` value goes in as the last argument,
    and the last output is the new value (``gr.skip()`` keeps the old one). ``tab.play(...)`` calls
    ``Handlers.play`` so; what comes back is what the page (or gradio_client) gets, the State left out."""

    def __init__(self, h: Handlers) -> None:
        self.h = h
        self.session: Session | None = None

    def _shown(self, out: tuple[Any, ...]) -> Any:
        *shown, state = out
        if isinstance(state, Session):
            self.session = state
        return shown[0] if len(shown) == 1 else tuple(shown)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        handler = getattr(self.h, name)

        def call(*args: Any) -> Any:
            result = handler(*args, self.session)
            if isinstance(result, tuple):
                return self._shown(result)
            if isinstance(result, Iterator):
                return (self._shown(out) for out in result)
            return result  # a read that hands no State back (persona_value)

        return call

    @property
    def transcript(self) -> Path:
        assert self.session is not None and self.session.scene is not None
        path = self.session.scene.transcript.path
        assert path is not None
        return path


def last(outputs: Iterator[tuple[Any, ...]]) -> tuple[Any, ...]:
    *_, final = outputs
    return final


def speakers(tab: Tab) -> list[str]:
    return [e["speaker"] for e in tab.events() if e["kind"] == "turn"]


def test_sessions_are_lazy_isolated_and_write_their_own_transcript(
    setup: tuple[Handlers, ScriptedModel],
) -> None:
    h, _ = setup
    a, b = Tab(h), Tab(h)
    assert a.events() == [] and a.session is None  # a read creates no session, a visit starts no scene
    last(a.play("bedtime", 0, 3))
    assert a.session is not None and len(speakers(a)) == 3 and b.events() == []
    assert a.transcript.parent == h.stage.library.shelf(a.session.owner)  # on the session's own shelf
    assert [e.seq for e in read_events(a.transcript).events] == [e["seq"] for e in a.events()]
    assert not Log.of(b.load_page()[1]).turns()
    assert b.session is not None and b.session is not a.session and b.session.scene is None
    assert len(h.sessions) == 2


def test_a_session_gradio_deletes_is_closed_and_the_tab_starts_afresh(
    setup: tuple[Handlers, ScriptedModel],
) -> None:
    h, _ = setup
    a, b = Tab(h), Tab(h)
    last(a.step("bedtime"))
    last(b.step("bedtime"))
    assert a.session is not None
    old, path, exports = a.session, a.transcript, a.session.exports
    assert held_open(path) and any(exports.glob("scene-*.jsonl"))
    h.sessions.delete(old)  # what gr.State(delete_callback=...) does once the tab has gone or sat idle
    assert old.closed and not held_open(path) and not exports.exists()
    assert len(h.sessions) == 1 and held_open(b.transcript)  # the other tab is untouched
    lines = path.read_text().count("\n")
    last(a.step("bedtime"))  # a late event of that tab gets a new session, not the closed one
    assert a.session is not old and a.transcript != path and len(speakers(a)) == 1
    assert path.read_text().count("\n") == lines
    h.sessions.delete(None)  # Gradio passes whatever the State held; nothing happens, nothing raises
    h.sessions.delete("not a session")


def test_a_failing_close_is_logged_not_raised(
    setup: tuple[Handlers, ScriptedModel], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The callback runs on Gradio's event loop, in its state-expiry task: an exception would end that task."""
    h, _ = setup
    a = Tab(h)
    a.load_page()

    def broken(self: Session) -> None:
        raise OSError("disk gone")

    monkeypatch.setattr(Session, "close", broken)
    h.sessions.delete(a.session)
    assert "could not close the session" in caplog.text and len(h.sessions) == 0


def test_a_session_dropped_without_its_callback_is_released_when_collected(
    setup: tuple[Handlers, ScriptedModel],
) -> None:
    """Gradio drops the least recently used sessions beyond ``state_session_capacity`` without calling the
    delete callback; the registry is weak, so the session is collected and its file closed."""
    h, _ = setup
    a = Tab(h)
    last(a.step("bedtime"))
    assert a.session is not None
    path, exports = a.transcript, a.session.exports
    a.session = None
    gc.collect()
    assert len(h.sessions) == 0 and not held_open(path) and not exports.exists()


def test_shutdown_closes_every_live_session(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, _ = setup
    tabs = [Tab(h) for _ in range(3)]
    for tab in tabs:
        last(tab.step("bedtime"))
    paths = [tab.transcript for tab in tabs]
    assert len(set(paths)) == 3 and all(held_open(p) for p in paths)
    h.sessions.close_all()
    assert not any(held_open(p) for p in paths) and len(h.sessions) == 0
    assert all(tab.session is not None and tab.session.closed for tab in tabs)
    assert not any((h.stage.exports).iterdir())


@pytest.mark.parametrize("setup", [0.04], indirect=True)
def test_a_turn_streams_token_by_token(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, scripted = setup
    scripted.enqueue("one two three four five six seven eight")
    renders = [Log.of(out[1]) for out in Tab(h).step("bedtime")]
    grown = [p for p in (r.pending() for r in renders) if p is not None and p.endswith("▍")]
    assert len(set(grown)) >= 3, "expected several partial renders while the turn streamed"
    assert renders[-1].pending() is None
    assert "one two three four five six seven eight" in renders[-1]


def test_play_stops_at_the_turn_cap_and_on_pause(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, _ = setup
    p = Tab(h)
    final = last(p.play("bedtime", 0, 2))
    assert len(speakers(p)) == 2 and "Played 2 turn(s)" in final[2]
    play = p.play("bedtime", 0, 10)
    for n, _ in enumerate(play):
        if n == 2:
            p.pause()
    assert 2 < len(speakers(p)) < 12


def test_a_model_error_is_shown_and_the_next_step_works(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, scripted = setup
    e = Tab(h)
    scripted.enqueue(failing("the endpoint fell over"))
    out = last(e.step("bedtime"))
    assert (
        "status-error" in out[2] and "The model did not answer" in out[2] and "Press Play or Step" in out[2]
    )
    assert "The model did not answer" in Log.of(out[1])
    out = last(e.step("bedtime"))
    assert "status-error" not in out[2] and len(speakers(e)) == 1
    kinds = [ev["kind"] for ev in e.events()]
    assert kinds.count("error") == 1 and kinds[-1] in ("turn", "narration")


def test_naming_a_character_gets_their_answer(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, _ = setup
    j = Tab(h)
    out = last(j.send("bedtime", "Ann", "", "Zara, is the band tuned?"))
    events = j.events()
    user = next(i for i, e in enumerate(events) if e["kind"] == "user")
    assert events[user]["name"] == "Ann"
    assert next(e for e in events[user:] if e["kind"] == "turn")["speaker"] == "zara"
    assert out[-1] == "" and Log.of(out[1]).spoken_by("Ann")[0].endswith("Zara, is the band tuned?")


def test_a_person_playing_a_character_is_never_picked_by_the_director(
    setup: tuple[Handlers, ScriptedModel],
) -> None:
    h, _ = setup
    t = Tab(h)
    t.speak_as("bedtime", "theo")
    last(t.send("bedtime", "", "theo", "Goodnight, sweetheart."))
    last(t.play("bedtime", 0, 4))
    events = t.events()
    assert any(e["kind"] == "user" and e["as_character"] == "theo" for e in events)
    assert "theo" not in speakers(t)
    t.speak_as("bedtime", "")  # back to a visitor: Theo is the director's again
    assert [e["action"] for e in t.events() if e["kind"] == "direction"] == ["take", "release"]


def test_refused_input_keeps_the_text_and_says_why(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, _ = setup
    out = last(Tab(h).send("bedtime", "Ann", "", "   "))
    assert "status-error" in out[2] and "empty" in out[2]
    assert out[-1] is not None and out[-1] != ""  # gr.skip(): the box keeps what was typed


def test_writers_controls_change_the_scene(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, scripted = setup
    d, other = Tab(h), Tab(h)
    out = d.inject("bedtime", "A siren wails outside.")
    assert "✎ _writer_\n\nA siren wails outside." in Log.of(out[1]) and out[-1] == ""
    d.force("bedtime", "zara")
    last(d.step("bedtime"))
    assert speakers(d) == ["zara"]
    d.whisper("bedtime", "theo", "Mention the rollout.")
    d.edit_persona("bedtime", "theo", "style", "Speaks only in questions.")
    assert d.persona_value("theo", "style") == "Speaks only in questions."
    assert other.persona_value("theo", "style") != "Speaks only in questions."
    assert other.session is None  # reading a persona field creates no session
    d.force("bedtime", "theo")
    last(d.step("bedtime"))
    prompt = json.dumps([m.content for m in scripted.calls[-1]])
    assert "Speaks only in questions." in prompt and "Mention the rollout." in prompt
    d.add("bedtime", "camille")
    out = d.remove("bedtime", "zara")
    assert 'data-character="camille"' in out[0] and 'data-character="zara"' not in out[0]
    out = d.goto("bedtime", "dream-meet")
    assert 'data-beat="dream-meet"' in out[0] and "Moved to beat 2" in out[2]
    out = d.force("bedtime", "camille")
    assert "status-error" in out[2] and "not in this scene" in out[2]


def test_a_saved_transcript_loads_replays_and_continues(
    setup: tuple[Handlers, ScriptedModel], tmp_path: Path
) -> None:
    h, _ = setup
    old, new = Tab(h), Tab(h)
    last(old.play("bedtime", 0, 3))
    saved = tmp_path / "saved.jsonl"
    saved.write_bytes(old.transcript.read_bytes())
    outputs = list(new.load(str(saved)))
    assert len(outputs) > 3, "the transcript is replayed onto the page, event by event"
    assert len(Log.of(outputs[0][1]).turns()) < len(Log.of(outputs[-1][1]).turns()) == 3
    assert "Loaded" in outputs[-1][2] and "press Play to continue" in outputs[-1][2]
    assert new.events() == old.events()
    last(new.step("bedtime"))
    assert len(speakers(new)) == 4 and len(speakers(old)) == 3
    continued = read_events(new.transcript).events
    assert [e.seq for e in continued] == list(range(1, len(continued) + 1))

    bad = tmp_path / "bad.jsonl"
    bad.write_text("hello\n")
    out = last(new.load(str(bad)))
    assert "status-error" in out[2] and "bad.jsonl" in out[2]
    assert len(speakers(new)) == 4  # a failed load leaves the scene as it was


def test_a_scene_waits_its_turn_while_another_scene_is_generating(
    setup: tuple[Handlers, ScriptedModel],
) -> None:
    h, _ = setup
    w = Tab(h)
    gate = h.stage.model.inner.gate  # type: ignore[attr-defined]
    others = [gate.join() for _ in range(gate.limit)]  # other sessions' characters hold every slot
    assert all(gate.try_admit(t) for t in others)
    stepping = w.step("bedtime")
    first = next(stepping)
    while "waiting for the model" not in Log.of(first[1]):  # the director's pick and the prompt come first
        first = next(stepping)
    assert first[3] is not None
    for t in others:
        gate.leave(t)
    rest = list(stepping)
    assert "waiting for the model" not in Log.of(rest[-1][1]) and len(speakers(w)) == 1


def test_pause_while_idle_and_restart(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, _ = setup
    x = Tab(h)
    last(x.play("bedtime", 0, 2))
    assert "Paused" not in x.pause()[2]  # nothing was playing
    out = x.restart("dream-meet")
    assert 'data-beat="dream-meet"' in out[0] and not Log.of(out[1]).turns()
    assert x.session is not None and len(h.stage.library.entries(x.session.owner)) == 2  # both kept


@pytest.mark.parametrize("setup", [0.02], indirect=True)
def test_unsafe_words_are_not_shown_while_they_stream(setup: tuple[Handlers, ScriptedModel]) -> None:
    h, scripted = setup
    scripted.enqueue("Well the gore was everywhere and more words follow here", "A calm and kind reply.")
    renders = [Log.of(out[1]) for out in Tab(h).step("bedtime")]
    assert not any("gore" in r for r in renders)
    assert any("held back by the content policy" in r for r in renders)
    assert "A calm and kind reply." in renders[-1]
