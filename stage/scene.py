"""The one loop: director -> agent -> transcript. UI, CLI and evals drive a ``Scene``; none holds story logic."""

from __future__ import annotations

import json
import logging
import random
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

from stage.agents import safety
from stage.agents.agent import speak
from stage.agents.context import TurnContext, apply_edits, history
from stage.agents.inputs import clean_user_text
from stage.agents.retrieval import Retriever
from stage.director.policy import Decision, beat_done, choose_speaker
from stage.director.state import apply, fold
from stage.errors import ConfigError, ModelError
from stage.llm.base import ChatModel, GenParams, RetryCallback, TokenCallback
from stage.transcript import (
    BeatChange,
    Direction,
    ErrorEvent,
    Event,
    Narration,
    SafetyEvent,
    SceneEnd,
    SceneStart,
    Transcript,
    Turn,
    UserLine,
)
from stage.types import Beat, Story

log = logging.getLogger(__name__)

ACTIONS = ("goto", "force", "inject", "whisper", "add", "remove", "persona", "take", "release")
EDITABLE = ("role", "description", "style", "sentence_length", "vocabulary", "goals", "fears", "examples")
ROLE_WORDS = ("Visitor", "Narrator", "User", "Assistant", "You", "System")
LORE_K = 2


class Scene:
    """A running scene. Every change goes through ``_emit``: written to the transcript, then folded into state."""

    def __init__(
        self,
        story: Story,
        model: ChatModel,
        retriever: Retriever,
        transcript: Transcript,
        params: GenParams,
        seed: int = 0,
    ) -> None:
        self.story = story
        self.model = model
        self.retriever = retriever
        self.transcript = transcript
        self.params = params
        self.rng = random.Random(seed)
        self.names = {cid: p.name for cid, p in story.personas.items()}
        self.lock = threading.RLock()
        self.state = fold(story.plot, self.names, transcript.events)

    # -- construction -------------------------------------------------------------------------------------

    @classmethod
    def new(
        cls,
        story: Story,
        model: ChatModel,
        retriever: Retriever,
        path: Path | None,
        params: GenParams,
        from_beat: str | int = 1,
        seed: int = 0,
        humans: Sequence[str] = (),
        backend: str = "",
    ) -> Scene:
        beat = _beat(story, from_beat)
        transcript = Transcript(path)
        start = SceneStart(
            beat=beat.id,
            title=story.plot.title,
            present=beat.present,
            backend=backend,
            model=model.name,
            seed=seed,
            humans=tuple(humans),
        )
        transcript.append(start)
        scene = cls(story, model, retriever, transcript, params, seed)
        scene._enter(beat, beat.present, "the scene starts here")
        return scene

    @classmethod
    def resume(
        cls, story: Story, model: ChatModel, retriever: Retriever, path: Path, params: GenParams
    ) -> Scene:
        transcript = Transcript.open(path)
        start = next((e for e in transcript.events if isinstance(e, SceneStart)), None)
        if start is None:
            raise ConfigError(f"{path}: not a transcript this stage can resume (no 'scene' event)")
        scene = cls(story, model, retriever, transcript, params, start.seed)
        scene.rng = random.Random(start.seed * 1_000_003 + len(transcript.events))
        return scene

    # -- what happens ---------------------------------------------------------------------------------------

    def _emit(self, event: Event) -> Event:
        stamped = self.transcript.append(event)
        apply(self.state, self.story.plot, self.names, stamped)
        return stamped

    def _enter(self, beat: Beat, present: Sequence[str], reason: str) -> list[Event]:
        old = self.state.beat.id if self.transcript.events and len(self.transcript.events) > 1 else ""
        change = BeatChange(
            beat=beat.id,
            from_beat=old,
            reason=reason,
            present=tuple(present),
            position=beat.position,
            title=beat.title,
            location=beat.location,
        )
        return [self._emit(change), self._emit(Narration(beat=beat.id, text=beat.summary, source="director"))]

    def _after_utterance(self) -> list[Event]:
        why = beat_done(self.state)
        if not why:
            return []
        nxt = self.story.plot.next_beat(self.state.beat)
        if nxt is None:
            return [self._emit(SceneEnd(beat=self.state.beat.id, reason=f"the story is complete: {why}"))]
        return self._enter(nxt, nxt.present, f"{self.state.beat.title} is done: {why}")

    @property
    def ended(self) -> bool:
        return self.state.ended

    def step(
        self,
        on_token: TokenCallback | None = None,
        on_retry: RetryCallback | None = None,
        on_decision: Callable[[Decision], None] | None = None,
    ) -> list[Event]:
        """One character turn (and a beat change if it completes the beat). Raises ``ModelError`` after
        logging an ``error`` event; the state is unchanged, so the next ``step`` picks up where this stopped."""
        with self.lock:
            if self.state.ended:
                return []
            decision = choose_speaker(self.state, self.names, self.rng)
            if decision is None:
                return []
            if on_decision is not None:
                on_decision(decision)
            ctx = self._context(decision.speaker)
            try:
                reply = speak(
                    self.model,
                    ctx,
                    self.names,
                    self._recent_texts(),
                    self.params,
                    self._other_speakers(decision.speaker),
                    self.rng,
                    [n for c, n in self.names.items() if c not in self.state.present],
                    on_token,
                    on_retry,
                )
            except ModelError as exc:
                self._emit(
                    ErrorEvent(beat=self.state.beat.id, message=str(exc), where=f"turn of {decision.speaker}")
                )
                raise
            events = [self._emit(_with_reason(reply.turn, decision.reason))]
            if reply.safety_category:
                events.append(
                    self._emit(
                        SafetyEvent(
                            beat=self.state.beat.id,
                            direction="output",
                            category=reply.safety_category,
                            who=decision.speaker,
                        )
                    )
                )
            return events + self._after_utterance()

    def say(self, text: str, name: str = "Visitor", as_character: str = "") -> list[Event]:
        """A person speaks, as a visitor or as a character they play. Refused input raises ``InputRefused``."""
        with self.lock:
            if self.state.ended:
                raise ConfigError("this scene has ended; start a new one or load a transcript to continue")
            clean = clean_user_text(text)
            who = self._character(as_character) if as_character else ""
            visitor = clean_user_text(name, max_chars=40).text if not who else ""
            verdict = safety.check(clean.text)
            beat = self.state.beat.id
            if not verdict.allowed:
                events = [
                    self._emit(
                        SafetyEvent(
                            beat=beat,
                            direction="input",
                            category=verdict.category,
                            who=who or f"visitor:{visitor}",
                        )
                    )
                ]
                responder = self._responder(clean.text, who or f"visitor:{visitor}")
                if responder:
                    p = self.story.personas[responder]
                    refusal = Turn(
                        beat=beat,
                        speaker=responder,
                        text=safety.refusal(p.name, p.age, verdict.category),
                        reason="the content policy answered for the character",
                        model="policy",
                        flags=("safety:refused-input",),
                    )
                    events.append(self._emit(refusal))
                return events
            events = [
                self._emit(
                    UserLine(beat=beat, name=visitor, as_character=who, text=clean.text, notice=clean.notice)
                )
            ]
            return events + self._after_utterance()

    def direct(self, action: str, target: str = "", text: str = "") -> list[Event]:
        """A writer's override, recorded as a ``direction`` event (plus its effect)."""
        with self.lock:
            if action not in ACTIONS:
                raise ConfigError(f"unknown direction {action!r}; expected one of {', '.join(ACTIONS)}")
            beat = self.state.beat.id
            if action == "goto":
                dest = _beat(self.story, target)
                d = self._emit(Direction(beat=beat, action=action, target=dest.id, text=text))
                if self.state.ended:
                    self.state.ended = False
                return [d, *self._enter(dest, dest.present, f"the writer moved the scene to {dest.title}")]
            if action == "inject":
                body = clean_user_text(text).text
                d = self._emit(Direction(beat=beat, action=action, text=body))
                return [d, self._emit(Narration(beat=beat, text=body, source="writer"))]
            who = self._character(target)
            if action == "force" and who not in self.state.present:
                raise ConfigError(f"{self.names[who]} is not in this scene; add them first")
            if action == "whisper":
                text = clean_user_text(text).text
            if action == "persona":
                edits = json.loads(text) if text else {}
                bad = [k for k in edits if k not in EDITABLE]
                if bad:
                    raise ConfigError(f"cannot edit {', '.join(bad)}; editable fields: {', '.join(EDITABLE)}")
                text = json.dumps({k: clean_user_text(str(v), max_chars=4000).text for k, v in edits.items()})
            return [self._emit(Direction(beat=beat, action=action, target=who, text=text))]

    def run(
        self, turns: int, until_beat: str | int | None = None, on_event: Callable[[Event], None] | None = None
    ) -> int:
        """Up to ``turns`` character turns, stopping early at the end or when ``until_beat`` is complete."""
        stop_after = _beat(self.story, until_beat).position if until_beat is not None else None
        done = 0
        while done < turns and not self.state.ended:
            events = self.step()
            if not events:
                break
            done += 1
            for e in events:
                if on_event is not None:
                    on_event(e)
            if stop_after is not None and self.state.beat.position > stop_after:
                break
        return done

    # -- helpers --------------------------------------------------------------------------------------------

    def _character(self, ref: str) -> str:
        try:
            return self.story.persona(ref).id
        except KeyError as exc:
            raise ConfigError(str(exc.args[0])) from exc

    def _responder(self, text: str, speaker: str) -> str:
        from stage.director.addressing import addressee

        agents = [c for c in self.state.present if c not in self.state.humans]
        named = addressee(text, agents, self.names, speaker, vocative=False)
        return named or (agents[0] if agents else "")

    def _visitors(self) -> list[str]:
        return sorted({e.name for e in self.transcript.events if isinstance(e, UserLine) and e.name})

    def _other_speakers(self, me: str) -> list[str]:
        return [n for cid, n in self.names.items() if cid != me] + self._visitors() + list(ROLE_WORDS)

    def _recent_texts(self) -> list[str]:
        spoken = [e.text for e in self.transcript.events if isinstance(e, Turn | UserLine)]
        return spoken[-6:]

    def _context(self, speaker: str) -> TurnContext:
        st = self.state
        persona = apply_edits(self.story.personas[speaker], st.persona_edits.get(speaker, {}))
        recent, earlier, here = history(self.transcript.events, self.names, self.story.plot, st.beat, speaker)
        goal = st.beat.goals.get(speaker, "")
        said = [e.text for e in recent if isinstance(e, Turn | UserLine)][-2:]
        query = " ".join([st.beat.title, goal, *said])
        hits = self.retriever.search(query, as_character=speaker, beat=st.beat.position, k=LORE_K)
        people = [(c, self.names[c]) for c in st.present if c != speaker]
        people += [("", f"{v} (a visitor)") for v in self._visitors_in_beat()]
        last = next((e for e in reversed(self.transcript.events) if isinstance(e, Turn | UserLine)), None)
        name = persona.name
        if isinstance(last, UserLine) and st.addressed == speaker:
            who = self.names.get(last.as_character, last.as_character) if last.as_character else last.name
            cue = f"{who} is talking to {name}."
        else:
            cue = ""
        return TurnContext(
            persona=persona,
            beat=st.beat,
            people=tuple(people),
            lore=tuple(hits),
            recent=recent,
            earlier=earlier,
            whispers=tuple(st.whispers.get(speaker, ())),
            cue=cue,
            here=here,
        )

    def _visitors_in_beat(self) -> list[str]:
        beat = self.state.beat.id
        return sorted(
            {e.name for e in self.transcript.events if isinstance(e, UserLine) and e.name and e.beat == beat}
        )


def _beat(story: Story, ref: str | int | None) -> Beat:
    try:
        return story.plot.beat(1 if ref is None else ref)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc


def _with_reason(turn: Turn, reason: str) -> Turn:
    from dataclasses import replace

    return replace(turn, reason=reason)
