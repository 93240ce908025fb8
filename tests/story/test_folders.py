"""A story is a folder: a second story, made by `stage new`, checks, plays, evals and serves; nothing in the stage
is tied to the Dream Network."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest

from stage import runtime
from stage.cli import main
from stage.errors import ConfigError
from stage.llm.scripted import ScriptedModel
from stage.settings import ROOT, Settings, load_settings
from tests.ui.conftest import serve, stop


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("stories") / "gull-point"
    assert main(["new", str(folder)]) == 0
    return folder


def test_new_writes_a_valid_story_with_its_plot_at_the_top(story: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert (story / "plot.yaml").is_file() and not (story / "lore" / "plot.yaml").exists()
    assert main(["check", "--story", str(story)]) == 0
    assert "2 characters, 2 beats, 3 lore sections: all valid" in capsys.readouterr().out
    assert "# A persona:" in (story / "characters" / "wren.yaml").read_text()  # comments that teach the format


def test_new_refuses_a_folder_that_has_files(story: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["new", str(story)]) == 2
    assert "already exists and is not an empty folder" in capsys.readouterr().err


def test_the_story_plays_on_the_scripted_backend(story: Path, tmp_path: Path) -> None:
    out = tmp_path / "scene.jsonl"
    args = ["play", "--story", str(story), "--backend", "scripted", "--home", str(tmp_path / "home"), "--turns", "8"]
    assert main([*args, "--out", str(out)]) == 0
    events = [json.loads(line) for line in out.read_text().splitlines()]
    speakers = {e["speaker"] for e in events if e.get("kind") == "turn"}
    assert speakers and speakers <= {"wren", "pip"}


def test_the_story_evals_its_own_suites(story: Path, tmp_path: Path) -> None:
    report = tmp_path / "report"
    args = ["eval", "--story", str(story), "--backend", "scripted", "--home", str(tmp_path / "home")]
    assert main([*args, "--report", str(report)]) == 0
    results = json.loads((report / "results.json").read_text())
    assert [x["name"] for x in results["suites"]] == ["storm-night"]
    assert (report / "report.html").is_file()


def test_the_story_serves_its_title_and_cast(story: Path, tmp_path: Path) -> None:
    from gradio_client import Client

    settings = Settings(backend="scripted", story=story, home=tmp_path, seed=3, retries=0, backoff=0.0)
    st = runtime.story(settings)
    served = serve(settings, ScriptedModel(seed=3), runtime.keyword_retriever(st))
    try:
        page = urllib.request.urlopen(served.url, timeout=30).read().decode()
        assert "The Lamp at Gull Point" in page
        c = Client(served.url, verbose=False, analytics_enabled=False, download_files=False)
        c.predict("storm-night", "Ann", "", "Wren, how often does the lamp flash?", api_name="/send")
        turns = [e for e in c.predict(api_name="/events") if e["kind"] == "turn"]
        assert turns and turns[-1]["speaker"] == "wren"
    finally:
        stop(served)


def test_a_story_folder_sets_the_three_paths_and_a_path_given_alone_wins(story: Path) -> None:
    s = load_settings({"story": str(story)}, env={})
    assert (s.characters_dir, s.lore_dir, s.plot_file) == (story / "characters", story / "lore", story / "plot.yaml")
    s = load_settings({}, env={"STAGE_STORY": str(story), "STAGE_LORE_DIR": "/elsewhere"})
    assert s.lore_dir == Path("/elsewhere") and s.characters_dir == story / "characters"
    default = load_settings({}, env={})
    assert default.story == ROOT and default.plot_file == ROOT / "lore" / "plot.yaml"  # today's layout


def test_a_story_that_is_not_a_folder_names_the_flag(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"--story: story: Value error, expected a story folder"):
        load_settings({"story": str(tmp_path / "nowhere")}, env={})


def test_two_stories_never_share_a_scene_library(story: Path, tmp_path: Path) -> None:
    a = Settings(home=tmp_path)
    b = Settings(home=tmp_path, story=story)
    assert a.story_home == tmp_path and b.story_home != a.story_home and b.story_home.parent == tmp_path / "stories"
