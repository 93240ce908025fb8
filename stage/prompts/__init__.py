"""Prompt templates live here as Jinja files, rendered with ``StrictUndefined`` (a missing value is an error)."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Template

FOLDER = Path(__file__).parent


@cache
def _env() -> Environment:
    return Environment(
        loader=FileSystemLoader(FOLDER),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
        autoescape=False,
    )


def template(name: str) -> Template:
    return _env().get_template(name)


def render(name: str, **values: Any) -> str:
    return template(name).render(**values).strip()
