"""Cards written for the tests, in each container, following the V2 and V3 specs field by field."""

from __future__ import annotations

import base64
import copy
import io
import json
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parent / "data"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def mira_v2() -> dict[str, Any]:
    doc: dict[str, Any] = json.loads((DATA / "mira.v2.json").read_text(encoding="utf-8"))
    return doc


def mira_v1() -> dict[str, Any]:
    """V1: the six fields at the top level, nothing else."""
    d = mira_v2()["data"]
    return {k: d[k] for k in ("name", "description", "personality", "scenario", "first_mes", "mes_example")}


def mira_v3() -> dict[str, Any]:
    """V3: V2's fields plus nickname, group-only greetings, assets, decorators in lorebook entries."""
    doc = copy.deepcopy(mira_v2())
    doc["spec"], doc["spec_version"] = "chara_card_v3", "3.0"
    d = doc["data"]
    d["nickname"] = "Mira"
    d["group_only_greetings"] = ["*Mira counts heads.* Everyone aboard? Good. Hold on to something!"]
    d["assets"] = [{"type": "icon", "uri": "ccdefault:", "name": "main", "ext": "png"}]
    d["creation_date"] = 1700000000
    d["source"] = ["https://example.invalid/mira"]
    entries = d["character_book"]["entries"]
    for e in entries:
        e["use_regex"] = False
    entries.append(
        {"keys": ["bell"], "content": "@@activate\nThe brass bell rings once for every town the Kestrel reaches.",
         "extensions": {}, "enabled": True, "insertion_order": 4, "use_regex": False, "name": "The bell"}
    )  # fmt: skip
    entries.append(
        {"keys": ["cheese"], "content": "@@depth 2\n@@role system\nMira hates the smell of the cheese parcel.",
         "extensions": {}, "enabled": True, "insertion_order": 5, "use_regex": False, "name": "Cheese"}
    )  # fmt: skip
    entries.append(
        {"keys": ["hidden"], "content": "@@dont_activate\nA note that never activates.",
         "extensions": {}, "enabled": True, "insertion_order": 6, "use_regex": False, "name": "Hidden"}
    )  # fmt: skip
    return doc


def world_info() -> dict[str, Any]:
    """SillyTavern world info: entries keyed by number, ``key``/``keysecondary``/``disable``."""
    return {
        "name": "Cloudreach",
        "entries": {
            "0": {"uid": 0, "key": ["Cloudreach"], "keysecondary": [], "comment": "The Cloudreach",
                  "content": "The Cloudreach is a sea of clouds with floating towns tied together by mail routes.",
                  "constant": False, "selective": False, "order": 100, "position": 0, "disable": False},
            "1": {"uid": 1, "key": ["High Gale"], "keysecondary": ["storm"], "comment": "High Gale",
                  "content": "High Gale is the windiest town, where kites are the main way to send a letter.",
                  "constant": True, "selective": True, "order": 100, "position": 1, "disable": False},
            "2": {"uid": 2, "key": ["draft"], "comment": "Draft", "content": "Unfinished.", "disable": True},
        },
    }  # fmt: skip


def lorebook_v3() -> dict[str, Any]:
    return {
        "spec": "lorebook_v3",
        "data": {"name": "Sky towns", "extensions": {}, "entries": [
            {"keys": ["Low Tarn"], "content": "Low Tarn's glass lighthouse can be seen from three towns away.",
             "extensions": {}, "enabled": True, "insertion_order": 0, "use_regex": False, "name": "Glass light"},
        ]},
    }  # fmt: skip


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def tiny_png(*chunks: bytes) -> bytes:
    """A valid 1x1 PNG with ``chunks`` before its image data."""
    ihdr = chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
    idat = chunk(b"IDAT", zlib.compress(b"\x00\xff\x00\x00"))
    return PNG_SIGNATURE + ihdr + b"".join(chunks) + idat + chunk(b"IEND", b"")


def text_chunk(keyword: str, doc: dict[str, Any] | str, kind: bytes = b"tEXt") -> bytes:
    payload = doc if isinstance(doc, str) else base64.b64encode(json.dumps(doc).encode()).decode()
    if kind == b"iTXt":
        return chunk(kind, keyword.encode() + b"\x00\x00\x00\x00\x00" + payload.encode())
    if kind == b"zTXt":
        return chunk(kind, keyword.encode() + b"\x00\x00" + zlib.compress(payload.encode()))
    return chunk(kind, keyword.encode("latin-1") + b"\x00" + payload.encode("latin-1"))


def charx(doc: dict[str, Any], icon: bytes = b"") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("card.json", json.dumps(doc))
        if icon:
            z.writestr("assets/icon/images/main.png", icon)
    return out.getvalue()


def write(path: Path, content: bytes | dict[str, Any]) -> Path:
    path.write_bytes(content if isinstance(content, bytes) else json.dumps(content).encode())
    return path


def files_of(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()} if folder.exists() else {}
