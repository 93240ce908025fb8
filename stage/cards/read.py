"""Character cards and lorebooks as other tools write them, read into plain JSON values.

Containers: a JSON file; a PNG whose ``tEXt``/``iTXt``/``zTXt`` chunk ``ccv3`` (V3) or ``chara`` (V1/V2) holds the
card as base64 JSON; a CHARX zip with ``card.json`` at its root. Specs: V1 (the fields at the top level), V2
(``spec: chara_card_v2``, fields under ``data``), V3 (``chara_card_v3``), SillyTavern world info (``entries``
keyed by number) and the V3 lorebook (``spec: lorebook_v3``). Every way a file can be wrong is one
``CardError`` sentence that names the file; nothing here writes anything.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import struct
import zipfile
import zlib
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

from stage.datafile import relative
from stage.errors import DataError

MAX_FILE = 20 * 1024 * 1024  # the largest card file read; real cards are well under 10 MB
MAX_JSON = 4 * 1024 * 1024  # the card's own JSON, once unpacked (a zip bomb stops here)
MAX_ASSET = 8 * 1024 * 1024  # the CHARX icon kept for the portrait
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
ZIP_SIGNATURE = b"PK\x03\x04"
CARD_CHUNKS = ("ccv3", "chara")  # V3 first: a V3 PNG keeps a V2 "chara" for older readers


class CardError(DataError):
    """A file that cannot be read as a card or lorebook; the message names the file and what is wrong."""


class Spec(StrEnum):
    V1 = "Character Card V1"
    V2 = "Character Card V2"
    V3 = "Character Card V3"
    WORLD_INFO = "SillyTavern world info"
    LOREBOOK_V3 = "Character Card V3 lorebook"


@dataclass(frozen=True)
class RawCard:
    """One file as read: its spec, the card's fields (``data`` for V2/V3, the top level for V1 and books)."""

    source: Path
    container: str  # "json", "png" or "charx"
    spec: Spec
    data: dict[str, Any]
    image: bytes = b""  # the PNG itself, or a CHARX icon: the character's portrait
    wrapper: dict[str, Any] = field(default_factory=dict)  # V2/V3: the keys beside ``data`` (spec, version)

    @property
    def is_book(self) -> bool:
        return self.spec in (Spec.WORLD_INFO, Spec.LOREBOOK_V3)

    @property
    def name(self) -> str:
        return relative(self.source)


def read_card(path: Path) -> RawCard:
    """The card or lorebook in ``path``, or ``CardError``."""
    shown = relative(path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise CardError(f"{shown}: cannot read the file: {exc.strerror}") from exc
    if size > MAX_FILE:
        raise CardError(f"{shown}: the file is {size / 2**20:.1f} MB; a card may be at most {MAX_FILE // 2**20} MB")
    raw = path.read_bytes()
    if raw.startswith(PNG_SIGNATURE):
        text, chunk = _png_card(raw, shown)
        return _classify(path, "png", _json(text, f"{shown}: the PNG's {chunk!r} chunk"), raw)
    if raw.startswith(ZIP_SIGNATURE):
        text, icon = _charx(raw, shown)
        return _classify(path, "charx", _json(text, f"{shown}: card.json"), icon)
    if raw.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] in (b"{", b"["):  # JSON, after any BOM and blank space
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise CardError(f"{shown}: expected UTF-8 JSON, got an invalid byte at offset {exc.start}") from exc
        return _classify(path, "json", _json(text, shown), b"")
    raise CardError(f"{shown}: expected a card (JSON, PNG or CHARX) or a lorebook (JSON); this file is none of them")


