"""``stage check``: the shipped story passes; each kind of broken file gets its own specific message."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from stage.errors import DataError
from stage.story import Sources, load_story
from tests.conftest import ROOT


@pytest.fixture
def data(tmp_path: Path) -> Path:
    shutil.copytree(ROOT / "characters", tmp_path / "characters")
    shutil.copytree(ROOT / "lore", tmp_path / "lore")
    return tmp_path


def problems(root: Path) -> list[str]:
    with pytest.raises(DataError) as info:
        load_story(Sources(root / "characters", root / "lore", root / "lore" / "plot.yaml"))
    return info.value.problems


def edit_yaml(path: Path, change: Callable[[dict], None]) -> None:  # type: ignore[type-arg]
    doc = yaml.safe_load(path.read_text())
    change(doc)
    path.write_text(yaml.safe_dump(doc, sort_keys=False, allow_unicode=True))


def test_shipped_story_is_valid(story) -> None:  # type: ignore[no-untyped-def]
    assert set(story.personas) == {"lyra", "max", "zara", "theo", "camille"}
    assert 8 <= len(story.plot.beats) <= 12
    assert story.personas["lyra"].age == 10 and story.personas["max"].age == 10
    assert len(story.lore) >= 30
    assert any("kyra" in s.text.lower() for s in story.lore), "the Kyra typo is noted in the lore"


def test_story_scoping_rules_hold(story) -> None:  # type: ignore[no-untyped-def]
    """A future event is not visible before its beat; each persona's secrets are in no one else's scope at beat 1."""
    by_id = {s.id: s for s in story.lore}
    cascade = [s for s in story.lore if "malfunction" in s.tags or "cascade" in s.id]
    malfunction = story.plot.beat("malfunction").position
    assert cascade and all(s.from_beat >= malfunction - 6 for s in cascade)
    assert by_id["the-great-cascade"].from_beat == malfunction
    assert not by_id["the-great-cascade"].visible("lyra", malfunction - 1)
    assert not by_id["max-secret-wish"].visible("lyra", 1) and by_id["max-secret-wish"].visible("max", 1)


def test_example_error_message(data: Path) -> None:
    edit_yaml(data / "characters" / "max.yaml", lambda d: d["voice"].update(examples=["Hm."]))
    found = problems(data)
    assert any(p.startswith("characters/max.yaml") or "max.yaml" in p for p in found)
    assert any("voice.examples: expected 4-8 items, got 1" in p for p in found), found


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda d: d.pop("boundaries"), "lyra.yaml:"),
        (lambda d: d.update(favourite_colour="blue"), "favourite_colour: unknown field"),
        (lambda d: d.update(age="ten"), "age: input should be a valid integer"),
        (
            lambda d: d["relationships"].update(kyra="a typo"),
            "relationships.kyra: expected one of the other characters",
        ),
        (
            lambda d: d["secrets"][0].update(known_by=["nobody"]),
            "secrets.0.known_by: unknown character 'nobody'",
        ),
        (lambda d: d["display"].update(color="blue"), "display.color: string should match pattern"),
    ],
    ids=[
        "missing-field",
        "unknown-field",
        "wrong-type",
        "unknown-relationship",
        "unknown-known-by",
        "bad-colour",
    ],
)
def test_persona_breakages(data: Path, breakage: Callable[[dict], None], expected: str) -> None:  # type: ignore[type-arg]
    edit_yaml(data / "characters" / "lyra.yaml", breakage)
    found = problems(data)
    assert any(expected in p and "lyra.yaml" in p for p in found), found


def test_missing_field_names_field_and_line(data: Path) -> None:
    edit_yaml(data / "characters" / "lyra.yaml", lambda d: d.pop("boundaries"))
    assert any("lyra.yaml" in p and "boundaries: required field is missing" in p for p in problems(data))


def test_a_relationship_is_required_with_everyone_met_on_stage(data: Path) -> None:
    edit_yaml(data / "characters" / "lyra.yaml", lambda d: d["relationships"].pop("max"))
    assert any("lyra.yaml: relationships: expected an entry for every character they share a beat with, missing ['max']" in p for p in problems(data))


def test_a_character_in_no_beat_needs_no_relationships_and_fields_a_card_lacks(data: Path) -> None:
    """A character imported beside a story (in no beat yet) is valid with only what a card can give."""
    (data / "characters" / "wren.yaml").write_text(
        yaml.safe_dump(
            {
                "id": "wren",
                "name": "Wren",
                "role": "A lighthouse keeper.",
                "description": "Wren keeps the lamp on Gull Point.",
                "voice": {"style": "Dry and kind.", "examples": ["Mind the steps.", "Tide's in.", "Tea?", "Hm."]},
                "boundaries": ["Keeps everything gentle and safe for children."],
                "display": {"color": "#336699", "avatar": "W"},
            }
        )
    )
    story = load_story(Sources(data / "characters", data / "lore", data / "lore" / "plot.yaml"))
    wren = story.personas["wren"]
    assert wren.age is None and wren.goals == () and wren.relationships == {}


def test_wrong_type_names_the_line(data: Path) -> None:
    edit_yaml(data / "characters" / "lyra.yaml", lambda d: d.update(age="ten"))
    found = [p for p in problems(data) if "age:" in p]
    assert (found and found[0].startswith("characters/lyra.yaml:3:")) or ":3:" in found[0], found


def test_lore_unknown_character_in_visible_to(data: Path) -> None:
    path = data / "lore" / "network.md"
    text = path.read_text().replace("visible_to: everyone", "visible_to: [zara, kyra]", 1)
    path.write_text(text)
    found = problems(data)
    assert any("network.md:" in p and "visible_to: unknown character 'kyra'" in p for p in found), found


def test_lore_from_beat_out_of_range(data: Path) -> None:
    path = data / "lore" / "network.md"
    path.write_text(path.read_text().replace("from_beat: bedtime", "from_beat: 40", 1))
    found = problems(data)
    assert any("from_beat: expected a beat id or a position 1-12, got 40" in p for p in found), found


def test_duplicate_lore_id(data: Path) -> None:
    path = data / "lore" / "network.md"
    path.write_text(path.read_text().replace("id: nocturne-systems", "id: network-how-it-works", 1))
    assert any("duplicate id 'network-how-it-works'" in p for p in problems(data))


def test_duplicate_persona_id(data: Path) -> None:
    shutil.copy(data / "characters" / "max.yaml", data / "characters" / "max2.yaml")
    assert any("max2.yaml: id: expected 'max2' (the file name), got 'max'" in p for p in problems(data))


def test_invalid_yaml_reports_line(data: Path) -> None:
    (data / "characters" / "theo.yaml").write_text("id: theo\nname: [unclosed\nage: 43\n")
    assert any("theo.yaml (line" in p and "invalid YAML" in p for p in problems(data))


def test_empty_file(data: Path) -> None:
    (data / "characters" / "theo.yaml").write_text("  \n")
    assert any("theo.yaml: the file is empty; expected a YAML mapping" in p for p in problems(data))


def test_binary_file(data: Path) -> None:
    (data / "characters" / "theo.yaml").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00\x00")
    (data / "lore" / "junk.md").write_bytes(b"\x00\x01\x02")
    found = problems(data)
    assert any("theo.yaml: expected a UTF-8 YAML text file, got binary data" in p for p in found)
    assert any("junk.md: expected a UTF-8 markdown file, got binary data" in p for p in found)


def test_plot_breakages_are_all_reported_at_once(data: Path) -> None:
    def breakage(d: dict) -> None:  # type: ignore[type-arg]
        d["beats"][1]["present"].append("kyra")
        d["beats"][2]["unlocks"].append("no-such-lore")
        d["beats"][3]["id"] = d["beats"][0]["id"]
        d["beats"][4]["exit"][0]["by"] = ["zara"]

    edit_yaml(data / "lore" / "plot.yaml", breakage)
    found = problems(data)
    assert any("beats.1.present: unknown character 'kyra'" in p for p in found)
    assert any("beats.2.unlocks: unknown lore section 'no-such-lore'" in p for p in found)
    assert any("beats.3.id: duplicate beat id" in p for p in found)
    assert any("beats.4.exit.0.by: 'zara' is not present" in p for p in found)
    assert len(found) >= 4


def test_lore_section_without_metadata(data: Path) -> None:
    (data / "lore" / "extra.md").write_text("# Extra\n\n## A heading\nJust text.\n")
    assert any(
        "extra.md:3: section 'A heading': expected a <!-- ... --> metadata block" in p for p in problems(data)
    )


def test_stage_check_cli_exit_codes(data: Path) -> None:
    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "stage.cli", "check", *args],
            capture_output=True,
            text=True,
            cwd=data,
            timeout=60,
        )

    ok = run(
        "--characters",
        str(ROOT / "characters"),
        "--lore",
        str(ROOT / "lore"),
        "--plot",
        str(ROOT / "lore" / "plot.yaml"),
    )
    assert ok.returncode == 0 and "all valid" in ok.stdout
    edit_yaml(data / "characters" / "max.yaml", lambda d: d["voice"].update(examples=["Hm."]))
    (data / "characters" / "theo.yaml").write_text("")
    bad = run("--characters", "characters", "--lore", "lore", "--plot", "lore/plot.yaml")
    assert bad.returncode == 2
    assert "characters/max.yaml" in bad.stderr and "voice.examples: expected 4-8 items, got 1" in bad.stderr
    assert "characters/theo.yaml: the file is empty" in bad.stderr
    assert "Traceback" not in bad.stderr


def test_a_moment_line_that_would_not_meet_its_condition_is_refused(data: Path) -> None:
    def breakage(d: dict) -> None:  # type: ignore[type-arg]
        d["beats"][0]["exit"][0]["line"] = "Mum, can I have a glass of water?"

    edit_yaml(data / "lore" / "plot.yaml", breakage)
    found = problems(data)
    assert any("beats.0.exit.0" in p and "holds none of the terms" in p for p in found), found
