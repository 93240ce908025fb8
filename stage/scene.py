"""The one loop: director -> agent -> transcript. UI, CLI and evals drive a ``Scene``; none holds story logic."""

from __future__ import annotations

import logging
import random
import threading
import types
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

from stage import timeline
from stage.agents import safety
from stage.agents.agent import Reply, SpeakProgress, speak
from stage.agents.context import TurnContext, apply_edits, history
from stage.agents.facts import (
    first_person,
    pronouns_of,
    second_person,
    spoken,
    yours,
)
from stage.agents.guards import ROLE_WORDS
from stage.agents.inputs import clean_user_text
from stage.agents.recall import default_embedder, is_wh_question, kin_of, people_named, relevant, trim
from stage.agents.retrieval import Retriever
from stage.agents.scorer import Scorer, story_texts
from stage.agents.viewpoint import recall_pool
from stage.cards.screen import persona_texts, screen
from stage.cast.schema import persona_of
from stage.director.policy import Decision, Pressure, beat_done, choose_speaker, pressure
from stage.director.state import SceneState, apply, fold
from stage.errors import ConfigError, DataError, ModelError
from stage.library import clean_title
from stage.llm.base import ChatModel, GenParams, Queued, Retry, TextDelta
from stage.llm.route import model_for
from stage.timeline import Tree
from stage.transcript import (
    ALTERNATIVE_FIELDS,
    CHANGES,
    EDITABLE,
    RATINGS,
    Action,
    Arrival,
    BeatChange,
    Choose,
    Delete,
    Direction,
    Edit,
    ErrorEvent,
    Event,
    Narration,
    Rate,
    Rename,
    Rewind,
    SafetyEvent,
    SceneEnd,
    SceneStart,
    Swipe,
    Transcript,
    Turn,
    UserLine,
    speaker_of,
    visitor,
)
from stage.types import Beat, Story

log = logging.getLogger(__name__)

LORE_K = 2
HINTS = 1  # own facts put next to the line being answered
PER_EVENT = "per-event"  # how new scenes seed their draws (``SceneStart.draws``)
SWIPE_SEED = 1000  # a regenerated alternative samples with the model seed moved this far per alternative


@dataclass(frozen=True)
class Wrote:
    """An event the turn wrote to the transcript (the reply, a safety note, a beat change)."""

    event: Event


# What a turn yields, in order: the director's decision, the reply's text as it streams (a ``Retry`` voids
# the text so far), then every event written.
Progress = Decision | TextDelta | Retry | Queued | Wrote


def events_of(progress: Iterable[Progress]) -> list[Event]:
    """Drive a turn (or several) to the end and keep only the events written."""
    return [p.event for p in progress if isinstance(p, Wrote)]