def _json(text: str, where: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise CardError(f"{where}: expected JSON, got an error at line {exc.lineno}: {exc.msg}") from exc


def _classify(path: Path, container: str, doc: Any, image: bytes) -> RawCard:
    shown = relative(path)
    if not isinstance(doc, dict):
        raise CardError(f"{shown}: expected a JSON object (a card or a lorebook), got a {type(doc).__name__}")
    spec = doc.get("spec")
    if spec in ("chara_card_v2", "chara_card_v3"):
        data = doc.get("data")
        if not isinstance(data, dict):
            raise CardError(f"{shown}: data: expected the card's fields (an object) under 'data', got {type(data).__name__}")
        wrapper = {k: v for k, v in doc.items() if k != "data"}
        return RawCard(path, container, Spec.V2 if spec == "chara_card_v2" else Spec.V3, data, image, wrapper)
    if spec == "lorebook_v3":
        data = doc.get("data")
        if not isinstance(data, dict) or not isinstance(data.get("entries"), list):
            raise CardError(f"{shown}: data.entries: expected the lorebook's entries (a list)")
        return RawCard(path, container, Spec.LOREBOOK_V3, data, image)
    if spec is not None:
        raise CardError(f"{shown}: spec: expected chara_card_v2, chara_card_v3 or lorebook_v3, got {spec!r}")
    if isinstance(doc.get("entries"), dict | list):  # no card has entries at its top level
        return RawCard(path, container, Spec.WORLD_INFO, doc, image)
    if isinstance(doc.get("name"), str) and any(k in doc for k in ("description", "first_mes", "personality")):
        return RawCard(path, container, Spec.V1, doc, image)
    raise CardError(
        f"{shown}: expected a character card (name, description, first_mes ...) or world info (entries), "
        f"found the keys {', '.join(sorted(doc)[:8]) or 'none'}"
    )


def _png_card(raw: bytes, shown: str) -> tuple[str, str]:
    """The card text from a PNG's text chunks: ``ccv3`` if there is one, else ``chara``."""
    found: dict[str, str] = {}
    pos = len(PNG_SIGNATURE)
    while pos < len(raw):
        if pos + 8 > len(raw):
            raise CardError(f"{shown}: the PNG is truncated: a chunk header is cut off at byte {pos}")
        (length,) = struct.unpack(">I", raw[pos : pos + 4])
        kind = raw[pos + 4 : pos + 8]
        body = raw[pos + 8 : pos + 8 + length]
        crc = raw[pos + 8 + length : pos + 12 + length]
        name = kind.decode("latin-1")
        if len(body) < length or len(crc) < 4:
            raise CardError(f"{shown}: the PNG is truncated: its {name!r} chunk at byte {pos} is cut off")
        if struct.unpack(">I", crc)[0] != zlib.crc32(kind + body):
            raise CardError(f"{shown}: the PNG is damaged: its {name!r} chunk at byte {pos} fails its checksum")
        if kind in (b"tEXt", b"iTXt", b"zTXt"):
            keyword, text = _text_chunk(kind, body, shown)
            if keyword.lower() in CARD_CHUNKS:
                found[keyword.lower()] = text
        if kind == b"IEND":
            break
        pos += 12 + length
    chunk = next((c for c in CARD_CHUNKS if c in found), None)
    if chunk is None:
        raise CardError(f"{shown}: this PNG holds no card (no 'chara' or 'ccv3' text chunk)")
    try:
        decoded = base64.b64decode(found[chunk].strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CardError(f"{shown}: the PNG's {chunk!r} chunk is not valid base64: {exc}") from exc
    if len(decoded) > MAX_JSON:
        raise CardError(f"{shown}: the PNG's {chunk!r} card is {len(decoded) / 2**20:.1f} MB; at most {MAX_JSON // 2**20} MB")
    try:
        return decoded.decode("utf-8"), chunk
    except UnicodeDecodeError as exc:
        raise CardError(f"{shown}: the PNG's {chunk!r} chunk is not UTF-8 text once decoded") from exc


def _text_chunk(kind: bytes, body: bytes, shown: str) -> tuple[str, str]:
    keyword, sep, rest = body.partition(b"\x00")
    if not sep:
        raise CardError(f"{shown}: the PNG is damaged: a {kind.decode()} chunk has no keyword separator")
    try:
        if kind == b"tEXt":
            return keyword.decode("latin-1"), rest.decode("latin-1")
        if kind == b"zTXt":
            return keyword.decode("latin-1"), _inflate(rest[1:], shown).decode("latin-1")
        compressed, rest = rest[0], rest[2:]  # iTXt: flag, method, language\0, translated keyword\0, text
        _, _, rest = rest.partition(b"\x00")
        _, _, rest = rest.partition(b"\x00")
        return keyword.decode("latin-1"), (_inflate(rest, shown) if compressed else rest).decode("utf-8")
    except (IndexError, UnicodeDecodeError) as exc:
        raise CardError(f"{shown}: the PNG is damaged: its {kind.decode()} chunk cannot be read") from exc


def _inflate(data: bytes, shown: str) -> bytes:
    d = zlib.decompressobj()
    try:
        out = d.decompress(data, MAX_JSON + 1)
    except zlib.error as exc:
        raise CardError(f"{shown}: the PNG is damaged: a compressed text chunk does not inflate") from exc
    if len(out) > MAX_JSON:
        raise CardError(f"{shown}: a compressed text chunk inflates past {MAX_JSON // 2**20} MB; refused")
    return out


def _charx(raw: bytes, shown: str) -> tuple[str, bytes]:
    """``card.json`` and the icon asset from a CHARX zip, each read with a size bound (never trusting the
    sizes the zip declares: a bomb declares small ones)."""
    try:
        with zipfile.ZipFile(io.BytesIO(raw)) as z:
            names = set(z.namelist())
            if "card.json" not in names:
                raise CardError(f"{shown}: this CHARX (zip) has no card.json at its root")
            text = _bounded(z, "card.json", MAX_JSON, shown)
            try:
                doc = json.loads(text)
            except json.JSONDecodeError:
                return text.decode("utf-8", "replace"), b""  # _json reports it
            icon = b""
            assets = doc.get("data", {}).get("assets", []) if isinstance(doc, dict) else []
            for asset in assets if isinstance(assets, list) else []:
                uri = str(asset.get("uri", "")) if isinstance(asset, dict) else ""
                if asset.get("type") == "icon" and uri.startswith("embeded://"):  # the spec's spelling
                    member = uri.removeprefix("embeded://")
                    if member in names:
                        icon = _bounded(z, member, MAX_ASSET, shown)
                        break
    except zipfile.BadZipFile as exc:
        raise CardError(f"{shown}: the CHARX (zip) is damaged: {exc}") from exc
    try:
        return text.decode("utf-8-sig"), icon
    except UnicodeDecodeError as exc:
        raise CardError(f"{shown}: card.json is not UTF-8 text (invalid byte at offset {exc.start})") from exc


def _bounded(z: zipfile.ZipFile, member: str, limit: int, shown: str) -> bytes:
    with z.open(member) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise CardError(f"{shown}: {member} unpacks to more than {limit // 2**20} MB; refused (a zip bomb?)")
    return data
