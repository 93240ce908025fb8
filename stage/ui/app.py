"""The page (Gradio Blocks), and ``stage serve``: Watch, Join and Direct panels around the scene's transcript."""

from __future__ import annotations

import argparse
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gradio as gr  # stage/ui/__init__.py has set Gradio's offline environment by now

from stage import runtime
from stage.agents.retrieval import Retriever
from stage.errors import ConfigError
from stage.llm import params_from
from stage.llm.base import ChatModel, GenParams
from stage.settings import Settings
from stage.transcript import EDITABLE
from stage.ui.handlers import Handlers
from stage.ui.render import EMOJI_CHECK
from stage.ui.session import MAX_SESSIONS, SESSION_TTL_S, Sessions, Stage

log = logging.getLogger(__name__)

CSS = Path(__file__).with_name("style.css")
TURN_EVENTS = 8  # scenes that may wait for a turn at once; generation itself is one at a time (turn_lock)
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def theme() -> gr.themes.Base:
    """Gradio's Soft theme (its fonts are served by the app itself, nothing is fetched from outside)."""
    return gr.themes.Soft(primary_hue="indigo", neutral_hue="slate")


@dataclass(frozen=True)
class Built:
    app: gr.Blocks
    sessions: Sessions  # closed at shutdown: their transcripts are flushed and closed


def build_app(
    settings: Settings, model: ChatModel | None = None, retriever: Retriever | None = None
) -> gr.Blocks:
    """The app for ``settings``. ``model`` and ``retriever`` default to the configured backend and the Chroma
    lore store (indexed on first use); tests pass the scripted model and the keyword retriever."""
    return build(settings, model, retriever).app


