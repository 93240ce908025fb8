"""The report and the judge hook, on hand-made transcripts and a fake judge endpoint (no live model)."""

from __future__ import annotations

import json
from pathlib import Path

from stage import runtime
from stage.evals import report
from stage.evals.compare import compare
from stage.evals.judge import from_env, parse
from stage.evals.metrics import Scorer
from stage.evals.played import Played
from stage.evals.results import assemble, suite_record
from stage.evals.runner import run
from stage.evals.suite import Suite, load_suites, resolve, spec_from
from stage.settings import Settings, load_settings
from stage.transcript import to_dict
from stage.types import Story
from tests.evals.support import Script
from tests.fakes import flaky


def scripted(home: Path) -> Settings:
    return load_settings({"backend": "scripted", "home": str(home)}, env={})


def test_flagged_turns_are_highlighted_and_explained(story: Story, scorer: Scorer, tmp_path: Path) -> None:
    s = Script(story, "dream-meet")
    s.turn("lyra", "Mum's Tidewater update is mega!")
    s.turn("max", "Hm. The Edge looks like the sea. Lyra: I'm scared.")
    s.turn("lyra", "Okay okay okay, see you under!")
    path = tmp_path / "transcripts" / "hand.jsonl"
    path.parent.mkdir()
    path.write_text("".join(json.dumps(to_dict(e)) + "\n" for e in s.events), encoding="utf-8")
    spec = spec_from({"description": "hand-made", "steps": [{"turns": 3}]})
    suite = Suite("hand", path, "hand.yaml", spec)
    card = scorer.score(s.events)
    played = Played(suite, scripted(tmp_path), s.events, path, [[]], ["dream-meet"])
    results = assemble([suite_record(played, card, [], tmp_path, {})], [card], story)
    html = report.render(results, story, tmp_path)
    assert html.count("flag-error flagged") == 2 and html.count('class="ev turn"') == 1
    assert "<b>leak</b>: says &#39;tidewater&#39;, but &#39;project-tidewater&#39; is known to zara" in html
    assert "<b>hijack</b>: writes a line for Lyra" in html
    assert '<details class="suite" id="suite-hand" open>' in html  # flagged suites open by default


def test_compare_marks_better_and_worse() -> None:
    old = {"suites": [], "totals": {"metrics": {"leak_rate": 0.2, "identifiability": 0.5, "turns": 10}}}
    new = {"suites": [], "totals": {"metrics": {"leak_rate": 0.1, "identifiability": 0.4, "turns": 12}}}
    rows = {r["metric"]: r for r in compare(old, new, "old.json")["totals"]}
    assert rows["leak_rate"]["verdict"] == "better" and rows["leak_rate"]["delta"] == -0.1
    assert rows["identifiability"]["verdict"] == "worse" and rows["turns"]["verdict"] == ""


def test_the_judge_is_off_unless_configured_and_parses_its_rubric() -> None:
    assert from_env({}) is None
    assert parse("persona: 4\ntime: 2") == {"persona": 4, "time": 2}
    assert parse("Persona = 5. TIME: 3 because...") == {"persona": 5, "time": 3}
    assert parse("I think it is fine") == {}


def test_judge_scores_are_added_and_labelled_when_an_endpoint_is_set(story: Story, tmp_path: Path) -> None:
    (suite,) = load_suites(resolve(["bedtime-sync-hour"]), story)
    with flaky(reply="persona: 4\ntime: 5") as server:
        judge = from_env({"STAGE_JUDGE_URL": server.base_url, "STAGE_JUDGE_MODEL": "fake-judge"})
        assert judge is not None
        results = run(
            [suite],
            story,
            scripted(tmp_path),
            tmp_path / "report",
            retriever=lambda _s, st: runtime.keyword_retriever(st),
            scorer=Scorer(story),
            judge=judge,
        )
    assert results["judge"]["label"].startswith("judge: fake-judge at http://127.0.0.1:")
    assert results["judge"]["judge_persona"] == 4 and results["judge"]["judge_time"] == 5
    judged = [t for t in results["suites"][0]["turns"] if "judge" in t]
    assert judged and all(t["judge"] == {"persona": 4, "time": 5} for t in judged)
    assert "judge_persona" not in results["totals"]["metrics"]  # never mixed with the measurements
    assert len(server.requests) == len(judged)
    html = report.render(results, story, tmp_path / "report")
    assert "judge score (1-5), judge: fake-judge" in html and "not deterministic" in html
