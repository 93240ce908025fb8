"""Many simultaneous sessions against a running app: errors, cross-talk, and how fairly the queue waits.

    python -m stage.ui.soak --serve --sessions 20 --seconds 120     # start `stage serve` and soak it
    python -m stage.ui.soak --url http://127.0.0.1:7860 --sessions 4

Each session is its own ``gradio_client`` connection (its own browser session on the server). It speaks as a
visitor with a unique tag, waits for the reply, and repeats until time is up; at the end it reads its own
transcript back and checks that it holds exactly its own lines.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

CHARACTERS = ("Lyra", "Zara", "Theo")


@dataclass
class SessionResult:
    name: str
    sent: int = 0
    replies: int = 0
    errors: list[str] = field(default_factory=list)
    cross_talk: list[str] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)  # seconds from submit to the first streamed update
    totals: list[float] = field(default_factory=list)  # seconds from submit to the reply


@dataclass
class SoakReport:
    sessions: int
    seconds: float
    requests: int
    replies: int
    errors: int
    cross_talk: int
    wait_p50: float
    wait_p95: float
    total_p50: float
    total_p95: float
    fairness: float  # Jain's index over replies per session: 1.0 = perfectly even
    per_session: list[int]
    error_samples: list[str]


def _pct(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 3)


def _session(url: str, index: int, deadline: float, out: SessionResult, auth: tuple[str, str] | None) -> None:
    from gradio_client import Client

    try:
        client = Client(url, verbose=False, analytics_enabled=False, download_files=False, auth=auth)
    except Exception as exc:  # the app refused the connection: that is what this measures
        out.errors.append(f"connect: {type(exc).__name__}: {exc}")
        return
    n = 0
    while time.monotonic() < deadline:
        tag = f"s{index}n{n}"
        who = CHARACTERS[(index + n) % len(CHARACTERS)]
        start = time.monotonic()
        first = 0.0
        try:
            job = client.submit(
                "bedtime", out.name, "", f"{who}, what are you doing now? ({tag})", api_name="/send"
            )
            out.sent += 1
            for _ in job:
                first = first or time.monotonic() - start
            job.result(timeout=600)
        except Exception as exc:
            out.errors.append(f"{tag}: {type(exc).__name__}: {exc}")
            continue
        finally:
            n += 1
        out.waits.append(first or time.monotonic() - start)
        out.totals.append(time.monotonic() - start)
    try:
        events: list[dict[str, Any]] = client.predict(api_name="/events")
    except Exception as exc:
        out.errors.append(f"events: {type(exc).__name__}: {exc}")
        return
    users = [e for e in events if e.get("kind") == "user"]
    out.replies = sum(1 for e in events if e.get("kind") == "turn")
    for e in users:
        if e.get("name") != out.name or f"(s{index}n" not in str(e.get("text", "")):
            out.cross_talk.append(str(e.get("text", ""))[:80])
    if len(users) != out.sent - len([x for x in out.errors if not x.startswith(("events", "connect"))]):
        out.cross_talk.append(f"{len(users)} lines in the transcript for {out.sent} sent")


def soak(url: str, sessions: int, seconds: float, auth: tuple[str, str] | None = None) -> SoakReport:
    deadline = time.monotonic() + seconds
    results = [SessionResult(name=f"Soak{i}") for i in range(sessions)]
    threads = [
        threading.Thread(target=_session, args=(url, i, deadline, results[i], auth), daemon=True)
        for i in range(sessions)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    waits = [w for r in results for w in r.waits]
    totals = [t for r in results for t in r.totals]
    done = [len(r.totals) for r in results]
    fairness = (sum(done) ** 2) / (len(done) * sum(d * d for d in done)) if any(done) else 0.0
    errors = [e for r in results for e in r.errors]
    return SoakReport(
        sessions=sessions,
        seconds=seconds,
        requests=sum(r.sent for r in results),
        replies=sum(r.replies for r in results),
        errors=len(errors),
        cross_talk=sum(len(r.cross_talk) for r in results),
        wait_p50=_pct(waits, 0.5),
        wait_p95=_pct(waits, 0.95),
        total_p50=_pct(totals, 0.5),
        total_p95=_pct(totals, 0.95),
        fairness=round(fairness, 3),
        per_session=done,
        error_samples=errors[:5],
    )


def _serve(home: Path, port: int) -> subprocess.Popen[bytes]:
    env = dict(os.environ, STAGE_HOME=str(home))
    proc = subprocess.Popen([sys.executable, "-m", "stage.cli", "serve", "--port", str(port)], env=env)
    for _ in range(600):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            time.sleep(0.5)
    proc.terminate()
    raise SystemExit("the app did not start within 5 minutes")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stage.ui.soak", description=__doc__.split("\n\n")[0])
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument("--url", help="a running app, e.g. http://127.0.0.1:7860")
    where.add_argument("--serve", action="store_true", help="start `stage serve` on a free port for the soak")
    parser.add_argument("--sessions", type=int, default=20, help="simultaneous sessions (default 20)")
    parser.add_argument("--seconds", type=float, default=120.0, help="how long each session keeps talking")
    parser.add_argument("--auth", help="USER:PASS if the app requires a login")
    parser.add_argument("--out", type=Path, help="write the report as JSON here")
    args = parser.parse_args(argv)
    auth = tuple(args.auth.split(":", 1)) if args.auth else None
    proc = None
    url = args.url
    if args.serve:
        from stage.llm.local import free_port

        port = free_port()
        proc = _serve(Path(tempfile.mkdtemp(prefix="stage-soak-")), port)
        url = f"http://127.0.0.1:{port}"
    try:
        report = soak(url, args.sessions, args.seconds, auth)
    finally:
        if proc is not None:
            proc.terminate()
            proc.wait(timeout=30)
    text = json.dumps(asdict(report), indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)
    print(
        f"{report.sessions} sessions, {report.requests} requests, {report.errors} errors, {report.cross_talk} "
        f"cross-talk; wait p50 {report.wait_p50:.1f}s p95 {report.wait_p95:.1f}s; fairness {report.fairness:.2f}",
        file=sys.stderr,
    )
    return 0 if report.errors == 0 and report.cross_talk == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
