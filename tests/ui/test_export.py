"""Downloads (JSONL, Markdown) and loading a saved transcript to continue it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stage.errors import DataError
from stage.transcript import BeatChange, Narration, SceneStart, Turn, UserLine, read_events, to_dict
from stage.types import Story
from stage.ui.export import jsonl, load_transcript, markdown, write_exports


def scene_events() -> list[object]:
    return [
        SceneStart(seq=1, ts=1.0, beat="bedtime", title="Bedtime, 2085", present=("lyra", "theo"), seed=3),
        BeatChange(
            seq=2, beat="bedtime", position=1, title="Sync Hour", location="Lyra's room", present=("lyra",)
        ),
        Narration(seq=3, beat="bedtime", text="Five minutes to Sync Hour."),
        Turn(seq=4, beat="bedtime", speaker="lyra", text="Dad! <script>x</script>", reason="fewest turns"),
        UserLine(seq=5, beat="bedtime", name="Ann", text="Hello *everyone* [link](http://x)"),
    ]


def test_jsonl_round_trips(tmp_path: Path) -> None:
    events = scene_events()
    path = tmp_path / "t.jsonl"
    path.write_text(jsonl(events), encoding="utf-8")  # type: ignore[arg-type]
    assert read_events(path).events == events


def test_markdown_reads_as_a_script_and_shows_text_literally(story: Story) -> None:
    md = markdown(story, scene_events())  # type: ignore[arg-type]
    assert md.startswith("# Bedtime, 2085")
    assert "## Beat 1 · Sync Hour" in md
    assert "**Lyra:** Dad! \\<script\\>x\\</script\\>" in md
    assert "**Ann (visitor):** Hello \\*everyone\\* \\[link\\](http://x)" in md
    assert "director: fewest turns" in md


def test_exports_are_written_next_to_each_other(tmp_path: Path, story: Story) -> None:
    js, md = write_exports(tmp_path / "x", story, scene_events())  # type: ignore[arg-type]
    assert js.suffix == ".jsonl" and md.suffix == ".md" and js.stem == md.stem
    assert [json.loads(line)["kind"] for line in js.read_text().splitlines()][:2] == ["scene", "beat"]


def test_loading_skips_corrupt_lines_and_refuses_other_stories(tmp_path: Path, story: Story) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        jsonl(scene_events()) + "{not json\n" + jsonl([Narration(seq=9, beat="bedtime", text="x")])
    )  # type: ignore[list-item]
    events, problems = load_transcript(good, story)
    assert len(events) == 6 and len(problems) == 1 and "good.jsonl:6" in problems[0]

    headless = tmp_path / "headless.jsonl"
    headless.write_text(jsonl(scene_events()[1:]))  # type: ignore[arg-type]
    with pytest.raises(DataError, match="not a stage transcript"):
        load_transcript(headless, story)

    alien = tmp_path / "alien.jsonl"
    start = to_dict(SceneStart(seq=1, beat="moonbase", present=("zed",)))
    alien.write_text(json.dumps(start) + "\n")
    with pytest.raises(DataError, match=r"another story.*moonbase.*zed"):
        load_transcript(alien, story)
