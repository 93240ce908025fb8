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
from stage.llm import capacity, params_from
from stage.llm.base import ChatModel, GenParams
from stage.settings import Settings
from stage.transcript import EDITABLE
from stage.ui.chat import EMPTY, FEEDBACK
from stage.ui.chat_actions import ChatActions
from stage.ui.handlers import Handlers
from stage.ui.render import EMOJI_CHECK
from stage.ui.scenes import SceneHandlers
from stage.ui.session import MAX_SESSIONS, SESSION_TTL_S, Sessions, Stage

log = logging.getLogger(__name__)

CSS = Path(__file__).with_name("style.css")

# Turns Gradio runs at once: twice what the model endpoints serve together (stage.llm.capacity), so that a
# turn's non-model work (retrieval, scoring) overlaps others' generation, and no fewer than 8; the endpoint
# gates queue what is beyond the slots, in turn order.
def turn_events(settings: Settings) -> int:
    return max(8, 2 * capacity(settings))


LOOPBACK = ("127.0.0.1", "localhost", "::1")
# ← → browse the alternatives of the last turn (when no text box has the focus)
KEYS = """<script>
document.addEventListener("keydown", function (ev) {
  var t = ev.target, tag = t && t.tagName ? t.tagName.toLowerCase() : "";
  if (tag === "input" || tag === "textarea" || tag === "select" || (t && t.isContentEditable)) return;
  if (ev.altKey || ev.ctrlKey || ev.metaKey) return;
  var id = ev.key === "ArrowLeft" ? "alt-prev" : ev.key === "ArrowRight" ? "alt-next" : "";
  var button = id && document.getElementById(id);
  if (button) { ev.preventDefault(); button.click(); }
});
</script>"""


