"""Downloads (JSONL, Markdown) and loading a saved transcript to continue it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from stage.errors import DataError
from stage.transcript import (
    Action,
    BeatChange,
    Direction,
    ErrorEvent,
    Event,
    Narration,
    SafetyEvent,
    SceneEnd,
    SceneStart,
    Turn,
    UserLine,
    read_events,
    to_dict,
    visitor,
)
from stage.types import Story
from stage.ui.export import jsonl, load_transcript, markdown, write_exports


def scene_events() -> list[Event]:
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
    path.write_text(jsonl(events), encoding="utf-8")
    assert read_events(path).events == events


def test_markdown_reads_as_a_script_and_shows_text_literally(story: Story) -> None:
    md = markdown(story, scene_events())
    assert md.startswith("# Bedtime, 2085\n")
    assert "· seed 3*" in md
    assert "## Beat 1 · Sync Hour" in md and "*Lyra's room* — present: Lyra" in md
    assert "*Narrator: Five minutes to Sync Hour.*" in md
    assert "**Lyra:** Dad! \\<script\\>x\\</script\\>" in md  # the speaker's name; the line as text
    assert "<sub>director: fewest turns (0 tokens, 0.0 s)</sub>" in md  # the director's reason
    assert f"**{visitor('Ann').label}:** Hello \\*everyone\\* \\[link\\](http://x)" in md
    assert "**Ann (a visitor):**" in md


def test_markdown_says_what_the_writer_and_the_policy_did(story: Story) -> None:
    md = markdown(
        story,
        [
            Direction(seq=6, beat="bedtime", action=Action.FORCE, target="max"),
            Direction(seq=7, beat="bedtime", action=Action.WHISPER, target="lyra", text="*hide* it"),
            Direction(seq=8, beat="bedtime", action=Action.INJECT, text="Thunder."),
            Narration(seq=9, beat="bedtime", text="Thunder.", source="writer"),
            UserLine(seq=10, beat="bedtime", as_character="theo", text="Bed.", notice="trimmed"),
            SafetyEvent(seq=11, beat="bedtime", direction="output", category="violence", who="max"),
            ErrorEvent(seq=12, beat="bedtime", message="timed out", where="turn of lyra"),
            SceneEnd(seq=13, beat="bedtime", reason="the story is complete"),
        ],
    )
    lines = [line for line in md.splitlines() if line]
    assert lines == [
        "*[writer: Max speaks next]*",
        "*[writer: whispered to Lyra: “\\*hide\\* it”]*",
        "*Writer: Thunder.*",  # an injected event once, as the writer's narration
        "**Theo (played by a person):** Bed.  ",
        "<sub>note: trimmed</sub>",
        "*[content policy: stopped a reply from Max (violence)]*",
        "*[error: timed out (turn of lyra)]*",
        "**The end** — the story is complete",
    ]


def test_exports_are_written_next_to_each_other(tmp_path: Path, story: Story) -> None:
    js, md = write_exports(tmp_path / "x", story, scene_events())
    assert js.suffix == ".jsonl" and md.suffix == ".md" and js.stem == md.stem
    assert [json.loads(line)["kind"] for line in js.read_text().splitlines()][:2] == ["scene", "beat"]


def test_loading_skips_corrupt_lines_and_refuses_other_stories(tmp_path: Path, story: Story) -> None:
    good = tmp_path / "good.jsonl"
    good.write_text(
        jsonl(scene_events()) + "{not json\n" + jsonl([Narration(seq=9, beat="bedtime", text="x")])
    )
    events, problems = load_transcript(good, story)
    assert len(events) == 6 and len(problems) == 1 and "good.jsonl:6" in problems[0]

    headless = tmp_path / "headless.jsonl"
    headless.write_text(jsonl(scene_events()[1:]))
    with pytest.raises(DataError, match="not a stage transcript"):
        load_transcript(headless, story)

    alien = tmp_path / "alien.jsonl"
    start = to_dict(SceneStart(seq=1, beat="moonbase", present=("zed",)))
    alien.write_text(json.dumps(start) + "\n")
    with pytest.raises(DataError, match=r"another story.*moonbase.*zed"):
        load_transcript(alien, story)


def test_loading_names_a_change_to_a_missing_line_by_the_uploaded_file(tmp_path: Path, story: Story) -> None:
    from stage.transcript import Edit

    bad = tmp_path / "mine.jsonl"
    bad.write_text(jsonl([*scene_events(), Edit(seq=6, beat="bedtime", of=40, text="x")]))
    with pytest.raises(DataError) as err:
        load_transcript(bad, story)
    assert str(err.value).startswith("mine.jsonl: event 6 (edit): of: expected the seq of a turn")
    assert str(tmp_path) not in str(err.value)  # the page never shows where files live on the server


def test_the_markdown_reads_the_line_the_jsonl_keeps_the_log(tmp_path: Path, story: Story) -> None:
    from stage.transcript import Delete, Edit

    events = [*scene_events(), Edit(seq=6, beat="bedtime", of=4, text="Dad, the stars!"), Delete(seq=7, of=5)]
    js, md = write_exports(tmp_path, story, events)
    text = md.read_text()
    assert "**Lyra:** Dad, the stars!" in text and "script" not in text and "Ann" not in text
    assert [e.kind for e in read_events(js).events][-2:] == ["edit", "delete"]
