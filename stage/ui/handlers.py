"""What each control on the page does: take the session, act on its ``Scene``, return a fresh render.

The session comes in as the last argument, the value of the page's ``gr.State`` (None until the first event
of a browser session creates it), and goes back as the last output, which also restarts Gradio's idle TTL.
Every handler returns the standard outputs (header, transcript, status, JSONL and Markdown downloads), some
with one more, then the session. Errors meant for people (``StageError``) become the status line; anything
else is logged and shown as one clean sentence through ``gr.Error``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Generator, Iterator
from pathlib import Path
from typing import Any

import gradio as gr

from stage.agents.context import apply_edits
from stage.errors import ConfigError, ModelError, StageError
from stage.scene import Progress, Scene
from stage.transcript import EDITABLE, Action, Turn, to_dict
from stage.ui.export import load_transcript, write_exports
from stage.ui.render import status
from stage.ui.session import Session, Sessions, Stage
from stage.ui.stream import TurnRun

log = logging.getLogger(__name__)

Outputs = tuple[Any, ...]
SessionAct = Callable[[Session, Scene], str]  # a change to one session's scene, returning its status line
REPLAY_SECONDS = 4.0  # a loaded transcript is replayed onto the page in about this long


class Handlers:
    def __init__(self, stage: Stage, sessions: Sessions) -> None:
        self.stage = stage
        self.sessions = sessions

    # -- plumbing -------------------------------------------------------------------------------------------

    def session(self, s: Session | None) -> Session:
        """This browser session's ``Session``: a new one on its first event (or once Gradio has closed it)."""
        return s if s is not None and not s.closed else self.sessions.new()

    def view(self, s: Session, *extra: Any, final: bool = True) -> Outputs:
        """The standard outputs, ``extra`` and the session; downloads are rewritten only when a change is
        complete (not per token)."""
        files: tuple[Any, Any] = (gr.skip(), gr.skip())
        if final and s.scene is not None:
            js, md = write_exports(s.exports, s.scene.story, list(s.scene.transcript))
            files = (str(js), str(md))
        elif final:
            files = (None, None)
        chat = s.chat()
        # the thumbs already given are a prop of the Chatbot, sent with a complete change (not per token)
        messages: Any = chat.messages
        log_value = gr.Chatbot(value=messages, feedback_value=chat.feedback) if final else messages
        return (s.header_html(), log_value, status(s.status, s.status_kind), *files, *extra, s)

    @staticmethod
    def unexpected(exc: BaseException) -> gr.Error:
        log.error("unexpected error in the UI", exc_info=exc)
        return gr.Error(
            f"Something went wrong on the stage ({type(exc).__name__}); the server log has the details."
        )

    def _act(self, state: Session | None, beat: str, action: SessionAct, clears: int = 0) -> Outputs:
        """Run ``action`` on the session's scene; ``clears`` more outputs are emptied if it worked."""
        s = self.session(state)
        try:
            s.note(action(s, s.ensure(beat)))
            cleared: tuple[Any, ...] = ("",) * clears
        except StageError as exc:
            s.note(str(exc), "error")
            cleared = (gr.skip(),) * clears  # keep what was typed so it can be fixed
        except Exception as exc:
            raise self.unexpected(exc) from exc
        return self.view(s, *cleared)

    def _turn(
        self, s: Session, extra: Outputs = (), drive: Callable[[Scene], Iterator[Progress]] | None = None
    ) -> Generator[Outputs, None, bool]:
        """Stream one turn onto the page (``drive``: how, see ``TurnRun``); False (with the reason in the status
        line) if it did not happen."""
        run = TurnRun(s, drive=drive)
        try:
            for _ in run:
                yield self.view(s, *extra, final=False)
        except StageError as exc:
            s.note(str(exc), "error")
            return False
        if isinstance(run.error, ModelError):
            s.note(f"The model did not answer: {run.error}. Press Play or Step to try again.", "error")
            return False
        if isinstance(run.error, StageError):
            s.note(str(run.error), "error")
            return False
        if run.error is not None:
            raise self.unexpected(run.error) from run.error
        if not run.events:
            scene = s.scene
            ended = scene is not None and scene.state.ended
            s.note(
                "The story is complete. Go to a beat (Direct) or restart to play again."
                if ended
                else "Nobody here can speak: add a character, or stop playing one yourself.",
            )
            return False
        return True

    # -- page -----------------------------------------------------------------------------------------------

    def load_page(self, state: Session | None) -> Outputs:
        return self.view(self.session(state))

    def events(self, s: Session | None) -> tuple[list[dict[str, Any]], Any]:
        """This session's transcript events, as the JSONL download holds them (a read creates no session)."""
        if s is None or s.scene is None:
            return [], s if s is not None else gr.skip()
        return [to_dict(e) for e in s.scene.transcript], s

    # -- watch ----------------------------------------------------------------------------------------------

    def play(self, beat: str, pause_s: float, cap: float, state: Session | None) -> Iterator[Outputs]:
        s = self.session(state)
        try:
            scene = s.ensure(beat)
        except StageError as exc:
            s.note(str(exc), "error")
            yield self.view(s)
            return
        if s.playing:
            s.note("Already playing; press Pause to stop.")
            yield self.view(s)
            return
        limit, done = max(1, int(cap)), 0
        s.playing = True
        try:
            while s.playing and s.scene is scene and done < limit:
                s.note(f"Playing: turn {done + 1} of {limit}…", "busy")
                if not (yield from self._turn(s)):
                    break
                done += 1
                if scene.state.ended:
                    s.note("The story is complete.")
                    break
                s.note(f"Played {done} of {limit} turn(s).", "busy")
                yield self.view(s)
                end = time.monotonic() + max(0.0, float(pause_s))
                while s.playing and time.monotonic() < end:
                    time.sleep(0.1)
            else:
                s.note(
                    f"Played {done} turn(s); press Play for more."
                    if done >= limit
                    else f"Paused after {done} turn(s)."
                )
        finally:
            s.playing = False
        yield self.view(s)

    def pause(self, state: Session | None) -> Outputs:
        s = self.session(state)
        if s.playing:
            s.playing = False
            s.note("Pausing after this turn…" if s.busy.locked() else "Paused.")
        return self.view(s, final=not s.busy.locked())

    def step(self, beat: str, state: Session | None) -> Iterator[Outputs]:
        s = self.session(state)
        try:
            s.ensure(beat)
        except StageError as exc:
            s.note(str(exc), "error")
            yield self.view(s)
            return
        s.note("One turn…", "busy")
        if (yield from self._turn(s)):
            s.note("")
        yield self.view(s)

    def restart(self, beat: str, state: Session | None) -> Outputs:
        s = self.session(state)
        s.playing = False
        try:
            s.start(beat)
            s.note("A new scene, at the chosen beat (the last one is in your library). Press Play.")
        except StageError as exc:
            s.note(str(exc), "error")
        return self.view(s, "")

    # -- join -----------------------------------------------------------------------------------------------

    @staticmethod
    def _play_as(s: Session, scene: Scene, who: str) -> str:
        """Take over ``who`` (releasing whoever this person played before); "" means a visitor again."""
        if who == s.played:
            return ""
        if s.played and s.played in scene.state.humans:
            scene.direct(Action.RELEASE, target=s.played)
        s.played = ""
        if not who:
            return "You are a visitor again; the director picks who answers."
        scene.direct(Action.TAKE, target=who)
        s.played = who
        name = scene.names.get(who, who)
        here = "" if who in scene.state.present else f" ({name} is not in this beat; add them in Direct)"
        return f"You now play {name}; the director will not pick them.{here}"

    def speak_as(self, beat: str, who: str | None, state: Session | None) -> Outputs:
        return self._act(state, beat, lambda s, scene: self._play_as(s, scene, who or ""))

    def send(
        self, beat: str, name: str, who: str | None, text: str, state: Session | None
    ) -> Iterator[Outputs]:
        s = self.session(state)
        try:
            scene = s.ensure(beat)
            self._play_as(s, scene, who or "")
            said = scene.say(text or "", name=(name or "").strip() or "Visitor", as_character=who or "")
        except StageError as exc:
            s.note(str(exc), "error")
            yield self.view(s, gr.skip())  # keep the text so it can be fixed
            return
        except Exception as exc:
            raise self.unexpected(exc) from exc
        s.note("")
        if any(isinstance(e, Turn) for e in said) or scene.state.ended or s.playing:
            if s.playing:
                s.note("The scene is playing: the director picks who answers next.")
            yield self.view(s, "")
            return
        yield self.view(s, "", final=False)
        yield from self._turn(s, extra=("",))
        yield self.view(s, "")

    # -- direct ---------------------------------------------------------------------------------------------

    def goto(self, beat: str, target: str, state: Session | None) -> Outputs:
        def act(s: Session, scene: Scene) -> str:
            scene.direct(Action.GOTO, target=target)
            return f"Moved to beat {scene.state.beat.position}: {scene.state.beat.title}."

        return self._act(state, beat, act)

    def force(self, beat: str, who: str | None, state: Session | None) -> Outputs:
        def act(s: Session, scene: Scene) -> str:
            scene.direct(Action.FORCE, target=who or "")
            return f"{scene.names.get(scene.state.forced, who)} speaks next."

        return self._act(state, beat, act)

    def inject(self, beat: str, text: str, state: Session | None) -> Outputs:
        return self._act(
            state,
            beat,
            lambda s, scene: done(scene.direct(Action.INJECT, text=text), "Event added."),
            clears=1,
        )

    def whisper(self, beat: str, who: str | None, text: str, state: Session | None) -> Outputs:
        def act(s: Session, scene: Scene) -> str:
            scene.direct(Action.WHISPER, target=who or "", text=text)
            return f"Whispered to {scene.names.get(who or '', who)}; they hear it on their next turn."

        return self._act(state, beat, act, clears=1)

    def add(self, beat: str, who: str | None, state: Session | None) -> Outputs:
        return self._act(
            state,
            beat,
            lambda s, scene: done(scene.direct(Action.ADD, target=who or ""), "Added to the scene."),
        )

    def remove(self, beat: str, who: str | None, state: Session | None) -> Outputs:
        return self._act(
            state,
            beat,
            lambda s, scene: done(scene.direct(Action.REMOVE, target=who or ""), "Removed from the scene."),
        )

    def edit_persona(
        self, beat: str, who: str | None, field: str | None, value: str, state: Session | None
    ) -> Outputs:
        def act(s: Session, scene: Scene) -> str:
            scene.direct(Action.PERSONA, target=who or "", edits={field or "": value or ""})
            return f"Edited {field} for this session; it applies from the next turn."

        return self._act(state, beat, act)

    def add_card(self, beat: str, path: str | None, state: Session | None) -> Outputs:
        """A card dropped on the page: its character joins this session's scene (never the story, never
        another session), screened like ``stage import``; the status line says what had no place."""
        from stage.cards.importer import card_persona

        s = self.session(state)
        pick: Any = gr.skip()
        play: Any = gr.skip()
        try:
            if not path:
                raise ConfigError("Drop a character card (PNG, JSON or CHARX) to add its character.")
            scene = s.ensure(beat)
            persona, report = card_persona(Path(path), scene.story)
            scene.arrive(persona, source=Path(path).name)
            cast = [(p.name, p.id) for p in scene.story.personas.values()]
            pick = gr.update(choices=cast, value=persona["id"])
            play = gr.update(choices=[("a visitor", ""), *cast])  # a person may play the newcomer too
            left = f" Not used: {'; '.join(report.unplaced)}." if report.unplaced else ""
            s.note(f"{persona['name']} joined this scene from {Path(path).name}.{left}")
        except StageError as exc:
            s.note(str(exc).replace("\n", " "), "error")
        except Exception as exc:
            raise self.unexpected(exc) from exc
        return self.view(s, pick, play, None)

    def character_card(self, who: str | None, s: Session | None) -> str:
        """The character as a PNG card (V2 and V3 inside) that other tools open: the persona as its file (or
        the card it arrived from) says, not this session's edits. Written under this session's unguessable
        export folder (the stage's, before the session has a scene). Only a read of the session."""
        from stage.cards.export import portrait_png

        story = s.scene.story if s is not None and s.scene is not None else self.stage.story
        p = story.personas.get(who or "")
        if p is None:
            raise gr.Error(f"Unknown character {who!r}; pick one from the list.")
        folder = (s.exports if s is not None and s.scene is not None else self.stage.exports) / "cards"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{p.id}.png"
        tmp = path.with_name(f".{p.id}.png.tmp")
        tmp.write_bytes(portrait_png(p, story))
        tmp.replace(path)
        return str(path)

    def persona_value(self, who: str | None, field: str | None, s: Session | None) -> str:
        """The current value of a persona field in this session (with its edits), as the editor shows it.
        Only a read: it neither creates the session (it runs alongside ``load_page``) nor hands it back."""
        p = self.stage.story.personas.get(who or "")
        if p is None or field not in EDITABLE:
            return ""
        edits = s.scene.state.persona_edits.get(p.id, {}) if s is not None and s.scene is not None else {}
        q = apply_edits(p, edits)
        value: object = getattr(q, field) if hasattr(q, field) else getattr(q.voice, field, "")
        return "\n".join(value) if isinstance(value, tuple) else str(value)

    # -- transcripts ----------------------------------------------------------------------------------------

    def load(self, file: str | None, state: Session | None) -> Iterator[Outputs]:
        s = self.session(state)
        if not file:
            s.note("Choose a transcript file (.jsonl) first.", "error")
            yield self.view(s, gr.skip())
            return
        s.playing = False
        try:
            events, problems = load_transcript(Path(file), self.stage.story)
            scene = s.adopt(events)
        except StageError as exc:
            s.note(str(exc), "error")
            yield self.view(s, gr.skip())
            return
        except (OSError, ValueError, KeyError) as exc:
            s.note(f"{Path(file).name}: cannot continue this transcript ({exc})", "error")
            yield self.view(s, gr.skip())
            return
        s.note(f"Replaying {len(events)} events…", "busy")
        delay = min(0.15, REPLAY_SECONDS / max(1, len(events)))
        try:
            for k in range(1, len(events) + 1):
                s.reveal = k
                yield self.view(s, s.played, final=False)
                time.sleep(delay)
        finally:
            s.reveal = None
        skipped = f" ({len(problems)} corrupt line(s) skipped)" if problems else ""
        where = f"beat {scene.state.beat.position}: {scene.state.beat.title}"
        more = "it has ended; go to a beat to play on" if scene.state.ended else "press Play to continue"
        s.note(f"Loaded {len(events)} events{skipped}, at {where}; {more}.")
        yield self.view(s, s.played)


def done(_: object, message: str) -> str:
    """``message``, once the change before it has been made: a status line for a one-line act."""
    return message