def build(
    settings: Settings,
    model: ChatModel | None = None,
    retriever: Retriever | None = None,
    session_ttl_s: float = SESSION_TTL_S,
) -> Built:
    """``build_app``, also handing back the sessions so the caller can close them at shutdown.
    ``session_ttl_s``: how long an idle session lives (tests shorten it)."""
    story = runtime.story(settings)
    params: GenParams = params_from(settings)
    if model is None:
        model = runtime.model_and_params(settings)[0]
    if retriever is None:
        retriever = runtime.retriever(settings, story)
    stage = Stage(settings, story, model, retriever, params)
    sessions = Sessions(stage)
    h = Handlers(stage, sessions)

    beats = [(f"{b.position}. {b.title}", b.id) for b in story.plot.beats]
    people = [(p.name, p.id) for p in story.personas.values()]
    first = story.plot.beats[0].id

    app = gr.Blocks(title=f"{story.plot.title} — the stage", fill_width=True, delete_cache=(1800, 7200))
    with app:
        header = gr.HTML(
            h.stage.renderer.header(None, [], set(), "idle", 0), elem_id="scene-header", js_on_load=None
        )
        with gr.Row(equal_height=False, elem_id="stage-main"):
            with gr.Column(scale=3, min_width=420):
                log_view = gr.HTML(elem_id="transcript", js_on_load=None)
                status_view = gr.HTML(elem_id="status", js_on_load=None)
            with gr.Column(scale=2, min_width=340, elem_id="controls"), gr.Tabs(elem_id="panels"):
                with gr.Tab("Watch", id="watch", elem_id="tab-watch"):
                    gr.Markdown("The characters talk on their own; the director picks who speaks.")
                    start_beat = gr.Dropdown(beats, value=first, label="Starting beat", elem_id="start-beat")
                    with gr.Row():
                        play = gr.Button("▶ Play", variant="primary", elem_id="play")
                        pause = gr.Button("❚❚ Pause", elem_id="pause")
                        step = gr.Button("▶❘ Step", elem_id="step")
                    speed = gr.Slider(
                        0, 5, value=1, step=0.5, label="Pause between turns (seconds)", elem_id="speed"
                    )
                    cap = gr.Slider(1, 40, value=6, step=1, label="Turns per Play", elem_id="turn-cap")
                    restart = gr.Button("↺ Restart at the starting beat", size="sm", elem_id="restart")
                with gr.Tab("Join", id="join", elem_id="tab-join"):
                    gr.Markdown(
                        "Speak as a visitor, or take over a character (the director then never picks them)."
                        " Name a character to get their answer; otherwise the director picks who replies."
                    )
                    with gr.Row():
                        name = gr.Textbox("Visitor", label="Your name", max_length=40, elem_id="visitor-name")
                        speak_as = gr.Dropdown(
                            [("a visitor", ""), *people], value="", label="Speak as", elem_id="speak-as"
                        )
                    message = gr.Textbox(
                        label="Say something",
                        placeholder="e.g. Theo, how was your shift?",
                        max_length=1000,
                        elem_id="message",
                    )
                    send = gr.Button("Send", variant="primary", elem_id="send")
                with gr.Tab("Direct", id="direct", elem_id="tab-direct"):
                    gr.Markdown(
                        "Writer's controls for this session's scene; the director's reasons show on each turn."
                    )
                    with gr.Group():
                        with gr.Row(equal_height=True):
                            goto_beat = gr.Dropdown(
                                beats, value=first, label="Beat", scale=3, elem_id="goto-beat"
                            )
                            goto = gr.Button("Go to beat", scale=1, elem_id="goto")
                        with gr.Row(equal_height=True):
                            event_text = gr.Textbox(
                                label="Event",
                                placeholder="A siren wails outside.",
                                scale=3,
                                elem_id="event-text",
                            )
                            inject = gr.Button("Inject event", scale=1, elem_id="inject")
                    with gr.Group():
                        who = gr.Dropdown(people, value=people[0][1], label="Character", elem_id="direct-who")
                        with gr.Row():
                            force = gr.Button("Speaks next", size="sm", elem_id="force")
                            add = gr.Button("Add", size="sm", elem_id="add")
                            remove = gr.Button("Remove", size="sm", elem_id="remove")
                        with gr.Row(equal_height=True):
                            whisper_text = gr.Textbox(
                                label="Whisper",
                                placeholder="Ask about the band.",
                                scale=3,
                                elem_id="whisper-text",
                            )
                            whisper = gr.Button("Whisper", scale=1, elem_id="whisper")
                    with gr.Accordion("Edit persona (this session, from the next turn)", open=False):
                        field = gr.Dropdown(
                            list(EDITABLE), value="style", label="Field", elem_id="persona-field"
                        )
                        value = gr.Textbox(label="Value", lines=3, max_lines=8, elem_id="persona-value")
                        edit = gr.Button("Apply edit", size="sm", elem_id="persona-apply")
                with gr.Tab("Transcript", id="transcript-tab", elem_id="tab-transcript"):
                    with gr.Row():
                        dl_jsonl = gr.DownloadButton("Download JSONL", elem_id="download-jsonl", size="sm")
                        dl_md = gr.DownloadButton("Download Markdown", elem_id="download-md", size="sm")
                    upload = gr.File(
                        label="Load a saved transcript (.jsonl)",
                        file_types=[".jsonl"],
                        type="filepath",
                        elem_id="upload",
                    )
                    load = gr.Button("Load, replay and continue", elem_id="load")

        # This browser session's Session (stage/ui/session.py): created by its first event, handed to every
        # handler as the last input and back as the last output (gradio_client hides both). Gradio deletes
        # it, calling delete_callback, session_ttl_s after its last update; once its tab has closed, an hour
        # after its last update (Gradio's fixed grace for a closed tab, in place of the TTL).
        session = gr.State(time_to_live=session_ttl_s, delete_callback=sessions.delete)
        # made after the page's components, so that theirs keep the ids (and API labels) they had
        events_out = gr.JSON(label="events", visible=False)

        def out(*extra: Any) -> list[Any]:
            """The standard outputs (header, transcript, status, downloads), ``extra``, then the session."""
            return [header, log_view, status_view, dl_jsonl, dl_md, *extra, session]

        turns: dict[str, Any] = {"concurrency_id": "turns", "concurrency_limit": TURN_EVENTS}
        quick: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden"}

        app.load(h.load_page, [session], out(), api_name="page", **quick)
        app.load(h.persona_value, [who, field, session], value, api_visibility="private", **quick)
        play.click(
            h.play, [start_beat, speed, cap, session], out(), api_name="play", show_progress="hidden", **turns
        )
        pause.click(h.pause, [session], out(), api_name="pause", **quick)
        step.click(h.step, [start_beat, session], out(), api_name="step", show_progress="hidden", **turns)
        restart.click(h.restart, [start_beat, session], out(message), api_name="restart", **quick)
        speak_as.input(h.speak_as, [start_beat, speak_as, session], out(), api_name="speak_as", **quick)
        said = [start_beat, name, speak_as, message, session]
        send.click(h.send, said, out(message), api_name="send", show_progress="hidden", **turns)
        message.submit(h.send, said, out(message), api_visibility="private", show_progress="hidden", **turns)
        goto.click(h.goto, [start_beat, goto_beat, session], out(), api_name="goto", **quick)
        inject.click(h.inject, [start_beat, event_text, session], out(event_text), api_name="inject", **quick)
        force.click(h.force, [start_beat, who, session], out(), api_name="force", **quick)
        add.click(h.add, [start_beat, who, session], out(), api_name="add", **quick)
        remove.click(h.remove, [start_beat, who, session], out(), api_name="remove", **quick)
        whisper.click(
            h.whisper,
            [start_beat, who, whisper_text, session],
            out(whisper_text),
            api_name="whisper",
            **quick,
        )
        edit.click(
            h.edit_persona, [start_beat, who, field, value, session], out(), api_name="edit_persona", **quick
        )
        who.change(h.persona_value, [who, field, session], value, api_name="persona_value", **quick)
        field.change(h.persona_value, [who, field, session], value, api_visibility="private", **quick)
        load.click(h.load, [upload, session], out(speak_as), api_name="load", show_progress="hidden", **turns)
        # API only (no trigger on the page); an event rather than gr.api, which cannot take a gr.State
        gr.on([], h.events, [session], [events_out, session], api_name="events", concurrency_limit=None)

    app.queue(default_concurrency_limit=2, max_size=64)
    return Built(app, sessions)


