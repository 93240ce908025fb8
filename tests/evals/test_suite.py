"""The suite file format: the shipped suites load and cover the cast and the plot; mistakes are named."""

from __future__ import annotations

from pathlib import Path

import pytest

from stage.errors import DataError
from stage.evals.suite import SUITES_DIR, load_suites, resolve
from stage.types import Story

GOOD = """\
description: "A visitor greets Lyra."
tags: [baseline]
setup:
  beat: bedtime
  seed: 1
steps:
  - say: "Hi Lyra!"
  - turns: 1
    expect:
      speaker: lyra
expect:
  leak_rate: {max: 0}
"""


def problems(tmp_path: Path, story: Story, text: str, name: str = "s.yaml") -> list[str]:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DataError) as err:
        load_suites([path], story)
    return err.value.problems


def test_the_shipped_suites_load_and_cover_every_character_and_beat(story: Story) -> None:
    suites = load_suites(resolve([]), story)
    assert len(suites) >= 15
    beats: set[str] = set()
    cast: set[str] = set()
    for s in suites:
        start = story.plot.beat(s.spec.setup.beat)
        beats.add(start.id)
        cast.update(s.spec.setup.present or start.present)
        beats.update(story.plot.beat(step.goto).id for step in s.spec.steps if step.goto is not None)
    assert beats == {b.id for b in story.plot.beats}
    assert cast == set(story.personas)
    tags = {t for s in suites for t in s.spec.tags}
    assert {"adversarial", "secret", "future", "hijack", "break-character"} <= tags


def test_a_good_suite_loads(tmp_path: Path, story: Story) -> None:
    path = tmp_path / "hello.yaml"
    path.write_text(GOOD, encoding="utf-8")
    (suite,) = load_suites([path], story)
    assert suite.name == "hello" and suite.free_turns == 1
    assert [s.action for s in suite.spec.steps] == ["say", "turns"]


def test_an_unknown_field_names_file_line_and_field(tmp_path: Path, story: Story) -> None:
    (p,) = problems(tmp_path, story, GOOD.replace("  - say:", "  - sya:"))
    assert p.startswith("s.yaml:7: steps.0") or p.startswith(f"{tmp_path / 's.yaml'}:7: steps.0"), p
    assert "sya" in p and "unknown field" in p


def test_two_actions_in_one_step_are_refused(tmp_path: Path, story: Story) -> None:
    (p,) = problems(tmp_path, story, GOOD.replace("  - turns: 1\n", "  - turns: 1\n    goto: reunion\n"))
    assert ":8: steps.1: expected exactly one of say, turns, goto" in p and "got turns, goto" in p


def test_an_unknown_character_or_beat_is_named_with_the_valid_ones(tmp_path: Path, story: Story) -> None:
    text = GOOD.replace("speaker: lyra", "speaker: bob").replace("beat: bedtime", "beat: breakfast")
    beat, who = problems(tmp_path, story, text)
    assert ":4: setup.beat: expected a beat id (bedtime, dream-meet" in beat and "got 'breakfast'" in beat
    assert ":10: steps.1.expect.speaker: expected a character id (" in who and "got 'bob'" in who


def test_an_unknown_metric_and_an_empty_bound_are_named(tmp_path: Path, story: Story) -> None:
    text = GOOD.replace("leak_rate: {max: 0}", "leak_ratio: {max: 0}\n  turns: {}")
    found = problems(tmp_path, story, text)
    assert any(":12: expect.leak_ratio: unknown field" in p for p in found), found
    assert any(":13: expect.turns: expected a 'min' or a 'max'" in p for p in found), found


def test_bad_yaml_and_wrong_types_are_named(tmp_path: Path, story: Story) -> None:
    (p,) = problems(tmp_path, story, "description: [unclosed\n")
    assert "invalid YAML" in p and "line" in p
    (p,) = problems(tmp_path, story, GOOD.replace("turns: 1", "turns: many"))
    assert ":8: steps.1.turns: input should be a valid integer" in p and "'many'" in p


def test_resolve_names_the_known_suites_for_a_typo() -> None:
    with pytest.raises(DataError) as err:
        resolve(["bedtime-sync-hr"])
    assert "no such suite" in str(err.value) and "bedtime-sync-hour" in str(err.value)
    assert resolve(["bedtime-sync-hour"]) == [SUITES_DIR / "bedtime-sync-hour.yaml"]


def test_pins_apply_and_explicit_flags_override_them(tmp_path: Path, story: Story) -> None:
    from stage.evals.runner import suite_settings
    from stage.settings import load_settings

    path = tmp_path / "pinned.yaml"
    path.write_text(
        GOOD.replace("  seed: 1\n", "  seed: 1\n  backend: openai\n  model: tiny\n"), encoding="utf-8"
    )
    (suite,) = load_suites([path], story)
    base = load_settings({"backend": "local"}, env={})
    pinned = suite_settings(suite, base, {})
    assert (pinned.backend, pinned.model, pinned.seed) == ("openai", "tiny", 1)
    flagged = suite_settings(suite, base, {"backend": "scripted", "seed": 9})
    assert (flagged.backend, flagged.model, flagged.seed) == ("scripted", "tiny", 9)
