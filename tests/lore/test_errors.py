"""A store that cannot be opened, written or reached fails with one StoreError naming where it is."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stage.errors import ConfigError, StoreError
from stage.lore.store import LoreStore
from tests.lore.conftest import free_port


def test_store_path_is_a_file(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "chroma").write_text("not a folder")
    with pytest.raises(StoreError, match=re.escape(str(home / "chroma"))):
        LoreStore(home=home)


def test_store_path_under_a_file_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "blocker"
    blocker.write_text("a file where a folder should be")  # root ignores chmod, not this
    with pytest.raises(StoreError, match=re.escape(str(blocker / "home" / "chroma"))):
        LoreStore(home=blocker / "home")


def test_garbage_database_file(tmp_path: Path) -> None:
    store_dir = tmp_path / "chroma"
    store_dir.mkdir()
    (store_dir / "chroma.sqlite3").write_bytes(b"\x00garbage, not sqlite\xff" * 300)
    with pytest.raises(StoreError, match=re.escape(str(store_dir))) as err:
        LoreStore(home=tmp_path)
    assert "\n" not in str(err.value)


def test_unreachable_server_names_the_url(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(StoreError, match=re.escape(url)):
        LoreStore(home=tmp_path, chroma_url=url)


def test_malformed_server_url(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="chroma_url"):
        LoreStore(home=tmp_path, chroma_url="ftp://example")
