from __future__ import annotations

from pathlib import Path

import pytest

from stage.errors import ConfigError
from stage.settings import load_settings


def test_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings({}, env={})
    assert s.backend == "local" and s.host == "127.0.0.1" and s.port == 7860
    assert s.home == tmp_path / ".stage"


def test_precedence_file_env_flags(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stage.toml").write_text(
        '[stage]\nbackend = "openai"\nmodel = "from-file"\nport = 9000\ntimeout = 5\n'
    )
    s = load_settings({}, env={})
    assert (s.backend, s.model, s.port, s.timeout) == ("openai", "from-file", 9000, 5.0)
    s = load_settings({}, env={"STAGE_MODEL": "from-env", "STAGE_PORT": "9001"})
    assert (s.backend, s.model, s.port) == ("openai", "from-env", 9001)
    s = load_settings(
        {"model": "from-flag", "port": None}, env={"STAGE_MODEL": "from-env", "STAGE_PORT": "9001"}
    )
    assert (s.model, s.port) == ("from-flag", 9001)


def test_explicit_config_path_and_api_key_fallback(tmp_path: Path) -> None:
    cfg = tmp_path / "x.toml"
    cfg.write_text('backend = "scripted"\n')
    s = load_settings({}, env={"STAGE_CONFIG": str(cfg), "OPENAI_API_KEY": "sk-env"})
    assert s.backend == "scripted"
    import os

    old = os.environ.get("OPENAI_API_KEY")
    os.environ["OPENAI_API_KEY"] = "sk-env"
    try:
        assert s.effective_api_key() == "sk-env"
        assert load_settings({"api_key": "sk-own"}, env={}).effective_api_key() == "sk-own"
    finally:
        if old is None:
            del os.environ["OPENAI_API_KEY"]
        else:
            os.environ["OPENAI_API_KEY"] = old


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"STAGE_BACKEND": "gpt"}, r"STAGE_BACKEND: backend"),
        ({"STAGE_PORT": "lots"}, r"STAGE_PORT: port"),
        ({"STAGE_CONFIG": "/nonexistent/stage.toml"}, r"not a file"),
    ],
)
def test_bad_settings_name_their_source(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings({}, env=env)


def test_unknown_key_in_config_file(tmp_path: Path) -> None:
    cfg = tmp_path / "stage.toml"
    cfg.write_text('[stage]\nbakend = "local"\n')
    with pytest.raises(ConfigError, match=r"stage.toml: unknown setting 'bakend'"):
        load_settings({}, env={"STAGE_CONFIG": str(cfg)})
