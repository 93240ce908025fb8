"""Indexing is idempotent and incremental: an edit re-embeds only its chunks; a deletion removes them."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stage.lore import store as store_module
from stage.lore.chunk import chunk_sections
from stage.lore.store import IndexReport
from tests.lore.conftest import REPORT, StoreFactory
from tests.lore.support import copy_lore, load_lore, paragraphs, write_lore


def chunk_ids(sections: object, source_suffix: str) -> set[str]:
    return {c.id for c in chunk_sections(sections) if c.source.endswith(source_suffix)}  # type: ignore[arg-type]


def test_edit_then_delete_a_file(new_store: StoreFactory, tmp_path: Path) -> None:
    lore = copy_lore(tmp_path)
    _, sections = load_lore(lore, lore / "plot.yaml")
    store = new_store()
    assert store.is_stale(sections)
    first = store.index(sections, progress=False)
    total = len(chunk_sections(sections))
    assert first == IndexReport(added=total)
    assert store.index(sections, progress=False) == IndexReport(unchanged=total)
    assert not new_store.reopen(store).is_stale(sections)  # persisted, seen by a second handle

    before = store.stored_hashes()
    city = lore / "city.md"
    # shout the first word of every section: every chunk's text changes, the word counts (so chunking) do not
    city.write_text(re.sub(r"(-->\n)(\S+)", lambda m: m[1] + m[2].upper(), city.read_text()), "utf-8")
    _, edited = load_lore(lore, lore / "plot.yaml")
    assert store.is_stale(edited)
    report = store.index(edited, progress=False)
    city_ids = chunk_ids(edited, "city.md")
    assert report == IndexReport(updated=len(city_ids), unchanged=total - len(city_ids))
    after = store.stored_hashes()
    assert {
        i for i in after if after[i] != before.get(i)
    } == city_ids  # only the edited file's chunks changed

    gone = chunk_ids(edited, "nightmares.md")
    (lore / "nightmares.md").unlink()
    _, fewer = load_lore(lore, lore / "plot.yaml")
    report = store.index(fewer, progress=False)
    assert report == IndexReport(removed=len(gone), unchanged=total - len(gone))
    assert not gone & set(store.stored_hashes())
    assert store.count() == total - len(gone)
    hits = store.search("grey fog nightmares, the Hush", "lyra", 12, 10)
    assert hits and not {h.chunk.id for h in hits} & gone
    REPORT.append(
        f"{new_store.mode} incremental: {total} chunks; edit city.md -> {len(city_ids)} updated; "
        f"delete nightmares.md -> {len(gone)} removed, the rest unchanged"
    )


def small_lore(folder: Path, long_paragraphs: int, secret_for: str) -> Path:
    write_lore(
        folder,
        "fixture",
        [
            {"heading": "Harbour", "id": "harbour", "visible_to": "everyone", "from_beat": "1",
             "text": "\n\n".join(paragraphs(long_paragraphs, 70, seed=1))},
            {"heading": "Secret", "id": "secret", "visible_to": f"[{secret_for}]", "from_beat": "2",
             "text": "The violet key opens the spire archive."},
        ],
    )  # fmt: skip
    (folder / "plot.yaml").write_text(
        (Path(__file__).resolve().parents[2] / "lore" / "plot.yaml").read_text(), "utf-8"
    )
    return folder


def test_split_sections_and_metadata_only_changes(
    new_store: StoreFactory, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "FRESHNESS_S", 0.0)
    lore = small_lore(tmp_path / "lore", long_paragraphs=6, secret_for="lyra")
    _, sections = load_lore(lore, lore / "plot.yaml")
    store = new_store()
    other = new_store.reopen(store)  # another process's handle on the same collection
    ids = sorted(c.id for c in chunk_sections(sections))
    report = store.index(sections, progress=False)
    assert report.added == len(ids) and any("#" in i for i in ids)
    assert "secret" in {h.chunk.id for h in other.search("violet key", "lyra", 5, 5)}

    lore = small_lore(tmp_path / "lore", long_paragraphs=1, secret_for="max")  # shrink + narrow visibility
    _, changed = load_lore(lore, lore / "plot.yaml")
    report = store.index(changed, progress=False)
    assert set(store.stored_hashes()) == {"harbour", "secret"}
    assert report == IndexReport(added=1, updated=1, removed=len(ids) - 1)
    # the secret moved from lyra to max: lyra must lose it (no stale visibility flag left behind)
    assert "secret" not in {h.chunk.id for h in store.search("violet key", "lyra", 5, 5)}
    assert "secret" in {h.chunk.id for h in store.search("violet key", "max", 5, 5)}

    # the other handle searched before the change; its next search sees the new scope, not its old snapshot
    assert "secret" not in {h.chunk.id for h in other.search("violet key", "lyra", 5, 5)}
    assert "secret" in {h.chunk.id for h in other.search("violet key", "max", 5, 5)}

    report = store.index(changed, rebuild=True, progress=False)
    assert report == IndexReport(added=2)
    assert {h.chunk.id for h in other.search("violet key", "max", 5, 5)} == {"harbour", "secret"}
