"""UI fixtures: the app served on a free loopback port (scripted or embedded model), and a headless Chromium."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"  # before gradio is imported: no network

import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from stage import runtime
from stage.llm import make_model
from stage.llm.base import ChatModel
from stage.llm.scripted import ScriptedModel
from stage.llm.wrappers import Retrying
from stage.settings import Settings
from stage.ui.app import build, launch, start_embedded_model
from stage.ui.session import SESSION_TTL_S, Sessions

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
]


@dataclass
class Served:
    url: str
    app: Any  # gr.Blocks
    sessions: Sessions  # the app's live sessions
    settings: Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def held_open(path: Path) -> bool:
    """Whether this process has ``path`` open (a transcript not yet closed); Linux, through /proc."""
    target = str(path.resolve())
    for fd in Path("/proc/self/fd").iterdir():
        try:
            if os.readlink(fd) == target:
                return True
        except OSError:  # closed meanwhile
            continue
    return False


def wait_for(condition: Callable[[], bool], timeout: float = 15.0) -> bool:
    """Poll ``condition`` until it holds or ``timeout`` seconds pass; its last answer."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            return False
        time.sleep(0.1)
    return True


def serve(
    settings: Settings,
    model: ChatModel,
    retriever: Any,
    auth: tuple[str, str] | None = None,
    session_ttl_s: float = SESSION_TTL_S,
) -> Served:
    """The app launched in this process on a free loopback port (Gradio serves it from a thread)."""
    built = build(settings, model=model, retriever=retriever, session_ttl_s=session_ttl_s)
    url = launch(built.app, settings, port=free_port(), auth=auth, block=False, quiet=True)
    return Served(url, built.app, built.sessions, settings)


def stop(served: Served) -> None:
    served.sessions.close_all()
    served.app.close()


@pytest.fixture(scope="module")
def scripted_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app on the scripted backend (deterministic, fast) with the in-memory keyword retriever."""
    settings = Settings(
        backend="scripted", home=tmp_path_factory.mktemp("ui-scripted"), seed=11, retries=0, backoff=0.0
    )
    model = Retrying(ScriptedModel(seed=11, delay=0.005), retries=0, backoff=0.0)
    served = serve(settings, model, runtime.keyword_retriever(runtime.story(settings)))
    yield served
    stop(served)


@pytest.fixture(scope="session")
def model_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """The app as users run it: the embedded model and the Chroma lore store (indexed here, once)."""
    settings = Settings(home=tmp_path_factory.mktemp("ui-model"), seed=5, max_tokens=48)
    story = runtime.story(settings)
    start_embedded_model(settings)  # from this thread, so it lives as long as the tests (see its docstring)
    served = serve(settings, make_model(settings), runtime.retriever(settings, story))
    yield served
    stop(served)
    from stage.llm.local import shared_server

    shared_server(settings.home, settings.n_threads, settings.n_ctx).stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Debian's headless Chromium driven by Playwright; skipped (or failed, if required) when missing."""
    if not CHROMIUM.exists():
        message = f"no Chromium at {CHROMIUM}: install it with `apt-get install chromium` (Debian)"
        if os.environ.get("STAGE_REQUIRE_BROWSER") == "1":
            pytest.fail(message)
        pytest.skip(message)
    from playwright.sync_api import sync_playwright

    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh browser context (its own cookies and Gradio session) per test."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.set_default_timeout(60_000)
    pg = context.new_page()
    yield pg
    context.close()
