"""Build llama.cpp's own ``llama-server`` from the pinned llama-cpp-python source distribution, once per machine.

The sdist carries the whole llama.cpp tree it was made from (``vendor/llama.cpp``). Only the server target is
built (static, no web UI, no HTTPS, nothing fetched by CMake), which takes about 9 minutes on 2 cores. The
binary is cached under ``~/.cache/dream-stage/<sdist>-<hash>-<arch>-<cpu>/`` (built for this CPU's
instruction set: GGML_NATIVE) and copied next to the virtual environment's Python, where the stage looks for
it. ``make install`` runs this; run it by hand with ``python -m stage.llm.server_build --help``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

SDIST = "llama-cpp-python==0.3.36"
SDIST_FILE = "llama_cpp_python-0.3.36.tar.gz"
SDIST_SHA256 = "832db0699007f1be95a7e41ef12e88926b02ba836461e36a36372db2760c1a2e"
BINARY = "llama-server"
FLAGS = (
    "-DCMAKE_BUILD_TYPE=Release",
    "-DBUILD_SHARED_LIBS=OFF",  # one file to cache and copy, no rpath to get wrong
    "-DLLAMA_BUILD_TESTS=OFF",
    "-DLLAMA_BUILD_EXAMPLES=OFF",
    "-DLLAMA_BUILD_TOOLS=ON",
    "-DLLAMA_BUILD_SERVER=ON",
    "-DLLAMA_BUILD_APP=OFF",
    "-DLLAMA_BUILD_UI=OFF",
    "-DLLAMA_USE_PREBUILT_UI=OFF",  # it would download the web UI at configure time; the stage has its own page
    "-DLLAMA_OPENSSL=OFF",  # the server only listens on loopback and never fetches models
    "-DGGML_NATIVE=ON",  # this CPU's vector instructions: several times faster than the portable build
)


class BuildError(RuntimeError):
    """The server could not be built; the message says which step and where its log is."""


def cache_root() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "dream-stage"


def cpu_tag() -> str:
    """A short hash of this CPU's feature flags: a native build is only reused where the same flags exist."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
        flags = next((line for line in text.splitlines() if line.startswith(("flags", "Features"))), "")
    except OSError:
        flags = platform.processor()
    return hashlib.sha1(" ".join(sorted(flags.split(":", 1)[-1].split())).encode()).hexdigest()[:8]


def cache_dir() -> Path:
    return cache_root() / f"{SDIST_FILE.removesuffix('.tar.gz')}-{SDIST_SHA256[:12]}-{platform.machine()}-{cpu_tag()}"


def installed_path() -> Path:
    """Where the stage looks for the server: beside this environment's Python (``.venv/bin``)."""
    return Path(sys.executable).parent / BINARY


def version(binary: Path) -> str | None:
    """What ``binary --version`` says of itself ("" if it names no version); None if it does not run."""
    try:
        done = subprocess.run([str(binary), "--version"], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if done.returncode != 0:
        return None
    line = next((ln for ln in (done.stderr + done.stdout).splitlines() if ln.startswith("version")), "")
    return line.removeprefix("version: ")


def works(binary: Path) -> bool:
    return version(binary) is not None


def say(text: str) -> None:
    print(f"    {text}", flush=True)


def fetch_sdist(into: Path) -> Path:
    """The sdist from the package index (pip's cache answers after the first time), checked against its pin."""
    cmd = [sys.executable, "-m", "pip", "download", SDIST, "--no-deps", "--no-binary", ":all:"]
    cmd += ["--quiet", "-d", str(into)]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    path = into / SDIST_FILE
    if done.returncode != 0 or not path.is_file():
        raise BuildError(f"pip could not download {SDIST}: {(done.stderr or done.stdout).strip()[-500:]}")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise BuildError(f"{path.name} has sha256 {digest}, expected the pinned {SDIST_SHA256}; not building it")
    return path


def extract_llama_cpp(sdist: Path, into: Path) -> Path:
    prefix = f"{SDIST_FILE.removesuffix('.tar.gz')}/vendor/llama.cpp/"
    with tarfile.open(sdist) as tar:
        members = [m for m in tar.getmembers() if m.name.startswith(prefix)]
        if not members:
            raise BuildError(f"{sdist.name} has no {prefix}")
        tar.extractall(into, members=members, filter="data")
    return into / prefix


def _run_logged(cmd: list[str], log: Path, step: str, progress: bool) -> None:
    """Run one build step into ``log``; print CMake's percentage every 10% (the build is minutes long)."""
    shown = -10
    with open(log, "a", encoding="utf-8") as out:
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        assert proc.stdout is not None
        for line in proc.stdout:
            out.write(line)
            m = re.match(r"\[\s*(\d+)%\]", line)
            if progress and m and int(m.group(1)) >= shown + 10:
                shown = int(m.group(1)) // 10 * 10
                say(f"{step}: {shown}%")
        if proc.wait() != 0:
            raise BuildError(f"{step} failed (exit {proc.returncode}); see {log}")


def cmake() -> str:
    """CMake from PATH, else from the package index into this environment (as pip's own builds get it)."""
    found = shutil.which("cmake") or shutil.which("cmake", path=str(Path(sys.executable).parent))
    if found:
        return found
    say("cmake is not installed: installing it from the package index into this environment")
    done = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "cmake>=3.21"], capture_output=True, text=True, check=False
    )
    local = Path(sys.executable).parent / "cmake"
    if done.returncode != 0 or not local.is_file():
        raise BuildError(f"building {BINARY} needs cmake, and pip could not install it: {done.stderr.strip()[-300:]}")
    return str(local)


