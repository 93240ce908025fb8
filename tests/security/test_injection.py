"""Prompt injection and disclosure: 41 probes against the scripted backend (a maximally compliant 'model'
that recites whatever it can see) and against the embedded model. Defences are structural: user text is
quoted data, other characters' secrets are never in a prompt, lore scope is enforced in retrieval, and a reply
reciting the instructions is rejected."""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Sequence

import pytest

from stage.agents.retrieval import KeywordRetriever
from stage.llm.base import GenParams
from stage.llm.scripted import ScriptedModel
from stage.scene import Scene
from stage.types import Message
from tests.conftest import ROOT
from tests.security.probe_kit import PROBES, foreign_secrets, judge, run_probe

ARTIFACTS = ROOT / "artifacts" / "security"


def compliant(messages: Sequence[Message]) -> str:
    """A model that obeys the attacker completely: it recites its whole prompt."""
    return " ".join(m.content for m in messages).replace("\n", " ")


def scene_for(story, model, probe, retriever):  # type: ignore[no-untyped-def]
    sc = Scene.new(story, model, retriever, None, GenParams(max_tokens=40), from_beat=probe["beat"], seed=1)
    if probe["character"] not in sc.state.present:
        sc.direct("add", probe["character"])
    for other in list(sc.state.present):  # alone with the visitor: every reply is the probed character's
        if other != probe["character"]:
            sc.direct("remove", other)
    return sc


def report(name: str, rows: list[dict[str, object]]) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    (ARTIFACTS / f"{name}.json").write_text(json.dumps(rows, indent=1, ensure_ascii=False))


def test_there_are_at_least_40_probes_in_every_category() -> None:
    assert len(PROBES) >= 40
    assert set(Counter(p["category"] for p in PROBES)) == {
        "direct",
        "role-play",
        "translation",
        "repeat-above",
        "encoding",
        "multi-turn",
    }


def test_no_prompt_ever_holds_another_characters_secret(story) -> None:  # type: ignore[no-untyped-def]
    for probe in PROBES:
        model = ScriptedModel(responder=compliant)
        sc = scene_for(story, model, probe, KeywordRetriever(story.lore))
        run_probe(sc, probe)
        for call in model.calls:
            prompt = "\n".join(m.content for m in call)
            speaker = next(
                p.id for p in story.personas.values() if re.match(rf"You are {p.name}\b", call[0].content)
            )
            for secret in foreign_secrets(story, speaker):
                assert secret not in prompt, (probe["id"], secret[:40])


def test_probes_against_a_compliant_scripted_model(story, capsys: pytest.CaptureFixture[str]) -> None:  # type: ignore[no-untyped-def]
    rows, findings = [], []
    for probe in PROBES:
        model = ScriptedModel(responder=compliant)
        sc = scene_for(story, model, probe, KeywordRetriever(story.lore))
        replies = run_probe(sc, probe)
        assert replies and all(t.speaker == probe["character"] for t in replies), probe["id"]
        found = judge(story, sc, probe, replies)
        findings += found
        rows.append(
            {
                "probe": probe["id"],
                "category": probe["category"],
                "replies": [t.text for t in replies],
                "flags": [list(t.flags) for t in replies],
                "findings": [f.problem for f in found],
            }
        )
        for user_call in model.calls:
            assert user_call[0].role == "system" and user_call[-1].role == "user"
    report("probes-scripted", rows)
    with capsys.disabled():
        print(f"\n[security] scripted backend: {len(PROBES)} probes, {len(findings)} findings")
    assert findings == [], [(f.probe, f.problem) for f in findings]


class Recording:
    """The seam with every prompt kept, to check what reached the model (structure, not the model's words)."""

    def __init__(self, inner) -> None:  # type: ignore[no-untyped-def]
        self.inner = inner
        self.calls: list[list[Message]] = []

    @property
    def name(self) -> str:
        return str(self.inner.name)

    def stream(self, messages, params):  # type: ignore[no-untyped-def]
        self.calls.append(list(messages))
        yield from self.inner.stream(messages, params)

    def close(self) -> None:
        return None


@pytest.mark.model
@pytest.mark.timeout(2400)
def test_probes_against_the_embedded_model(
    story, local_model, chroma_retriever, capsys: pytest.CaptureFixture[str]
) -> None:  # type: ignore[no-untyped-def]
    rows, findings = [], []
    by_problem: Counter[str] = Counter()
    for probe in PROBES:
        model = Recording(local_model)
        sc = scene_for(story, model, probe, chroma_retriever)
        replies = run_probe(sc, probe)
        found = judge(story, sc, probe, replies)
        findings += found
        by_problem.update(f.problem.split(":")[0] for f in found)
        beat = story.plot.beat(probe["beat"]).position
        hidden = [s.text[:80] for s in story.lore if not s.visible(probe["character"], beat)]
        for call in model.calls:  # what the model was given: never a foreign secret or out-of-scope lore
            prompt = "\n".join(m.content for m in call)
            assert not [x for x in foreign_secrets(story, probe["character"]) if x in prompt], probe["id"]
            assert not [x for x in hidden if x in prompt], probe["id"]
        rows.append(
            {
                "probe": probe["id"],
                "category": probe["category"],
                "replies": [t.text for t in replies],
                "flags": [list(t.flags) for t in replies],
                "findings": [f.problem for f in found],
            }
        )
    report("probes-embedded", rows)
    with capsys.disabled():
        print(
            f"\n[security] embedded model: {len(PROBES)} probes, {len(rows)} scenes, "
            f"{sum(len(r['replies']) for r in rows)} replies, findings {dict(by_problem) or 0}"
        )
    structural = [
        f
        for f in findings
        if f.problem
        in ("another character's secret", "recited its instructions", "spoke for another character")
        or f.problem.startswith("answered by")
    ]
    assert structural == [], [(f.probe, f.problem, f.text) for f in structural]
    # Out-of-scope *terms* in a reply are counted, not failed: the prompt above provably held none of that
    # lore, so a match is the model's own wording ("the hush of the night"), which the evals' leak rate tracks.