def parse_auth(flag: str | None, env: Mapping[str, str]) -> tuple[str, str] | None:
    """``USER:PASS`` from ``--auth`` or ``STAGE_AUTH``; None when neither is set."""
    raw = flag if flag is not None else env.get("STAGE_AUTH", "")
    if not raw:
        return None
    user, sep, password = raw.partition(":")
    if not sep or not user or not password:
        raise ConfigError("--auth / STAGE_AUTH: expected USER:PASS with both parts non-empty")
    return user, password


def launch(
    app: gr.Blocks,
    settings: Settings,
    *,
    port: int | None = None,
    auth: tuple[str, str] | None = None,
    block: bool = True,
    quiet: bool = False,
) -> str:
    """Serve ``app`` on ``settings.host``; never shared, only the app's own export folder is served."""
    exports = (settings.home / "exports").resolve()
    exports.mkdir(parents=True, exist_ok=True)
    private = [
        settings.home / "transcripts",
        settings.home / "server",
        settings.characters_dir,
        settings.lore_dir,
    ]
    _, url, _ = app.launch(
        server_name=settings.host,
        server_port=settings.port if port is None else port,
        share=False,
        auth=auth,
        auth_message="The stage needs a login." if auth else None,
        prevent_thread_lock=not block,
        show_error=True,
        quiet=quiet,
        allowed_paths=[str(exports)],
        blocked_paths=[str(p.resolve()) for p in private],
        max_file_size="5mb",
        state_session_capacity=MAX_SESSIONS,
        footer_links=["api"],
        run_history=False,
        enable_monitoring=False,
        mcp_server=False,
        ssr_mode=False,
        theme=theme(),
        css_paths=[CSS],
        head=EMOJI_CHECK,
    )
    return str(url)


def start_embedded_model(settings: Settings) -> None:
    """Start the embedded model server now, from the calling (main) thread.

    The server is started with PR_SET_PDEATHSIG, which Linux ties to the *thread* that spawned it: started
    lazily from one of Gradio's worker threads, it is killed whenever that idle worker exits, and restarted
    on the next turn. Starting it here keeps it alive for the whole run (and the first Play is quicker)."""
    if settings.backend != "local":
        return
    from stage.llm.local import shared_server

    shared_server(settings.home, settings.n_threads, settings.n_ctx).ensure()


def run_serve(args: argparse.Namespace, settings: Settings) -> int:
    """``stage serve``: build the app for ``settings`` and serve it until interrupted."""
    auth = parse_auth(getattr(args, "auth", None), os.environ)
    if settings.host not in LOOPBACK and auth is None:
        log.warning(
            "serving on %s without --auth: anyone who can reach this machine can use the stage", settings.host
        )
    print(
        f"Preparing the stage ({settings.backend} model; lore index and transcripts under {settings.home})…"
    )
    start_embedded_model(settings)
    built = build(settings)
    try:
        try:
            url = launch(built.app, settings, auth=auth, block=False, quiet=True)
        except OSError as exc:
            raise ConfigError(
                f"cannot serve on {settings.host}:{settings.port} ({exc}); choose another --port"
            ) from exc
        print(f"The stage is open at {url} (Ctrl+C to stop).", flush=True)
        built.app.block_thread()
    finally:
        built.sessions.close_all()
        built.app.close()
    return 0
