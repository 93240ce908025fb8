"""Settings from defaults < config file < ``STAGE_*`` environment < command-line flags."""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from stage.errors import ConfigError

ROOT = Path(__file__).resolve().parent.parent  # the checkout: characters/, lore/, evals/ live here
Backend = Literal["local", "openai", "scripted"]
BACKENDS: tuple[str, ...] = ("local", "openai", "scripted")


class Settings(BaseModel):
    """Everything a command may be told. Field names map to ``STAGE_<NAME>`` variables and ``--name`` flags."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend = "local"
    base_url: str = ""  # openai backend: the OpenAI-compatible endpoint (empty = api.openai.com)
    model: str = ""  # model name at the endpoint ("" = the backend's default)
    api_key: str = ""  # falls back to OPENAI_API_KEY
    home: Path = Field(default_factory=lambda: Path.cwd() / ".stage")
    characters_dir: Path = ROOT / "characters"
    lore_dir: Path = ROOT / "lore"
    plot_file: Path = ROOT / "lore" / "plot.yaml"
    chroma_url: str = ""  # http://host:port of a shared `chroma run` server; empty = a local store under home
    host: str = "127.0.0.1"
    port: int = Field(default=7860, ge=0, le=65535)
    timeout: float = Field(default=30.0, gt=0)  # seconds without progress before a model call is abandoned
    retries: int = Field(default=2, ge=0, le=10)  # retries after the first attempt
    backoff: float = Field(default=0.5, ge=0)  # first retry delay in seconds, doubling each time
    max_tokens: int = Field(default=80, ge=1, le=4096)
    temperature: float = Field(default=0.7, ge=0, le=2)
    seed: int | None = None
    n_threads: int = Field(default=2, ge=1)
    n_ctx: int = Field(default=4096, ge=512)

    def effective_api_key(self) -> str:
        return self.api_key or os.environ.get("OPENAI_API_KEY", "")


FIELDS = tuple(Settings.model_fields)


def config_path(env: Mapping[str, str]) -> Path | None:
    explicit = env.get("STAGE_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"STAGE_CONFIG points at {path}, which is not a file")
        return path
    local = Path.cwd() / "stage.toml"
    return local if local.is_file() else None


def _read_config(path: Path) -> dict[str, Any]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the config file: {exc}") from exc
    section = data.get("stage", data)
    if not isinstance(section, dict):
        raise ConfigError(f"{path}: expected a [stage] table")
    return dict(section)


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
) -> Settings:
    """Merge the layers; flags whose value is ``None`` are treated as not given."""
    env = os.environ if env is None else env
    merged: dict[str, Any] = {}
    origin: dict[str, str] = {}
    path = config_path(env)
    if path is not None:
        for key, value in _read_config(path).items():
            merged[key.replace("-", "_")] = value
            origin[key] = str(path)
    for name in FIELDS:
        value = env.get(f"STAGE_{name.upper()}")
        if value is not None and value != "":
            merged[name] = value
            origin[name] = f"STAGE_{name.upper()}"
    for name, value in (flags or {}).items():
        if value is not None:
            merged[name] = value
            origin[name] = f"--{name.replace('_', '-')}"
    try:
        return Settings(**merged)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            field = ".".join(str(p) for p in err["loc"]) or "settings"
            where = origin.get(field, "settings")
            if err["type"] == "extra_forbidden":
                problems.append(f"{where}: unknown setting {field!r}; known: {', '.join(FIELDS)}")
            else:
                problems.append(f"{where}: {field}: {err['msg']} (got {err.get('input')!r})")
        raise ConfigError("; ".join(problems)) from exc
