"""The ``stage`` command as a person runs it: help, doctor, exit codes, and the one line that says what is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import ROOT


def stage(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, home: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``stage ARGS`` in a fresh process, with no STAGE_* settings from outside; STAGE_HOME is ``home``."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STAGE_")}
    full_env["COLUMNS"] = "100"  # argparse wraps its usage to the terminal's width
    if home is not None:
        full_env["STAGE_HOME"] = str(home)
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "stage.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=300,
    )


def usage(text: str) -> str:
    """The usage paragraph of a help text, as one line."""
    return " ".join(text.split("\n\n", 1)[0].split())


def test_help_lists_commands() -> None:
    out = stage("--help")
    assert out.returncode == 0 and out.stderr == ""
    assert usage(out.stdout).startswith("usage: stage [-h]")
    listed = out.stdout.split("positional arguments:", 1)[1].split("options:", 1)[0]
    for cmd in (
        "doctor", "check", "serve", "lore", "play", "ask", "replay", "eval", "bench", "policy", "scenes", "lines"
    ):
        assert f"\n    {cmd} " in listed, cmd  # each command on its own line, with its summary


# each command's own arguments, and one that belongs to another command only
HELP = {
    "doctor": (["--backend", "--base-url", "--home"], "--turns"),
    "check": (["--characters", "--lore", "--plot"], "--backend"),
    "serve": (["--host HOST", "--port PORT", "--auth AUTH", "--backend"], "--turns"),
    "play": (["--turns TURNS", "--from-beat", "--until-beat", "--resume", "--fork-at"], "--port"),
    "ask": (["--beat BEAT", "--name NAME", "--json", "character message"], "--turns"),
    "replay": (["--check", "transcript"], "--backend"),
    "lore": (["SUBCOMMAND"], "--backend"),
    "lore index": (["--rebuild", "--lore"], "--as"),
    "lore search": (["--as CHARACTER", "--beat BEAT", "-k N", "--json", "QUERY"], "--rebuild"),
    "eval": (["--report DIR", "--compare", "--list", "[SUITE ...]", "--safety", "--through-model"], "--turns"),
    "policy": (["ACTION"], "--backend"),
    "scenes": (["--trash", "--restore FILE"], "--backend"),
    "lines": (["--swipe SEQ", "--choose SEQ N", "--edit SEQ TEXT", "--rewind SEQ", "transcript"], "--out"),
    "policy fit": (["--epochs", "--l2", "--dry-run", "--lore"], "--as"),
    "policy check": (["--as CHARACTER", "TEXT"], "--epochs"),
    "bench": (["--quick", "--out OUT", "--png PNG", "--turns TURNS", "--no-retrieval"], "--port"),
}


@pytest.mark.parametrize("cmd", list(HELP))
def test_every_command_has_help_naming_its_own_arguments(cmd: str) -> None:
    out = stage(*cmd.split(), "--help")
    assert out.returncode == 0, out.stderr
    line = usage(out.stdout)
    assert line.startswith(f"usage: stage {cmd} [-h]"), line
    own, foreign = HELP[cmd]
    for arg in own:
        assert arg in line, (arg, line)
    assert f"[{foreign}" not in line  # the usage is this command's, not a shared one


def _one_error(out: subprocess.CompletedProcess[str]) -> str:
    """The error a person sees: exit 2, one line on stderr, no traceback, nothing on stdout."""
    assert out.returncode == 2, (out.returncode, out.stdout, out.stderr)
    assert "Traceback" not in out.stderr and out.stdout == ""
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ("ask", "nobody", "hello", "--backend", "scripted"),
        ("lore", "search", "x", "--as", "nobody", "--beat", "1"),
    ],
)
def test_an_unknown_character_is_named_with_the_valid_ones(
    args: tuple[str, ...], story: Any, tmp_path: Path
) -> None:
    line = _one_error(stage(*args, home=tmp_path))
    assert line.startswith("stage: unknown character 'nobody'"), line
    assert all(cid in line for cid in story.personas), line


def test_an_unknown_beat_is_named_with_the_valid_ones(story: Any, tmp_path: Path) -> None:
    line = _one_error(stage("lore", "search", "x", "--as", "lyra", "--beat", "99", home=tmp_path))
    assert line.startswith("stage: unknown beat '99'"), line
    assert all(f"{b.position}={b.id}" in line for b in story.plot.beats), line


@pytest.mark.parametrize(
    ("variable", "value", "cmd"),
    [("STAGE_PORT", "abc", "check"), ("STAGE_TIMEOUT", "soon", "doctor"), ("STAGE_BACKEND", "gpt9", "check")],
)
def test_a_bad_setting_names_the_variable_and_the_value(
    variable: str, value: str, cmd: str, tmp_path: Path
) -> None:
    line = _one_error(stage(cmd, env={variable: value}, home=tmp_path))
    assert line.startswith(f"stage: {variable}: {variable.removeprefix('STAGE_').lower()}:"), line
    assert f"(got {value!r})" in line


@pytest.mark.parametrize(
    ("args", "prog", "message"),
    [
        (("frobnicate",), "stage", "argument COMMAND: invalid choice: 'frobnicate'"),
        (("ask", "lyra"), "stage ask", "the following arguments are required: message"),
        (("play", "--turns", "many"), "stage play", "argument --turns: invalid int value: 'many'"),
        (("doctor", "--backend", "gpt9"), "stage doctor", "argument --backend: invalid choice: 'gpt9'"),
        (
            ("lore", "search", "x", "--beat", "1"),
            "stage lore search",
            "the following arguments are required: --as",
        ),
    ],
)
def test_bad_arguments_print_the_usage_and_the_problem(
    args: tuple[str, ...], prog: str, message: str
) -> None:
    out = stage(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert usage(out.stderr).startswith(f"usage: {prog} [-h]")
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith(f"{prog}: error: {message}"), last


def test_a_bad_number_of_results_is_one_line(tmp_path: Path) -> None:
    line = _one_error(stage("lore", "search", "x", "--as", "lyra", "--beat", "1", "-k", "0", home=tmp_path))
    assert line == "stage: -k: expected a positive number of results, got 0"


def test_a_missing_transcript_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "nope.jsonl"
    out = stage("replay", str(missing), home=tmp_path)
    assert out.returncode == 2 and out.stdout == "" and "Traceback" not in out.stderr
    assert out.stderr.splitlines() == [f"{missing}: cannot read the transcript: No such file or directory",
                                       "1 problem(s) found."]  # fmt: skip


def test_doctor_reports_an_unreachable_endpoint_in_one_line_and_exits_3(tmp_path: Path) -> None:
    out = stage(
        "doctor",
        "--backend",
        "openai",
        env={"STAGE_BASE_URL": "http://127.0.0.1:1", "STAGE_BACKOFF": "0.05"},
        home=tmp_path,
    )
    assert out.returncode == 3, out.stdout + out.stderr
    bad = [line for line in out.stdout.splitlines() if line.startswith("✗")]
    assert len(bad) == 1 and "cannot reach the model at http://127.0.0.1:1" in bad[0]
    assert "Traceback" not in out.stdout + out.stderr


@pytest.mark.model
def test_doctor_is_green_on_this_checkout(tmp_path: Path) -> None:
    out = stage("doctor", home=tmp_path)
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) >= 4 and all(line.startswith("✓") for line in lines)
    assert any("time to first token" in line for line in lines)