def build(jobs: int, progress: bool = True) -> Path:
    """Build the server into the cache and return its path."""
    if shutil.which("c++") is None and shutil.which("g++") is None:
        raise BuildError(f"building {BINARY} needs a C++ compiler (Debian: apt install g++)")
    cm = cmake()
    dest = cache_dir()
    dest.mkdir(parents=True, exist_ok=True)
    log = dest / "build.log"
    log.write_text("", encoding="utf-8")
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="dream-stage-build-") as tmp:
        work = Path(tmp)
        say(f"fetching {SDIST} (source) from the package index")
        src = extract_llama_cpp(fetch_sdist(work), work)
        out = work / "build"
        say(f"configuring llama.cpp (log: {log})")
        _run_logged([cm, "-S", str(src), "-B", str(out), *FLAGS], log, "configure", progress=False)
        say(f"compiling {BINARY} with {jobs} jobs (about 9 minutes on 2 cores)")
        _run_logged(
            [cm, "--build", str(out), "--target", BINARY, "--parallel", str(jobs)], log, "compile", progress
        )
        built = next(iter(out.rglob(BINARY)), None)
        if built is None or not works(built):
            raise BuildError(f"the build made no working {BINARY}; see {log}")
        tmp_bin = dest / f".{BINARY}.tmp"
        shutil.copy2(built, tmp_bin)
        tmp_bin.replace(dest / BINARY)
    seconds = time.monotonic() - started
    record = {"sdist": SDIST, "sha256": SDIST_SHA256, "flags": list(FLAGS), "jobs": jobs, "seconds": round(seconds)}
    (dest / "build.json").write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    say(f"built in {seconds / 60:.1f} min")
    return dest / BINARY


def ensure(jobs: int, force: bool = False, target: Path | None = None, progress: bool = True) -> Path:
    """A working server at ``target`` (default: beside this Python), built or taken from the cache."""
    target = target or installed_path()
    cached = cache_dir() / BINARY
    if force or not works(cached):
        build(jobs, progress=progress)
    else:
        say(f"{BINARY} from the build cache {cached.parent}")
    if target.resolve() != cached.resolve():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{BINARY}.tmp")
        shutil.copy2(cached, tmp)
        tmp.replace(target)
    return target


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m stage.llm.server_build",
        description=f"Build llama.cpp's {BINARY} from the pinned {SDIST} source (cached per machine) "
        "and install it beside this Python, where the embedded model is served from.",
    )
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 2, help="parallel compile jobs (default: all cores)")
    ap.add_argument("--force", action="store_true", help="build again even if the cache has a working binary")
    ap.add_argument("--dest", type=Path, default=None, help=f"install here instead of {installed_path()}")
    args = ap.parse_args(argv)
    try:
        path = ensure(max(1, args.jobs), force=args.force, target=args.dest)
    except BuildError as exc:
        print(f"stage: cannot build {BINARY}: {exc}", file=sys.stderr)
        return 1
    say(f"{BINARY} installed at {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
