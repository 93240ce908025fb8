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


def test_each_layer_overrides_the_one_below(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_settings({}, env={}).retries == 2
    (tmp_path / "stage.toml").write_text("retries = 3\n")
    assert load_settings({}, env={}).retries == 3
    assert load_settings({}, env={"STAGE_RETRIES": "4"}).retries == 4
    assert load_settings({"retries": 5}, env={"STAGE_RETRIES": "4"}).retries == 5
    # not given: an empty variable or a None flag falls through to the layer below
    assert load_settings({"retries": None}, env={"STAGE_RETRIES": ""}).retries == 3


def test_config_file_dashes_and_table(tmp_path: Path) -> None:
    cfg = tmp_path / "c.toml"
    cfg.write_text('port = 1\n[stage]\nmax-tokens = 99\nbase-url = "http://x"\n')
    s = load_settings({}, env={"STAGE_CONFIG": str(cfg)})
    # a [stage] table wins over top-level keys, which are then ignored
    assert (s.max_tokens, s.base_url, s.port) == (99, "http://x", 7860)


def test_only_exact_stage_names_are_read(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    s = load_settings(
        {}, env={"stage_port": "1", "STAGE_Port": "2", "STAGE_AUTH": "a:b", "STAGE_JUDGE_URL": "x"}
    )
    assert s.port == 7860
    assert load_settings({}, env={"STAGE_N_CTX": "1024", "STAGE_SEED": "7"}).model_dump(
        include={"n_ctx", "seed"}
    ) == {"n_ctx": 1024, "seed": 7}


def test_env_none_reads_os_environ(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STAGE_PORT", "8123")
    assert load_settings({}).port == 8123
    assert load_settings({}, env={}).port == 7860


def test_plain_settings_reads_no_layer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from stage.settings import Settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("STAGE_PORT", "8123")
    (tmp_path / "stage.toml").write_text("port = 9000\n")
    with pytest.raises(ConfigError):
        load_settings({}, env={"STAGE_PORT": "bad"})  # the layers must not linger after a failure
    assert Settings().port == 7860 and Settings(port=1).port == 1
    assert load_settings({}, env={}).port == 9000


@pytest.mark.parametrize(
    ("flags", "env", "config", "message"),
    [
        ({"port": "abc"}, {}, "", r"^--port: port: Input should be a valid integer.*\(got 'abc'\)$"),
        ({"max_tokens": 0}, {}, "", r"^--max-tokens: max_tokens: "),
        ({"colour": "red"}, {}, "", r"^--colour: unknown setting 'colour'; known: backend, base_url, "),
        ({}, {"STAGE_PORT": "abc"}, "port = 1\n", r"^STAGE_PORT: port: .*\(got 'abc'\)$"),
        ({}, {}, 'port = "abc"\n', r"^{cfg}: port: .*\(got 'abc'\)$"),
        ({}, {}, "max-tokens = 0\n", r"^{cfg}: max_tokens: Input should be greater than or equal to 1"),
        ({}, {}, '[stage]\nbakend = "x"\n', r"^{cfg}: unknown setting 'bakend'; known: "),
        ({}, {}, "port = = 1\n", r"^{cfg}: cannot read the config file: "),
        ({}, {}, "stage = 3\n", r"^{cfg}: expected a \[stage\] table$"),
        (
            {"port": "x"},
            {"STAGE_TIMEOUT": "0"},
            "",
            r"^--port: port: .*; STAGE_TIMEOUT: timeout: Input should be greater than 0",
        ),
    ],
)
def test_errors_name_the_layer_that_gave_the_value(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    flags: dict[str, object],
    env: dict[str, str],
    config: str,
    message: str,
) -> None:
    import re

    monkeypatch.chdir(tmp_path)
    cfg = tmp_path / "stage.toml"
    cfg.write_text(config)
    with pytest.raises(ConfigError, match=message.replace("{cfg}", re.escape(str(cfg)))):
        load_settings(flags, env=env)


def test_a_bad_lower_layer_is_fine_when_overridden(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "stage.toml").write_text('port = "abc"\n')
    assert load_settings({"port": 1}, env={"STAGE_PORT": "also bad"}).port == 1


def test_stage_config_pointing_at_a_folder(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^STAGE_CONFIG points at .*, which is not a file$"):
        load_settings({}, env={"STAGE_CONFIG": str(tmp_path)})
