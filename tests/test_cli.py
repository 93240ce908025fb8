"""The ``stage`` command as a person runs it: help, doctor, exit codes, one-line errors."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT


def stage(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("STAGE_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "stage.cli", *args],
        capture_output=True,
        text=True,
        env=full_env,
        cwd=cwd or ROOT,
        timeout=300,
    )


def test_help_lists_commands() -> None:
    out = stage("--help")
    assert out.returncode == 0
    for cmd in ("doctor", "check", "serve", "play", "ask", "lore"):
        assert cmd in out.stdout


@pytest.mark.parametrize("cmd", ["doctor", "check", "serve", "play", "ask", "replay", "lore"])
def test_every_command_has_help(cmd: str) -> None:
    out = stage(cmd, "--help")
    assert out.returncode == 0 and "usage: stage" in out.stdout


def test_doctor_reports_an_unreachable_endpoint_in_one_line_and_exits_3(tmp_path: Path) -> None:
    out = stage(
        "doctor",
        "--backend",
        "openai",
        env={"STAGE_BASE_URL": "http://127.0.0.1:1", "STAGE_HOME": str(tmp_path), "STAGE_BACKOFF": "0.05"},
    )
    assert out.returncode == 3, out.stdout + out.stderr
    bad = [line for line in out.stdout.splitlines() if line.startswith("✗")]
    assert len(bad) == 1 and "cannot reach the model at http://127.0.0.1:1" in bad[0]
    assert "Traceback" not in out.stdout + out.stderr


@pytest.mark.model
def test_doctor_is_green_on_this_checkout(tmp_path: Path) -> None:
    out = stage("doctor", env={"STAGE_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stdout + out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) >= 4 and all(line.startswith("✓") for line in lines)
    assert any("time to first token" in line for line in lines)


def test_bad_setting_is_one_line_exit_2(tmp_path: Path) -> None:
    out = stage("doctor", env={"STAGE_TIMEOUT": "soon", "STAGE_HOME": str(tmp_path)})
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0 and "STAGE_TIMEOUT" in out.stderr
