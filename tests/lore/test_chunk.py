from __future__ import annotations

from stage.lore.chunk import (
    MAX_WORDS,
    chunk_section,
    chunk_sections,
    embedding_prefix,
    embedding_text,
    split_text,
    text_of_document,
    words,
)
from stage.types import LoreSection
from tests.lore.conftest import Shipped
from tests.lore.support import lorem


def section(text: str, sid: str = "s") -> LoreSection:
    return LoreSection(sid, "Title", ("Book", "Title"), text, "lore/x.md", 3, ("t",), ("lyra",), 2, ("kw",))


def test_short_section_is_one_chunk_with_the_section_id() -> None:
    (chunk,) = chunk_section(section("A short paragraph.\n\nAnother one."))
    assert chunk.id == "s" and chunk.section_id == "s"
    assert chunk.text == "A short paragraph.\n\nAnother one."
    assert chunk.heading == "Book > Title"
    assert (chunk.visible_to, chunk.from_beat, chunk.tags, chunk.key_terms) == (("lyra",), 2, ("t",), ("kw",))


def test_long_section_splits_at_paragraphs_into_numbered_chunks() -> None:
    paras = [lorem(70, seed=i) + "." for i in range(8)]  # 560 words -> about 4 chunks of ~140
    chunks = chunk_section(section("\n\n".join(paras)))
    assert [c.id for c in chunks] == [f"s#{n}" for n in range(1, len(chunks) + 1)]
    assert 3 <= len(chunks) <= 5
    for c in chunks:
        assert c.section_id == "s"
        assert 60 <= words(c.text) <= MAX_WORDS + 10
        assert all(p in paras for p in c.text.split("\n\n"))  # whole paragraphs only
    assert "\n\n".join(c.text for c in chunks) == "\n\n".join(paras)  # nothing lost or reordered


def test_one_huge_paragraph_splits_at_sentences() -> None:
    sentences = [lorem(15, seed=i).capitalize() + "." for i in range(30)]  # 450 words, no blank lines
    parts = split_text(" ".join(sentences))
    assert len(parts) >= 3
    assert all(p.endswith(".") for p in parts)
    assert " ".join(parts) == " ".join(sentences)


def test_sub_headings_stay_with_their_text() -> None:
    body = "\n\n".join(f"### Part {i}\n\n{lorem(60, seed=i)}." for i in range(6))
    for part in split_text(body):
        assert part.startswith("### Part")
        assert not part.rstrip().endswith(tuple(f"Part {i}" for i in range(6)))


def test_embedding_text_round_trips() -> None:
    (chunk,) = chunk_section(section("Body text."))
    doc = embedding_text(chunk)
    assert doc == "Book > Title\nt; kw\n\nBody text."
    assert text_of_document(doc, embedding_prefix(chunk.heading, chunk.tags, chunk.key_terms)) == "Body text."


def test_shipped_lore_chunks_are_unique_and_sized(shipped: Shipped) -> None:
    chunks = chunk_sections(shipped.sections)
    assert len({c.id for c in chunks}) == len(chunks)
    assert {c.section_id for c in chunks} == {s.id for s in shipped.sections}
    assert max(words(c.text) for c in chunks) <= MAX_WORDS + 30


def test_test_loader_agrees_with_load_story(shipped: Shipped) -> None:
    from stage.settings import Settings
    from stage.story import Sources, load_story

    assert load_story(Sources.from_settings(Settings())).lore == shipped.sections
