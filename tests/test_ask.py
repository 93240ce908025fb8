"""``stage ask``: one reply from one character, and an empty message refused like the page refuses it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.test_cli import stage


@pytest.mark.parametrize("message", ["", "   ", "\u200b\t"])
def test_an_empty_message_is_refused_with_exit_2_and_one_line(message: str, tmp_path: Path) -> None:
    done = stage("ask", "lyra", message, "--backend", "scripted", env={"STAGE_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert lines == ["stage: there is nothing to send: the message is empty"]


def test_a_question_gets_a_reply_from_that_character(tmp_path: Path) -> None:
    done = stage(
        "ask", "max", "who is your sister?", "--json", "--backend", "scripted", env={"STAGE_HOME": str(tmp_path)}
    )
    assert done.returncode == 0, done.stderr
    reply = json.loads(done.stdout)
    assert reply["speaker"] == "max" and reply["text"].strip()
    assert reply["beat"]  # the beat it was asked at


def test_an_unknown_character_is_exit_2_naming_the_valid_ones(tmp_path: Path) -> None:
    done = stage("ask", "kyra", "hello", "--backend", "scripted", env={"STAGE_HOME": str(tmp_path)})
    assert done.returncode == 2
    assert "unknown character 'kyra'" in done.stderr and "lyra" in done.stderr