def cast_of(story: Story, events: Iterable[Event]) -> Story:
    """``story`` with the characters who arrived in this scene from cards (``arrival`` events)."""
    arrived = [e for e in events if isinstance(e, Arrival)]
    if not arrived:
        return story
    personas = dict(story.personas)
    for e in arrived:
        source = e.source or "an arrival"
        # screened again, as when the card was dropped: a transcript can be uploaded, and its arrivals go
        # straight into a prompt
        found = screen(persona_texts(e.persona))
        if found:
            raise DataError(f"{source}: the arriving character's {found[0].where} holds {found[0].what}")
        p = persona_of(e.persona, source)
        personas.setdefault(p.id, p)
    return replace(story, personas=personas)


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
        draws: str = PER_EVENT,
    ) -> None:
        self.base = story  # the story's own cast; ``story`` adds who arrived from cards in this scene
        self.story = story = cast_of(story, transcript.events)
        self.model = model
        self.retriever = retriever
        self.transcript = transcript
        self.params = params
        self.seed = seed
        self.draws = draws
        self.rng = random.Random(seed)
        self.embed = default_embedder()  # the lore store's MiniLM: loaded on first use, shared by the process
        self.scorer = Scorer(story, self.embed)
        self.names = {cid: p.name for cid, p in story.personas.items()}
        self.people = people_named(story_texts(story), list(self.names.values()))
        # what a person's line is screened by before it reaches a model or the transcript. Only the evals'
        # red-team run replaces it (to test the screen on what characters say); nothing a page can reach does
        self.screen_input: Callable[[str], safety.Verdict] = safety.check
        # a plain lock: a turn is a generator, and Gradio may resume it on another worker thread
        self.lock = threading.Lock()
        self.tree = Tree.of(transcript.events)
        self.state = fold(story.plot, self.names, self.tree.line())

    def _recast(self) -> None:
        """After an arrival: the story, the scorer's cast and the names know the newcomer."""
        self.story = cast_of(self.base, self.transcript.events)
        self.scorer = Scorer(self.story, self.embed)
        self.names = {cid: p.name for cid, p in self.story.personas.items()}
        self.people = people_named(story_texts(self.story), list(self.names.values()))

    def arrive(self, persona: Mapping[str, Any], *, source: str = "") -> list[Event]:
        """A character from a card joins this scene (and only this scene): recorded whole as an ``arrival``
        (``admit``), then brought on stage like any other added character."""
        arrived = self.admit(persona, source=source)
        return [arrived, *self.direct(Action.ADD, target=str(persona.get("id", "")))]

    def admit(self, persona: Mapping[str, Any], *, source: str = "") -> Event:
        """The ``arrival`` alone: the character is known to this scene from now on, not yet on stage (a replay
        calls this, and takes the ``add`` that followed from the recording)."""
        with self.lock:
            pid = str(persona.get("id", ""))
            if pid in self.story.personas:
                raise ConfigError(f"{self.names.get(pid, pid)} is already in this story")
            persona_of(persona, source or "the card")  # the schema's word on it, before anything is written
            arrived = self._emit(Arrival(beat=self.state.beat.id, persona=dict(persona), source=source))
            self._recast()
            return arrived

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
        draws: str = PER_EVENT,
    ) -> Scene:
        """A scene at ``from_beat``. ``draws``: how the director's tie-breaks are seeded; a replay passes the
        recorded one (``""`` for transcripts written before ``PER_EVENT``)."""
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
            draws=draws,
        )
        transcript.append(start)
        scene = cls(story, model, retriever, transcript, params, seed, draws)
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
        try:
            scene = cls(story, model, retriever, transcript, params, start.seed, start.draws)
        except DataError as exc:
            transcript.close()
            raise DataError([f"{path}: {p}" for p in exc.problems]) from None
        if start.draws != PER_EVENT:  # written before per-event draws: as before (its replay cannot follow)
            scene.rng = random.Random(start.seed * 1_000_003 + len(transcript.events))
        with scene.lock:
            scene._after_utterance()  # a turn that completed its beat, written just before a crash: move on
        return scene

    # -- what happens ---------------------------------------------------------------------------------------

    def _emit(self, event: Event) -> Event:
        self.tree.check(replace(event, seq=self.transcript.next_seq))  # a bad change raises before it is written
        stamped = self.transcript.append(event)
        self.tree.add(stamped)
        if isinstance(stamped, Rate):
            pass  # the line reads the same
        elif isinstance(stamped, CHANGES):
            self.state = fold(self.story.plot, self.names, self.tree.line())
        else:
            apply(self.state, self.story.plot, self.names, stamped)
        return stamped

    @property
    def line(self) -> list[Event]:
        """The events that count (``stage.timeline``): the log with its swipes, edits, deletes and rewinds."""
        return self.tree.line()

    def _draw(self) -> None:
        """Seed this turn's draws from the seed and the events so far: a resumed scene (or a replay) draws
        what the uninterrupted scene would have."""
        if self.draws == PER_EVENT:
            self.rng = random.Random(f"{self.seed}:{len(self.transcript.events)}")

    def _enter(self, beat: Beat, present: Sequence[str], reason: str) -> list[Event]:
        old = self.state.beat.id if len(self.tree.path) > 1 else ""
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
        why = beat_done(self.state) if not self.state.ended else ""
        if not why:
            return []
        nxt = self.story.plot.next_beat(self.state.beat)
        if nxt is None:
            return [self._emit(SceneEnd(beat=self.state.beat.id, reason=f"the story is complete: {why}"))]
        return self._enter(nxt, nxt.present, f"{self.state.beat.title} is done: {why}")

    @property
    def ended(self) -> bool:
        return self.state.ended

    def step(self, *, recorded: Reply | None = None) -> Iterator[Progress]:
        """One character turn (and a beat change if it completes the beat), as it happens.

        ``recorded`` replays a reply from a transcript instead of asking the model: the director still picks
        the speaker and folds the line, which is what a replay checks.

        Nothing is written until the reply is complete, so a turn abandoned midway (the page went away)
        leaves the transcript as it was. A model failure is logged as an ``error`` event and raises
        ``ModelError``; the state is unchanged, so the next ``step`` picks up where this one stopped."""
        with self.lock:
            if self.state.ended:
                return
            self._draw()
            decision = choose_speaker(self.state, self.names, self.rng)
            if decision is None:
                return
            yield decision
            reply = recorded
            if reply is None:
                try:
                    for item in self._speak(decision.speaker):
                        if isinstance(item, Reply):
                            reply = item
                        else:
                            yield item
                except ModelError as exc:
                    where = f"turn of {decision.speaker}"
                    self._emit(ErrorEvent(beat=self.state.beat.id, message=str(exc), where=where))
                    raise
            assert reply is not None, "speak ends with a Reply"
            yield Wrote(self._emit(replace(reply.turn, reason=decision.reason)))
            if reply.safety_category:
                note = SafetyEvent(
                    beat=self.state.beat.id,
                    direction="output",
                    category=reply.safety_category,
                    who=decision.speaker,
                )
                yield Wrote(self._emit(note))
            for event in self._after_utterance():
                yield Wrote(event)

    def say(self, text: str, name: str = "Visitor", as_character: str = "") -> list[Event]:
        """A person speaks, as a visitor or as a character they play. Refused input raises ``InputRefused``."""
        with self.lock:
            if self.state.ended:
                raise ConfigError("this scene has ended; start a new one or load a transcript to continue")
            clean = clean_user_text(text)
            who = self._character(as_character) if as_character else ""
            guest = clean_user_text(name, max_chars=40).text if not who else ""
            key = who or visitor(guest).key
            verdict = self.screen_input(clean.text)
            beat = self.state.beat.id
            if not verdict.allowed:
                events = [
                    self._emit(SafetyEvent(beat=beat, direction="input", category=verdict.category, who=key))
                ]
                responder = self._responder(clean.text, key)
                if responder:
                    p = self.story.personas[responder]
                    refusal = Turn(
                        beat=beat,
                        speaker=responder,
                        text=safety.refusal(p.name, p.age, verdict.category, text=clean.text),
                        reason="the content policy answered for the character",
                        model="policy",
                        flags=("safety:refused-input",),
                    )
                    events.append(self._emit(refusal))
                return events
            events = [
                self._emit(
                    UserLine(beat=beat, name=guest, as_character=who, text=clean.text, notice=clean.notice)
                )
            ]
            return events + self._after_utterance()

    def direct(
        self, action: Action | str, target: str = "", text: str = "", *, edits: Mapping[str, str] | None = None
    ) -> list[Event]:
        """A writer's override, recorded as a ``direction`` event (plus its effect). ``edits`` (field -> new
        value) is for ``persona``; ``text`` for ``inject`` and ``whisper``; ``target`` names the beat for
        ``goto`` and the character otherwise."""
        with self.lock:
            try:
                action = Action(action)
            except ValueError:
                valid = ", ".join(a.value for a in Action)
                raise ConfigError(f"unknown direction {action!r}; expected one of {valid}") from None
            beat = self.state.beat.id
            if action is Action.GOTO:
                dest = _beat(self.story, target)
                d = self._emit(Direction(beat=beat, action=action, target=dest.id, text=text))
                self.state.ended = False
                return [d, *self._enter(dest, dest.present, f"the writer moved the scene to {dest.title}")]
            if action is Action.INJECT:
                body = clean_user_text(text).text
                d = self._emit(Direction(beat=beat, action=action, text=body))
                return [d, self._emit(Narration(beat=beat, text=body, source="writer"))]
            who = self._character(target)
            if action is Action.FORCE and who not in self.state.present:
                raise ConfigError(f"{self.names[who]} is not in this scene; add them first")
            if action is Action.WHISPER:
                text = clean_user_text(text).text
            changes: dict[str, str] = {}
            if action is Action.PERSONA:
                bad = [k for k in edits or {} if k not in EDITABLE]
                if bad:
                    raise ConfigError(f"cannot edit {', '.join(bad)}; editable fields: {', '.join(EDITABLE)}")
                changes = {k: clean_user_text(str(v), max_chars=4000).text for k, v in (edits or {}).items()}
            return [self._emit(Direction(beat=beat, action=action, target=who, text=text, edits=changes))]

    # -- changes to lines already said (stage.timeline) -----------------------------------------------------

    def swipe(self, of: int, *, recorded: Swipe | None = None, category: str = "") -> Iterator[Progress]:
        """Another reply for character turn ``of``, kept beside it and shown from now on: the turn's next
        runner-up candidate that could stand, else a new one from the model, made from what came before
        the turn. ``recorded`` (and the ``category`` of its safety note) replays a swipe from a transcript.
        Like ``step``, nothing is written until the reply is complete."""
        with self.lock:
            turn = self._line_event(of, Turn, "swipe")
            if recorded is None:
                alt = self._runner_up(turn)
                if alt is None:
                    yield Decision(turn.speaker, f"another reply from {self.names.get(turn.speaker, turn.speaker)}")
                    reply: Reply | None = None
                    self._draw()
                    before = self._before(of)
                    count = self.tree.count(of)[1]
                    params = self.params
                    if params.seed is not None:
                        params = replace(params, seed=params.seed + SWIPE_SEED * count)
                    # the replies it already has count as heard: the near-repeat guard turns them away
                    original = self.tree.nodes[of]
                    had = tuple(
                        dict.fromkeys(
                            [turn.text, getattr(original, "text", ""), *(a.text for a in self.tree.alternatives.get(of, ()))]
                        )
                    )
                    try:
                        for item in self._speak(turn.speaker, view=before, params=params, avoid=had):
                            if isinstance(item, Reply):
                                reply = item
                            else:
                                yield item
                    except ModelError as exc:
                        self._emit(ErrorEvent(beat=self.state.beat.id, message=str(exc), where=f"swipe of {of}"))
                        raise
                    assert reply is not None, "speak ends with a Reply"
                    made = {f: getattr(reply.turn, f) for f in ALTERNATIVE_FIELDS}
                    alt = Swipe(beat=turn.beat, of=of, source="regenerated", **made)
                    category = reply.safety_category
                recorded = alt
            yield Wrote(self._emit(replace(recorded, of=of)))
            if category:
                note = SafetyEvent(beat=turn.beat, direction="output", category=category, who=turn.speaker)
                yield Wrote(self._emit(note))
            for event in self._after_utterance():
                yield Wrote(event)

    def choose(self, of: int, index: int) -> list[Event]:
        """Alternative ``index`` of turn ``of`` (0: the turn as first written) stands from now on."""
        with self.lock:
            self._line_event(of, Turn, "choose")
            count = self.tree.count(of)[1]
            if not 0 <= index < count:
                raise ConfigError(f"turn {of} has {count} alternative(s); there is no number {index + 1}")
            return [self._emit(Choose(beat=self.state.beat.id, of=of, index=index)), *self._after_utterance()]

    def edit(self, of: int, text: str) -> list[Event]:
        """Correct line ``of``: what the page shows and characters remember from now on. The new words go
        through the same cleaning and content policy as anything a person types."""
        with self.lock:
            self._line_event(of, Turn | UserLine | Narration, "edit")
            clean = clean_user_text(text)
            verdict = self.screen_input(clean.text)
            if not verdict.allowed:
                raise ConfigError("that edit cannot stand on this stage; the line is unchanged")
            return [self._emit(Edit(beat=self.state.beat.id, of=of, text=clean.text)), *self._after_utterance()]

    def delete(self, of: int) -> list[Event]:
        """Line ``of`` no longer counts (it stays in the log, marked deleted)."""
        with self.lock:
            self._line_event(of, Turn | UserLine | Narration, "delete")
            return [self._emit(Delete(beat=self.state.beat.id, of=of)), *self._after_utterance()]

    def rewind(self, to: int) -> list[Event]:
        """Go back to event ``to`` (on this line or a branch a rewind left): it becomes the last that counts."""
        with self.lock:
            if to not in self.tree.nodes:
                raise ConfigError(f"there is no event {to} in this scene to go back to")
            events = [self._emit(Rewind(beat=self.tree.nodes[to].beat, to=to))]
            return events + self._after_utterance()

    def rate(self, of: int, value: str) -> Event:
        """A reader's thumbs on character turn ``of`` ("like", "dislike", or "" to take them back)."""
        with self.lock:
            self._line_event(of, Turn, "rate")
            if value not in RATINGS:
                raise ConfigError(f"a rating is like, dislike or nothing, not {value!r}")
            return self._emit(Rate(beat=self.state.beat.id, of=of, value=value))

    def rename(self, title: str) -> Event:
        with self.lock:
            return self._emit(Rename(beat=self.state.beat.id, title=clean_title(title)))

    def fork(self, at: int, path: Path | None) -> Transcript:
        """A new transcript that starts as this scene's line did at event ``at``."""
        with self.lock:
            if at not in self.tree.nodes:
                raise ConfigError(f"there is no event {at} in this scene to fork from")
            return timeline.fork(self.transcript.events, at, path)

    def log_error(self, message: str, where: str) -> Event:
        """An ``error`` event as a replay finds it in the recording (it keeps the replay's draws in step)."""
        with self.lock:
            return self._emit(ErrorEvent(beat=self.state.beat.id, message=message, where=where))

    def _line_event(self, seq: int, kinds: type[Event] | types.UnionType, verb: str) -> Any:
        e = self.tree.on_line(seq)
        if e is None:
            raise ConfigError(f"cannot {verb} line {seq}: it is not in this scene's line (deleted, or on another branch)")
        if not isinstance(e, kinds):
            raise ConfigError(f"cannot {verb} line {seq}: it is a {e.kind} event")
        return e

    def _runner_up(self, turn: Turn) -> Swipe | None:
        """The turn's best candidate that could have stood and is not shown yet, as an alternative."""
        original = self.tree.nodes[turn.seq]
        assert isinstance(original, Turn)
        taken = {original.text, *(s.text for s in self.tree.alternatives.get(turn.seq, ()))}
        fit = [
            (float(c.get("score", 0.0)), str(c.get("text", "")))
            for n, c in enumerate(original.candidates)
            if n != original.chosen and not c.get("reject") and str(c.get("text", "")).strip()
        ]
        for _, text in sorted(fit, key=lambda x: -x[0]):
            if text not in taken:
                return Swipe(beat=turn.beat, of=turn.seq, text=text, source="candidate", model=original.model)
        return None

    def _before(self, seq: int) -> View:
        """The line and the state as they were just before event ``seq``."""
        events = self.line
        cut = next(i for i, e in enumerate(events) if e.seq == seq)
        earlier = events[:cut]
        return View(fold(self.story.plot, self.names, earlier), earlier)

    def play(self, turns: int, until_beat: str | int | None = None) -> Iterator[Progress]:
        """Up to ``turns`` character turns, as they happen; stops early at the end or once ``until_beat`` is
        complete."""
        stop_after = _beat(self.story, until_beat).position if until_beat is not None else None
        for _ in range(turns):
            if self.state.ended:
                return
            took_turn = False
            for item in self.step():
                took_turn = True
                yield item
            if not took_turn:
                return
            if stop_after is not None and self.state.beat.position > stop_after:
                return

    def run(self, turns: int, until_beat: str | int | None = None) -> int:
        """``play`` to the end without watching; the number of turns taken."""
        return sum(isinstance(p, Decision) for p in self.play(turns, until_beat))

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

    def _now(self) -> View:
        return View(self.state, self.line)

    def _other_speakers(self, me: str, line: Sequence[Event]) -> tuple[str, ...]:
        visitors = sorted({e.name for e in line if isinstance(e, UserLine) and e.name})
        return (*[n for cid, n in self.names.items() if cid != me], *visitors, *ROLE_WORDS)

    def _context(self, speaker: str, view: View | None = None) -> TurnContext:
        st, line = view or self._now()
        persona = apply_edits(self.story.personas[speaker], st.persona_edits.get(speaker, {}))
        recent, earlier, here = history(line, self.names, self.story.plot, st.beat, speaker)
        goal = st.beat.goals.get(speaker, "")
        last = recent[-1] if recent else None
        said_by = speaker_of(last, self.names) if last is not None else None
        answering = last.text if isinstance(last, Turn | UserLine) and said_by and said_by.id != speaker else ""
        # a line said to the character is what the lore search is for; otherwise the beat and the talk so far
        said = [e.text for e in recent if isinstance(e, Turn | UserLine)][-2:]
        query = " ".join([st.beat.title, answering] if answering else [st.beat.title, goal, *said])
        hits = self.retriever.search(query, as_character=speaker, beat=st.beat.position, k=LORE_K)
        people = [(c, self.names[c]) for c in st.present if c != speaker]
        people += [("", visitor(v).label) for v in _visitors_in_beat(line, st.beat.id)]
        hints: list[str] = []
        if answering:
            facts = recall_pool(persona, self.story, st.beat.position, hits)
            kin = kin_of(facts)  # the sheet's relation lines, which open what the character recalls
            # in the character's own voice: a tiny model that copies what is near then copies an answer
            found = relevant(answering, facts, self.embed, k=HINTS, ignore=(persona.name,), people=self.people, kin=kin)
            # only as much of the fact as answers: "I live on the 41st floor", not the flat's whole description
            hints = [first_person(trim(h, answering, self.embed)) for h in found]
        # a question a fact can answer gets that fact, said as the character, among the candidates: the 135M model
        # rarely copies even a fact put right next to the question, and a true line beats a made-up one
        answer = spoken(hints[0]) if hints and is_wh_question(answering) else ""
        return TurnContext(
            persona=persona,
            beat=st.beat,
            names=self.names,
            people=tuple(people),
            lore=tuple(hits),
            recent=recent,
            earlier=earlier,
            whispers=tuple(st.whispers.get(speaker, ())),
            here=here,
            heard=tuple([e.text for e in line if isinstance(e, Turn | UserLine)][-6:]),
            others=self._other_speakers(speaker, line),
            absent=tuple(n for c, n in self.names.items() if c not in st.present),
            setting=self.story.plot.setting,
            hints=tuple(hints),
            answer=answer,
            moments=tuple(
                (i, c.description, c.terms)
                for i, c in enumerate(st.beat.exit)
                if i not in st.satisfied and (not c.by or speaker in c.by)
            ),
        )

    def _speak(
        self,
        speaker: str,
        view: View | None = None,
        params: GenParams | None = None,
        avoid: tuple[str, ...] = (),
    ) -> Iterator[SpeakProgress]:
        """The agent's turn, with the director's push toward the beat's key moment when it gives one.
        ``view``: the line and state to speak from (a swipe speaks from just before the turn it replaces);
        ``avoid``: lines it must not repeat, besides those heard."""
        view = view or self._now()
        ctx = self._context(speaker, view)
        if avoid:
            ctx = replace(ctx, heard=(*ctx.heard, *avoid))
        push = pressure(view.state, speaker, self.names)
        if push is not None:
            ctx = self._pushed(ctx, push)
        model = model_for(self.model, ctx.persona.id)
        for item in speak(model, ctx, params or self.params, rng=self.rng, scorer=self.scorer):
            if isinstance(item, Reply) and push is not None:
                item = replace(item, turn=replace(item.turn, cue=ctx.moment, cue_reason=push.reason))
            yield item

    def _pushed(self, ctx: TurnContext, push: Pressure) -> TurnContext:
        """``ctx`` with the director's push: the beat goal, then the moment itself, told to the character."""
        pro = pronouns_of(ctx.persona)
        told = yours(second_person(push.note, ctx.persona, pro), pro).rstrip(".")
        return replace(ctx, moment=told, moment_level=push.level, moment_line=push.line)



class View(NamedTuple):
    """A scene as of some point: its director's state and the line of events that counts."""

    state: SceneState
    line: list[Event]


def _visitors_in_beat(line: Sequence[Event], beat: str) -> list[str]:
    return sorted({e.name for e in line if isinstance(e, UserLine) and e.name and e.beat == beat})


def _beat(story: Story, ref: str | int | None) -> Beat:
    try:
        return story.plot.beat(1 if ref is None else ref)
    except KeyError as exc:
        raise ConfigError(str(exc.args[0])) from exc

