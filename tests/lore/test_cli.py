"""`stage lore index` and `stage lore search` through the real `stage` parser and its error handling."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from stage.cli import main
from stage.errors import ConfigError
from stage.lore_cli import add_lore_commands, run_lore
from tests.lore.support import settings_for

FIELDS = {"id", "text", "source", "score", "visible_to", "from_beat"}


def stage(capsys: pytest.CaptureFixture[str], home: Path, *argv: str) -> tuple[int, str, str]:
    code = main([*argv, "--home", str(home)])
    out, err = capsys.readouterr()
    return code, out, err


def test_index_then_search_json_and_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = stage(capsys, tmp_path, "lore", "index")
    assert code == 0 and "added" in out and str(tmp_path / "chroma") in out
    code, out, _ = stage(capsys, tmp_path, "lore", "index")
    assert code == 0 and "0 added, 0 updated, 0 removed" in out

    code, out, _ = stage(capsys, tmp_path, "lore", "search", "Who is Camille?", "--as", "Lyra", "--beat", "3",
                         "-k", "3", "--json")  # fmt: skip
    assert code == 0
    hits = json.loads(out)
    assert 1 <= len(hits) <= 3 and all(set(h) == FIELDS for h in hits)
    assert hits[0]["id"] == "camille-journalist"
    for h in hits:
        assert ("everyone" in h["visible_to"] or "lyra" in h["visible_to"]) and h["from_beat"] <= 3

    code, out, _ = stage(capsys, tmp_path, "lore", "search", "Project Tidewater", "--as", "zara", "--beat",
                         "bedtime")  # fmt: skip
    assert code == 0 and "project-tidewater" in out and "score" in out


def test_search_indexes_a_missing_store_first(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = stage(
        capsys, tmp_path, "lore", "search", "lemon tree", "--as", "theo", "--beat", "1", "--json"
    )
    assert code == 0 and json.loads(out)


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--as", "bob", "--beat", "1"], "valid characters: camille, lyra, max, theo, zara"),
        (["--as", "lyra", "--beat", "99"], "valid beats: 1=bedtime"),
        (["--as", "lyra", "--beat", "1", "-k", "0"], "-k: expected a positive number"),
    ],
)
def test_bad_scope_exits_2_with_the_valid_choices(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], flags: list[str], message: str
) -> None:
    code, out, err = stage(capsys, tmp_path, "lore", "search", "anything", *flags)
    assert code == 2 and message in err and not out
    assert len(err.strip().splitlines()) == 1


def test_handler_raises_config_error_for_the_main_cli(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser(prog="stage")
    add_lore_commands(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["lore", "search", "q", "--as", "nobody", "--beat", "1"])
    with pytest.raises(ConfigError, match="unknown character 'nobody'"):
        run_lore(args, settings_for(tmp_path))
    with pytest.raises(ConfigError, match="index or search"):
        run_lore(parser.parse_args(["lore"]), settings_for(tmp_path))


def test_help_texts(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["lore", "search", "--help"])
    out = capsys.readouterr().out
    assert "--as CHARACTER" in out and "--beat BEAT" in out and "--json" in out
