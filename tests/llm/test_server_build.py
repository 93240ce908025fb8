"""The install's build of llama-server: the cache is used when it holds a working binary, a wrong source is
refused before anything is built, and a tree without llama.cpp is named."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from stage.llm import server_build as sb


def cached_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, script: str) -> Path:
    """A build cache under ``tmp_path`` holding ``script`` as the server binary."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    cached = sb.cache_dir() / sb.BINARY
    cached.parent.mkdir(parents=True)
    cached.write_text(script)
    cached.chmod(0o755)
    return cached


def test_a_working_cached_binary_is_installed_without_building(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = cached_binary(tmp_path, monkeypatch, "#!/bin/sh\necho 'version: 1 (test)'\n")
    monkeypatch.setattr(sb, "build", lambda *a, **k: pytest.fail("a working cached binary must not be rebuilt"))
    target = sb.ensure(1, target=tmp_path / "venv" / "bin" / sb.BINARY, progress=False)
    assert target.read_text() == cached.read_text() and sb.works(target)
    assert sb.cpu_tag() in sb.cache_dir().name, "a native build is cached per CPU"


def test_a_broken_cached_binary_is_built_again(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cached = cached_binary(tmp_path, monkeypatch, "#!/bin/sh\nexit 1\n")
    built: list[int] = []

    def fake_build(jobs: int, progress: bool = True) -> Path:
        built.append(jobs)
        cached.write_text("#!/bin/sh\nexit 0\n")
        return cached

    monkeypatch.setattr(sb, "build", fake_build)
    sb.ensure(3, target=tmp_path / sb.BINARY, progress=False)
    assert built == [3] and sb.works(tmp_path / sb.BINARY)


def test_a_source_that_is_not_the_pinned_one_is_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def fake_pip(cmd: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
        (tmp_path / sb.SDIST_FILE).write_bytes(b"not the sdist")
        return subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(sb.subprocess, "run", fake_pip)
    with pytest.raises(sb.BuildError, match="expected the pinned"):
        sb.fetch_sdist(tmp_path)


def test_an_archive_without_llama_cpp_is_named(tmp_path: Path) -> None:
    archive = tmp_path / sb.SDIST_FILE
    with tarfile.open(archive, "w:gz") as tar:
        data = b"hello"
        info = tarfile.TarInfo("llama_cpp_python-0.3.36/README.md")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(sb.BuildError, match=r"has no .*vendor/llama\.cpp"):
        sb.extract_llama_cpp(archive, tmp_path / "out")
