"""Shared fixtures: the shipped story, a scripted model, and the real embedded server (started once)."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")

ROOT = Path(__file__).resolve().parent.parent

# What tools write while the tests run (bytecode, pytest's and hypothesis's caches, the linters' caches, the venv).
TOOL_CACHES = (".venv", ".pytest_cache", ".hypothesis", ".mypy_cache", ".ruff_cache")
# Tests known to write into the checkout, each to be moved to tmp_path; until then their outputs are not flagged.
KNOWN_WRITERS = {
    "artifacts/security/": "tests/security/test_injection.py (report(); SECURITY.md names the folder)",
    "artifacts/screenshots/": "tests/ui/conftest.py (browser fixture) and tests/ui/test_browser.py",
}


def untracked_files(root: Path = ROOT) -> dict[str, int] | None:
    """Untracked and ignored files in the checkout (tool caches left out) -> mtime; None outside a git checkout."""
    excludes = [f":(exclude){c}" for c in TOOL_CACHES] + [":(exclude,glob)**/__pycache__/**"]
    try:
        out = subprocess.run(
            ["git", "status", "--porcelain=v1", "-z", "--ignored=traditional", "--untracked-files=all",
             "--", ".", *excludes],
            cwd=root, capture_output=True, check=True, timeout=60,
        ).stdout.decode("utf-8", "surrogateescape")  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    files: dict[str, int] = {}
    entries = iter(out.split("\0"))
    for entry in entries:
        if not entry:
            continue
        status, path = entry[:2], entry[3:]
        if status[0] in "RC":
            next(entries, None)  # a rename's second field is the old path
        if status in ("??", "!!"):
            try:
                files[path] = (root / path).stat().st_mtime_ns
            except OSError:  # gone again
                continue
    return files


@pytest.fixture(scope="session", autouse=True)
def checkout_stays_clean() -> Iterator[None]:
    """Fails the run if a test wrote a file into the checkout: tests write under tmp_path, or a home there."""
    before = untracked_files()
    yield
    after = untracked_files()
    if before is None or after is None:
        return
    written = sorted(
        p for p, mtime in after.items() if before.get(p) != mtime and not p.startswith(tuple(KNOWN_WRITERS))
    )
    if written:
        shown = ", ".join(written[:20]) + (f" and {len(written) - 20} more" if len(written) > 20 else "")
        pytest.fail(
            f"tests wrote into the checkout {ROOT}: {shown}; write under tmp_path "
            "(a file someone else made in this checkout while the tests ran shows up here too)",
            pytrace=False,
        )


@pytest.fixture(scope="session")
def story():  # type: ignore[no-untyped-def]
    from stage.settings import load_settings
    from stage.story import Sources, load_story

    return load_story(Sources.from_settings(load_settings({}, env={})))


@pytest.fixture(scope="session")
def local_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    """The real embedded llama.cpp server, shared by the tests that need a real model."""
    from stage.llm.local import LocalServer

    server = LocalServer(tmp_path_factory.mktemp("llama-home"))
    server.ensure()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def chroma_retriever(story, tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    """The real lore store (Chroma + the packaged embedding model), indexed once for the session."""
    from stage.runtime import retriever
    from stage.settings import load_settings

    home = tmp_path_factory.mktemp("stage-home")
    return retriever(load_settings({"home": home}, env={}), story)


@pytest.fixture(scope="session")
def local_model(local_server):  # type: ignore[no-untyped-def]
    """The embedded model through the seam (retries and accounting), sharing the session's server."""
    from stage.llm.local import LocalModel
    from stage.llm.wrappers import Retrying

    return Retrying(LocalModel(local_server, timeout=60), retries=2, backoff=0.5)
