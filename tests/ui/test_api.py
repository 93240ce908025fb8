"""The launched app through ``gradio_client``: watch, join, direct, isolation, downloads and page safety."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from stage import runtime
from stage.llm.scripted import ScriptedModel
from stage.settings import Settings
from stage.ui.app import parse_auth
from stage.ui.session import SESSION_TTL_S, Session
from tests.ui.chatlog import Log
from tests.ui.conftest import Served, held_open, serve, stop, wait_for


def client(app: Served) -> Client:
    return Client(app.url, verbose=False, analytics_enabled=False, download_files=False)


def turns(c: Client) -> list[dict[str, Any]]:
    return [e for e in c.predict(api_name="/events") if e["kind"] == "turn"]


def test_watch_streams_turns_from_several_speakers(scripted_app: Served) -> None:
    c = client(scripted_app)
    job = c.submit("bedtime", 0, 4, api_name="/play")
    final = job.result(timeout=60)
    updates = job.outputs()
    assert len(updates) > 4, "play streams partial renders, not only the end result"
    assert any(Log.of(u[1]).pending() is not None for u in updates)
    said = turns(c)
    assert len(said) == 4 and len({t["speaker"] for t in said}) >= 2
    assert all(t["text"] and t["reason"] for t in said)
    assert "Played 4 turn(s)" in final[2]
    assert len(Log.of(final[1]).turns()) == 4


def test_join_gets_the_named_characters_reply(scripted_app: Served) -> None:
    c = client(scripted_app)
    final = c.predict("bedtime", "Ann", "", "Theo, are you still on shift?", api_name="/send")
    events = c.predict(api_name="/events")
    line = next(i for i, e in enumerate(events) if e["kind"] == "user")
    reply = next(e for e in events[line:] if e["kind"] == "turn")
    assert events[line]["name"] == "Ann" and reply["speaker"] == "theo"
    assert "was addressed by name" in reply["reason"]
    assert final[-1] == ""  # the message box is cleared


def test_two_sessions_never_see_each_other(scripted_app: Served) -> None:
    a, b = client(scripted_app), client(scripted_app)
    a.predict("bedtime", "Ann", "", "Lyra, a secret from tab A.", api_name="/send")
    b.predict("bedtime", 0, 2, api_name="/play")
    b_page = b.predict(api_name="/page")
    assert "secret from tab A" not in Log.of(b_page[1])
    assert not any(e["kind"] == "user" for e in b.predict(api_name="/events"))
    assert len(turns(a)) == 1 and len(turns(b)) == 2
    files = sorted(p.name for p in (scripted_app.settings.home / "scenes").glob("*/*.jsonl"))
    assert len(files) >= 2


def own_app(tmp_path: Path, session_ttl_s: float = SESSION_TTL_S) -> Served:
    """A fresh scripted app, so that its sessions are this test's alone."""
    settings = Settings(backend="scripted", home=tmp_path, seed=3, retries=0, backoff=0.0)
    retriever = runtime.keyword_retriever(runtime.story(settings))
    return serve(settings, ScriptedModel(seed=3), retriever, session_ttl_s=session_ttl_s)


def only_session(app: Served) -> Session:
    sessions = list(app.sessions)
    assert len(sessions) == 1, sessions
    return sessions[0]


def transcript_of(s: Session) -> Path:
    assert s.scene is not None and s.scene.transcript.path is not None
    return s.scene.transcript.path


def test_an_idle_session_is_closed_after_its_ttl(tmp_path: Path) -> None:
    app = own_app(tmp_path, session_ttl_s=1.5)
    try:
        c = client(app)
        c.predict("bedtime", api_name="/step")
        s = only_session(app)
        path, exports = transcript_of(s), s.exports
        assert held_open(path) and exports.exists() and len(turns(c)) == 1
        assert wait_for(lambda: s.closed), "Gradio should delete the idle State and call its delete_callback"
        assert not held_open(path) and not exports.exists() and len(app.sessions) == 0
        assert turns(c) == []  # the same client now has a new, empty session
        c.predict("bedtime", api_name="/step")
        assert transcript_of(only_session(app)) != path and len(turns(c)) == 1
        c.close()
    finally:
        stop(app)