def browser_secret(home: Path) -> str:
    """The key that the browser-stored library id is encrypted with: kept under ``home`` so that an app
    restart can still read what browsers stored (Gradio would make a new one each start)."""
    path = home / "browser-secret"
    if path.is_file():
        kept = path.read_text(encoding="utf-8").strip()
        if len(kept) >= 32:
            return kept
    import secrets

    home.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(value)
    return value


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
    sh = SceneHandlers(h)
    ca = ChatActions(sh)

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
                log_view = gr.Chatbot(
                    elem_id="transcript",
                    label="The scene",
                    show_label=False,
                    height="64vh",
                    min_height=360,
                    editable="all",
                    buttons=["copy", "copy_all"],
                    feedback_options=tuple(FEEDBACK),
                    group_consecutive_messages=False,
                    latex_delimiters=[],
                    placeholder=EMPTY,
                    layout="bubble",
                )
                with gr.Row(elem_id="last-turn"):
                    alt_prev = gr.Button("◀", size="sm", scale=0, min_width=44, elem_id="alt-prev")
                    again = gr.Button("↻ Another reply", size="sm", scale=0, min_width=150, elem_id="swipe")
                    alt_next = gr.Button("▶", size="sm", scale=0, min_width=44, elem_id="alt-next")
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
                        placeholder=f"e.g. {people[-1][0]}, what are you doing?",
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
                                placeholder="A door bangs somewhere outside.",
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
                            card_btn = gr.Button("Card ⤓", size="sm", elem_id="card-export")
                        card_drop = gr.File(
                            label="Drop a character card (PNG, JSON, CHARX) to add them to this scene",
                            file_types=[".png", ".json", ".charx"],
                            type="filepath",
                            elem_id="card-drop",
                        )
                        card_file = gr.File(
                            label="Character card (PNG: SillyTavern, RisuAI and others open it)",
                            interactive=False,
                            visible=True,
                            elem_id="card-file",
                        )
                        with gr.Row(equal_height=True):
                            whisper_text = gr.Textbox(
                                label="Whisper",
                                placeholder="Ask what they are hiding.",
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
                with gr.Tab("Scenes", id="scenes", elem_id="tab-scenes") as scenes_tab:
                    gr.Markdown("Your scenes, kept in this browser's library (across reloads and restarts).")
                    scene_pick = gr.Dropdown([], label="Scene", elem_id="scene-pick")
                    with gr.Row():
                        cont = gr.Button("Continue", variant="primary", size="sm", elem_id="scene-continue")
                        dup = gr.Button("Duplicate", size="sm", elem_id="scene-duplicate")
                        bin_ = gr.Button("Delete", size="sm", variant="stop", elem_id="scene-delete")
                    with gr.Row(equal_height=True):
                        title = gr.Textbox(label="New title", max_length=80, scale=3, elem_id="scene-title")
                        rename = gr.Button("Rename", size="sm", scale=1, elem_id="scene-rename")
                    library_view = gr.HTML(elem_id="library", js_on_load=None)
                    with gr.Accordion("Trash", open=False):
                        trash_pick = gr.Dropdown([], label="Deleted scene", elem_id="trash-pick")
                        restore = gr.Button("Restore", size="sm", elem_id="scene-restore")
                with gr.Tab("Lines", id="lines", elem_id="tab-lines") as lines_tab:
                    gr.Markdown(
                        "Change what was said: another reply, a correction, a deletion, or go back and"
                        " take the story elsewhere. The log keeps everything; later turns hear the new line."
                    )
                    line_pick = gr.Dropdown([], label="Line", elem_id="line-pick")
                    with gr.Row():
                        l_prev = gr.Button("◀ Previous", size="sm", elem_id="line-prev")
                        l_swipe = gr.Button("↻ Another reply", size="sm", elem_id="line-swipe")
                        l_next = gr.Button("Next ▶", size="sm", elem_id="line-next")
                    line_text = gr.Textbox(label="Text", lines=2, max_lines=6, elem_id="line-text")
                    with gr.Row():
                        l_edit = gr.Button("Save edit", size="sm", elem_id="line-edit")
                        l_delete = gr.Button("Delete line", size="sm", variant="stop", elem_id="line-delete")
                    with gr.Row():
                        l_rewind = gr.Button("⟲ Go back to here", size="sm", elem_id="line-rewind")
                        l_fork = gr.Button("Fork a new scene here", size="sm", elem_id="line-fork")
                    branches_view = gr.HTML(elem_id="branches", js_on_load=None)
                    branch_pick = gr.Dropdown([], label="Other branches", elem_id="branch-pick")
                    to_branch = gr.Button("Return to this branch", size="sm", elem_id="branch-return")
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
        browser_id = gr.BrowserState("", storage_key="stage-library", secret=browser_secret(settings.home))

        def out(*extra: Any) -> list[Any]:
            """The standard outputs (header, transcript, status, downloads), ``extra``, then the session."""
            return [header, log_view, status_view, dl_jsonl, dl_md, *extra, session]

        turns: dict[str, Any] = {"concurrency_id": "turns", "concurrency_limit": turn_events(settings)}
        quick: dict[str, Any] = {"concurrency_limit": None, "show_progress": "hidden"}

        panels = [scene_pick, library_view, trash_pick, line_pick, branches_view, branch_pick]
        app.load(h.load_page, [session], out(), api_name="page", **quick).then(
            sh.open_page, [browser_id, session], out(*panels, browser_id), api_visibility="private", **quick
        )
        # the scene library and the line controls (stage/ui/scenes.py)
        both: dict[str, Any] = {"outputs": out(*panels), **quick}
        scenes_tab.select(sh.panel, [session], api_name="scenes", **both)
        lines_tab.select(sh.panel, [session], api_visibility="private", **both)
        cont.click(sh.continue_scene, [scene_pick, session], api_name="scene_continue", **both)
        dup.click(sh.duplicate, [scene_pick, session], api_name="scene_duplicate", **both)
        bin_.click(sh.trash, [scene_pick, session], api_name="scene_delete", **both)
        rename.click(sh.rename, [scene_pick, title, session], api_name="scene_rename", **both)
        restore.click(sh.restore, [trash_pick, session], api_name="scene_restore", **both)
        streamed: dict[str, Any] = {"outputs": out(*panels), "show_progress": "hidden", **turns}
        again.click(sh.swipe_last, [session], api_name="swipe_last", **streamed)
        alt_prev.click(sh.previous, [session], api_name="alt_prev", **streamed)
        alt_next.click(sh.next, [session], api_name="alt_next", **streamed)
        # the transcript's own chat buttons (stage/ui/chat_actions.py)
        log_view.retry(ca.retry, [session], api_visibility="private", **streamed)
        log_view.edit(ca.edit, [session], api_visibility="private", **both)
        log_view.like(ca.like, [session], api_visibility="private", **both)
        log_view.clear(h.restart, [start_beat, session], out(message), api_visibility="private", **quick)
        log_view.undo(ca.undo, [session], out(*panels, message), api_visibility="private", **quick)
        l_swipe.click(sh.swipe, [line_pick, session], api_name="swipe", **streamed)
        l_prev.click(sh.choose_previous, [line_pick, session], api_name="alt_before", **both)
        l_next.click(sh.choose_next, [line_pick, session], api_name="alt_after", **both)
        l_edit.click(sh.edit, [line_pick, line_text, session], api_name="edit_line", **both)
        l_delete.click(sh.delete, [line_pick, session], api_name="delete_line", **both)
        l_rewind.click(sh.rewind, [line_pick, session], api_name="rewind", **both)
        l_fork.click(sh.fork, [line_pick, session], api_name="fork", **both)
        to_branch.click(sh.rewind, [branch_pick, session], api_name="to_branch", **both)
        line_pick.change(sh.line_text, [line_pick, session], line_text, api_visibility="private", **quick)
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
        card_btn.click(h.character_card, [who, session], [card_file], api_name="character_card", **quick)
        card_drop.upload(h.add_card, [start_beat, card_drop, session], out(who, speak_as, card_drop), api_name="add_card", **quick)
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

    app.queue(default_concurrency_limit=2, max_size=max(64, 4 * turn_events(settings)))
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
    exports = (settings.story_home / "exports").resolve()
    exports.mkdir(parents=True, exist_ok=True)
    private = [
        settings.story_home / "transcripts",
        settings.story_home / "scenes",
        settings.home / "browser-secret",
        settings.home / "server",
        settings.characters_dir,
        settings.lore_dir,
        settings.plot_file,
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
        head=EMOJI_CHECK + KEYS,
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
