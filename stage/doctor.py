"""``stage doctor``: one line per check, a mark for pass or fail."""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

from stage.errors import ConfigError, DataError, ModelError, ModelUnavailable, StageError
from stage.settings import Settings
from stage.types import Message

OK, FAIL = "✓", "✗"


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    unreachable: bool = False


def _try(name: str, fn: Callable[[], str]) -> Check:
    try:
        return Check(name, True, fn())
    except ModelUnavailable as exc:
        return Check(name, False, str(exc), unreachable=True)
    except StageError as exc:
        return Check(name, False, str(exc))


def _data_dir(settings: Settings) -> str:
    try:
        settings.home.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=settings.home, prefix=".doctor-"):
            pass
    except OSError as exc:
        raise StageError(f"{settings.home} is not writable: {exc.strerror}") from exc
    return str(settings.home)


def _story(settings: Settings) -> str:
    from stage.story import Sources, load_story

    story = load_story(Sources.from_settings(settings))
    return (
        f"“{story.plot.title}” in {settings.story}: {len(story.personas)} characters, {len(story.plot.beats)} beats,"
        f" {len(story.lore)} lore sections"
    )


def _content_policy() -> str:
    from stage.policy.head import HEAD_FILE, load
    from stage.policy.labelled import digest, half, load_set

    head = load()
    fitted = head.meta.get("data")
    if fitted != digest(half(load_set(), "dev")):
        raise DataError(f"{HEAD_FILE} was fitted on other data than evals/safety.yaml's dev half; run `stage policy fit`")
    return f"classifier fitted on {head.meta.get('dev_lines')} dev lines (data {fitted}), refuses at {head.threshold:.2f}"


def _model_file() -> str:
    from stage.llm.local import model_path

    path = model_path()
    return f"{path} ({path.stat().st_size / 1e6:.0f} MB)"


def _server_binary() -> str:
    from stage.llm.local import server_binary
    from stage.llm.server_build import version

    path = server_binary()
    said = version(path)
    if said is None:
        raise ConfigError(f"{path} does not run; run `make install` to build it again")
    return f"{path} (llama.cpp {said or 'server'})"


def _endpoint(settings: Settings) -> str:
    from stage.llm import complete, endpoint, make_model, params_from

    model = make_model(settings)
    start = time.perf_counter()
    messages = [
        Message("system", "You are a helpful assistant."),
        Message("user", "Say hello in three words."),
    ]
    reply = complete(model, messages, params_from(settings, max_tokens=12, temperature=0.0))
    if not reply.text.strip():
        raise ModelError(f"the model {model.name} answered with empty text")
    total = (time.perf_counter() - start) * 1000
    where = "embedded server" if settings.backend == "local" else (settings.base_url or "api.openai.com")
    limit = endpoint(settings)[1]
    return (
        f"{model.name} at {where} ({limit} calls at once) answered: time to first token {reply.usage.ttft_ms:.0f} ms, "
        f"{reply.usage.completion_tokens} tokens in {total:.0f} ms"
    )


def run_doctor(args: argparse.Namespace, settings: Settings) -> int:
    checks = [
        _try("data folder writable", lambda: _data_dir(settings)),
        _try("story files valid", lambda: _story(settings)),
        _try("content policy loads", _content_policy),
    ]
    if settings.backend == "local" or any(settings.endpoint_of(c).backend == "local" for c in settings.models):
        checks.append(_try("embedded model file", _model_file))
        checks.append(_try("embedded model server built", _server_binary))
    if settings.backend == "local":
        checks.append(_try("embedded server starts and answers", lambda: _endpoint(settings)))
    elif settings.backend == "openai":
        checks.append(_try("configured endpoint answers", lambda: _endpoint(settings)))
    else:
        checks.append(_try("scripted backend answers", lambda: _endpoint(settings)))
    for character in settings.models:  # a model per character: each override is checked as the default is
        own = settings.endpoint_of(character)
        checks.append(_try(f"model for {character} (models.{character}) answers", partial(_endpoint, own)))
    for c in checks:
        print(f"{OK if c.ok else FAIL} {c.name}: {c.detail}")
    if any(c.unreachable for c in checks):
        return 3
    return 0 if all(c.ok for c in checks) else 1
