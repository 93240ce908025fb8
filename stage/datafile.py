"""Reading YAML data files with errors that name the file, the line, the field and what was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from stage.errors import DataError

M = TypeVar("M", bound=BaseModel)


def line_of(text: str, loc: tuple[int | str, ...]) -> int | None:
    """Best-effort line number of a dotted field path in a YAML document (first key match, in order)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if k.value == part), None)
            if match is None:
                return line
            key = next(k for k, v in node.value if k.value == part)
            line = key.start_mark.line + 1
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return line
    return line


def _bounds(model: type[BaseModel] | None, loc: tuple[int | str, ...]) -> tuple[int | None, int | None]:
    """The min/max length declared on the field at ``loc`` (pydantic only reports the bound that failed)."""
    lo = hi = None
    current: Any = model
    for part in loc:
        fields = getattr(current, "model_fields", None)
        if not fields or part not in fields:
            return lo, hi
        info = fields[part]
        lo = next((m.min_length for m in info.metadata if getattr(m, "min_length", None) is not None), None)
        hi = next((m.max_length for m in info.metadata if getattr(m, "max_length", None) is not None), None)
        current = info.annotation
    return lo, hi


def describe(err: Any, model: type[BaseModel] | None = None) -> str:
    """One pydantic error as 'expected ..., got ...'."""
    kind = err["type"]
    got = err.get("input")
    shown = repr(got) if not isinstance(got, dict | list) else type(got).__name__
    if len(shown) > 60:
        shown = shown[:57] + "..."
    if kind == "missing":
        return "required field is missing"
    if kind == "extra_forbidden":
        return "unknown field (check the spelling; see the schema in stage/)"
    if kind in ("too_short", "too_long"):
        ctx = err.get("ctx", {})
        lo, hi = _bounds(model, tuple(err["loc"]))
        lo = ctx.get("min_length", lo)
        hi = ctx.get("max_length", hi)
        n = len(got) if hasattr(got, "__len__") else "?"
        bounds = (
            f"{lo}-{hi}"
            if lo is not None and hi is not None
            else (f"at least {lo}" if lo else f"at most {hi}")
        )
        return f"expected {bounds} items, got {n}"
    msg = str(err["msg"])
    msg = msg[0].lower() + msg[1:] if msg else msg
    return f"{msg}, got {shown}"


def read_yaml(path: Path, display: str, problems: list[str]) -> Any:
    """Parse a YAML file; on failure append a message and return ``None``."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        problems.append(f"{display}: cannot read: {exc.strerror}")
        return None
    if b"\x00" in raw:
        problems.append(f"{display}: expected a UTF-8 YAML text file, got binary data")
        return None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problems.append(f"{display}: expected UTF-8 text, got an invalid byte at offset {exc.start}")
        return None
    if not text.strip():
        problems.append(f"{display}: the file is empty; expected a YAML mapping")
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        problems.append(f"{display}{where}: invalid YAML: {problem}")
        return None


def validate(model: type[M], data: Any, display: str, text: str | None, problems: list[str]) -> M | None:
    """Validate ``data`` against ``model``; append one message per error and return ``None`` on failure."""
    if not isinstance(data, dict):
        problems.append(f"{display}: expected a YAML mapping at the top level, got {type(data).__name__}")
        return None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        for err in exc.errors():
            loc = tuple(err["loc"])
            field = ".".join(str(p) for p in loc) or "(top level)"
            line = line_of(text, loc) if text else None
            where = f"{display}:{line}" if line else display
            problems.append(f"{where}: {field}: {describe(err, model)}")
        return None


def load_checked(model: type[M], path: Path, what: str) -> M:
    """One YAML file read and validated against ``model``, or ``DataError`` naming every problem (file, line,
    field, what was expected); ``what`` says what the file is when it cannot be read at all."""
    display = relative(path)
    problems: list[str] = []
    data = read_yaml(path, display, problems)
    text = path.read_text(encoding="utf-8") if path.is_file() else None
    parsed = validate(model, data, display, text, problems) if data is not None else None
    if parsed is None:
        raise DataError(problems or [f"{display}: cannot read {what}"])
    return parsed


def relative(path: Path, root: Path | None = None) -> str:
    """A path as people see it: relative to the working directory when inside it."""
    for base in (root, Path.cwd()):
        if base is None:
            continue
        try:
            return str(path.resolve().relative_to(base.resolve()))
        except ValueError:
            continue
    return str(path)
