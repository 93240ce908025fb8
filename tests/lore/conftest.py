"""Shared lore-store fixtures: the shipped lore, indexed once per mode (local store, `chroma run` server)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from stage.lore.store import LoreStore
from stage.types import LoreSection, Plot
from tests.lore.support import load_lore

REPORT: list[str] = []  # lines shown in the terminal summary (hit rates, index counts)
MODES = ("local", pytest.param("server", marks=pytest.mark.chroma_server))


@dataclass(frozen=True)
class Shipped:
    plot: Plot
    sections: tuple[LoreSection, ...]


@dataclass(frozen=True)
class ChromaServer:
    url: str
    path: Path
    process: subprocess.Popen[bytes]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def chroma_cli() -> str:
    here = Path(sys.executable).parent / "chroma"
    found = str(here) if here.exists() else shutil.which("chroma")
    if not found:
        pytest.fail("the `chroma` CLI is not installed (it comes with chromadb); run `make install`")
    return found


@pytest.fixture(scope="session")
def shipped() -> Shipped:
    plot, sections = load_lore()
    return Shipped(plot, sections)


@pytest.fixture(scope="session")
def chroma_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ChromaServer]:
    """A `chroma run` server on 127.0.0.1 for the session, stopped (and waited for) at the end."""
    path = tmp_path_factory.mktemp("chroma-server")
    port = free_port()
    log = (path / "server.log").open("wb")
    process = subprocess.Popen(
        [chroma_cli(), "run", "--path", str(path / "db"), "--host", "127.0.0.1", "--port", str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                pytest.fail(f"`chroma run` exited with {process.returncode}; see {path / 'server.log'}")
            try:
                with urllib.request.urlopen(f"{url}/api/v2/heartbeat", timeout=1) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"`chroma run` did not answer its heartbeat in 30 s; see {path / 'server.log'}")
            time.sleep(0.2)
        yield ChromaServer(url, path, process)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def make_store(mode: str, home: Path, request: pytest.FixtureRequest) -> LoreStore:
    """A store with its own collection: a local one under ``home``, or one on the session's server."""
    if mode == "server":
        server: ChromaServer = request.getfixturevalue("chroma_server")
        return LoreStore(home=home, chroma_url=server.url, collection=f"lore-{uuid.uuid4().hex[:12]}")
    return LoreStore(home=home)


@pytest.fixture(scope="session", params=MODES)
def indexed(
    request: pytest.FixtureRequest, shipped: Shipped, tmp_path_factory: pytest.TempPathFactory
) -> LoreStore:
    """The shipped lore, indexed once per mode for the whole session (read-only for tests)."""
    store = make_store(request.param, tmp_path_factory.mktemp(f"home-{request.param}"), request)
    started = time.perf_counter()
    report = store.index(shipped.sections, progress=False)
    REPORT.append(
        f"{request.param} store: indexed {len(shipped.sections)} sections as {store.count()} chunks "
        f"({report}) in {time.perf_counter() - started:.1f} s"
    )
    return store


@dataclass
class StoreFactory:
    """Makes empty stores of one mode; each call gets its own home (local) or collection (server)."""

    mode: str
    tmp_path: Path
    request: pytest.FixtureRequest

    def __call__(self) -> LoreStore:
        return make_store(self.mode, self.tmp_path / f"home-{uuid.uuid4().hex[:6]}", self.request)

    def reopen(self, store: LoreStore) -> LoreStore:
        """A second handle on the same store, as another process would open it."""
        return LoreStore(home=store.path.parent, chroma_url=store.url, collection=store.name)


@pytest.fixture(params=MODES)
def new_store(request: pytest.FixtureRequest, tmp_path: Path) -> StoreFactory:
    return StoreFactory(request.param, tmp_path, request)


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if REPORT:
        terminalreporter.section("lore store")
        for line in REPORT:
            terminalreporter.write_line(line)