def test_a_closed_tab_is_closed_by_gradio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Gradio notices a tab (here a client) going when its heartbeat stream ends; it deletes that session's
    State an hour later, or after a second under GRADIO_IS_E2E_TEST, which also beats every 0.25 s."""
    monkeypatch.setenv("GRADIO_IS_E2E_TEST", "1")
    caplog.set_level(logging.INFO, logger="stage.ui.session")
    app = own_app(tmp_path)  # the default, hours-long idle TTL: only the closing counts
    try:
        c = client(app)
        c.predict("bedtime", api_name="/step")
        gone, key = transcript_of(only_session(app)), only_session(app).key
        stays = client(app)
        stays.predict("bedtime", api_name="/step")
        kept = next(p for p in map(transcript_of, app.sessions) if p != gone)
        assert held_open(gone) and held_open(kept)
        c.close()
        assert wait_for(lambda: not held_open(gone)), "the closed client's session should be closed"
        assert held_open(kept) and len(app.sessions) == 1 and len(turns(stays)) == 1
        assert f"closed the session {key}" in caplog.text  # by the State's delete_callback, not by the GC
        stays.close()
    finally:
        stop(app)


def test_shutdown_closes_every_live_session(tmp_path: Path) -> None:
    app = own_app(tmp_path)
    clients = [client(app) for _ in range(3)]
    for c in clients:
        c.predict("bedtime", api_name="/step")
    paths = [transcript_of(s) for s in app.sessions]
    assert len(set(paths)) == 3 and all(held_open(p) for p in paths)
    for c in clients:
        c.close()
    stop(app)
    assert not any(held_open(p) for p in paths) and len(app.sessions) == 0
    assert not any((tmp_path / "exports").iterdir())


def test_direct_goto_inject_and_force(scripted_app: Served) -> None:
    c = client(scripted_app)
    out = c.predict("bedtime", "dream-meet", api_name="/goto")
    assert 'data-beat="dream-meet"' in out[0]
    out = c.predict("bedtime", "The lantern fruit flickers.", api_name="/inject")
    assert "✎ _writer_\n\nThe lantern fruit flickers." in Log.of(out[1])
    c.predict("bedtime", "max", api_name="/force")
    c.predict("bedtime", api_name="/step")
    assert turns(c)[-1]["speaker"] == "max"
    out = c.predict("bedtime", "camille", api_name="/force")
    assert "status-error" in out[2] and "not in this scene" in out[2]
    with pytest.raises(AppError, match="not in the list of choices"):  # Gradio checks dropdown values
        c.predict("bedtime", "nobody", api_name="/force")


def test_downloads_and_loading_a_transcript(scripted_app: Served, tmp_path: Path) -> None:
    c = client(scripted_app)
    final = c.predict("bedtime", 0, 2, api_name="/play")
    jsonl_file, md_file = final[3], final[4]
    body = httpx.get(jsonl_file["url"], timeout=10).text
    kinds = [json.loads(line)["kind"] for line in body.splitlines()]
    assert kinds[0] == "scene" and kinds.count("turn") == 2
    md = httpx.get(md_file["url"], timeout=10).text
    assert md.startswith("# ") and "## Beat 1" in md

    saved = tmp_path / "saved.jsonl"
    saved.write_text(body, encoding="utf-8")
    other = client(scripted_app)
    out = other.predict(handle_file(str(saved)), api_name="/load")
    assert "Loaded" in out[2]
    other.predict("bedtime", api_name="/step")
    assert len(turns(other)) == 3 and len(turns(c)) == 2


def test_the_app_serves_no_private_files(scripted_app: Served) -> None:
    home = scripted_app.settings.home
    client(scripted_app).predict("bedtime", api_name="/step")
    transcript = next((home / "scenes").glob("*/*.jsonl"))
    for secret in (transcript, runtime.story(scripted_app.settings).personas["lyra"].source, "/etc/passwd"):
        path = (
            Path(secret)
            if Path(secret).is_absolute()
            else scripted_app.settings.characters_dir.parent / secret
        )
        r = httpx.get(f"{scripted_app.url}gradio_api/file={path.resolve()}", timeout=10)
        assert r.status_code in (403, 404), path


def test_auth_is_required_when_set(tmp_path: Path) -> None:
    from stage.errors import ConfigError
    from stage.llm.scripted import ScriptedModel
    from stage.settings import Settings

    assert parse_auth(None, {}) is None
    assert parse_auth("ann:s3cret:x", {}) == ("ann", "s3cret:x")
    assert parse_auth(None, {"STAGE_AUTH": "bob:pw"}) == ("bob", "pw")
    with pytest.raises(ConfigError, match="USER:PASS"):
        parse_auth("nopassword", {})
    settings = Settings(backend="scripted", home=tmp_path)
    retriever = runtime.keyword_retriever(runtime.story(settings))
    served = serve(settings, ScriptedModel(), retriever, auth=("ann", "pw"))
    try:
        assert httpx.get(f"{served.url}config", timeout=10).status_code == 401
        c = Client(
            served.url, auth=("ann", "pw"), verbose=False, analytics_enabled=False, download_files=False
        )
        assert c.predict(api_name="/events") == []
    finally:
        stop(served)


def test_any_character_downloads_as_a_card_other_tools_open(scripted_app: Served, tmp_path: Path) -> None:
    from stage.cards.read import Spec, read_card

    c = Client(scripted_app.url, verbose=False, analytics_enabled=False, download_files=str(tmp_path))
    got = c.predict("camille", api_name="/character_card")
    card = read_card(Path(got if isinstance(got, str) else got["path"]))
    assert card.spec is Spec.V3 and card.data["name"] == "Camille" and card.container == "png"
    with pytest.raises(Exception, match="not in the list of choices"):  # refused on the server
        c.predict("nobody", api_name="/character_card")


def test_a_dropped_card_joins_that_session_only(scripted_app: Served) -> None:
    from tests.cards.support import DATA

    a, b = client(scripted_app), client(scripted_app)
    out = a.predict("bedtime", handle_file(str(DATA / "mira.v2.json")), api_name="/add_card")
    assert "Captain Mira joined this scene from mira.v2.json" in out[2]
    assert "system_prompt: no place here" in out[2]  # the report: what had no place
    a.predict("bedtime", "Ann", "", "Captain Mira, who taught you to fly?", api_name="/send")
    assert any(e["kind"] == "arrival" for e in a.predict(api_name="/events"))
    assert turns(a)[-1]["speaker"] == "captain-mira"
    a.predict("bedtime", "Ann", "captain-mira", "Ahoy, stowaway!", api_name="/send")  # a person plays her now
    said = [e for e in a.predict(api_name="/events") if e["kind"] == "user"]
    assert said[-1]["as_character"] == "captain-mira"
    b.predict("bedtime", 0, 1, api_name="/play")
    assert not any(e["kind"] == "arrival" for e in b.predict(api_name="/events"))
    with pytest.raises(Exception, match="not in the list of choices"):  # the other session's server-side choices
        b.predict("bedtime", "captain-mira", api_name="/force")
