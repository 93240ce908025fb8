"""A model per character: overrides by character id in the settings, shown on the turn, failures named."""

from __future__ import annotations

from pathlib import Path

import pytest

from stage import runtime
from stage.agents.retrieval import KeywordRetriever
from stage.errors import ConfigError, ModelError
from stage.llm import make_model
from stage.llm.base import GenParams
from stage.llm.route import Routed, model_for
from stage.scene import Scene, Wrote
from stage.settings import Settings, load_settings
from stage.transcript import Turn
from stage.types import Story

PARAMS = GenParams(max_tokens=24, temperature=0.5, candidates=1)


def test_an_override_lays_over_the_default_endpoint() -> None:
    s = Settings(
        backend="openai", base_url="http://a/v1", model="big", concurrency=8,
        models={"zara": {"model": "bigger"}, "theo": {"backend": "local"}},
    )  # fmt: skip
    zara, theo, lyra = s.endpoint_of("zara"), s.endpoint_of("theo"), s.endpoint_of("lyra")
    assert (zara.backend, zara.base_url, zara.model, zara.concurrency) == ("openai", "http://a/v1", "bigger", 8)
    assert (theo.backend, theo.base_url, theo.model) == ("local", "", ""), "another backend takes none of its fields"
    assert lyra is s
    routed = make_model(s)
    assert isinstance(routed, Routed) and model_for(routed, "lyra") is routed.default
    assert model_for(routed, "zara") is not routed.default


def test_a_bad_override_names_the_setting(tmp_path: Path) -> None:
    toml = tmp_path / "stage.toml"
    toml.write_text('[stage.models.zara]\nbackend = "gpt"\n')
    with pytest.raises(ConfigError, match=r"stage.toml: models\.zara\.backend"):
        load_settings({}, {"STAGE_CONFIG": str(toml)})
    toml.write_text('[stage.models.zara]\nurl = "http://x"\n')
    with pytest.raises(ConfigError, match=r"unknown setting 'models\.zara\.url'.*base_url"):
        load_settings({}, {"STAGE_CONFIG": str(toml)})
    with pytest.raises(ConfigError, match=r"models\.zaar: .*not a character.*zara"):
        runtime.story(Settings(backend="scripted", models={"zaar": {"backend": "scripted"}}))


def test_an_unreachable_override_fails_its_characters_turn_with_the_setting_named(story: Story) -> None:
    s = Settings(
        backend="scripted", seed=1, retries=0,
        models={c: {"backend": "openai", "base_url": "http://127.0.0.1:9/v1"} for c in story.personas if c != "lyra"},
    )  # fmt: skip
    scene = Scene.new(story, make_model(s), KeywordRetriever(story.lore), None, PARAMS, seed=1, backend="scripted")
    with pytest.raises(ModelError, match=r"cannot reach the model at http://127.0.0.1:9/v1.*models\.(max|zara|theo)"):
        for _ in range(12):
            list(scene.step())


@pytest.mark.model
def test_a_scripted_and_an_embedded_character_in_one_scene(story: Story, tmp_path: Path) -> None:
    """Lyra on the embedded model, everyone else scripted: each turn is generated, and labelled, by its own."""
    s = Settings(backend="scripted", seed=2, home=tmp_path, models={"lyra": {"backend": "local"}})
    scene = Scene.new(story, make_model(s), KeywordRetriever(story.lore), None, PARAMS, seed=2, backend="scripted")
    seen: list[Turn] = []
    for _ in range(16):
        seen += [e.event for e in scene.step() if isinstance(e, Wrote) and isinstance(e.event, Turn)]
        if {"lyra"} < {t.speaker for t in seen}:
            break
    by = {t.speaker: t.model for t in seen}
    assert by.get("lyra") == "smollm2", by
    assert {m for who, m in by.items() if who != "lyra"} == {"scripted"}, by
