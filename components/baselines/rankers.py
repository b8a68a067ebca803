"""Rankers that score (keyphrase, item text) pairs.

Every ranker has ``score_pairs(keyphrases, item_texts) -> np.ndarray`` (one score per pair,
higher = more relevant). Embedding rankers also have ``encode(texts)`` returning
L2-normalised vectors, which item-side retrieval uses.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Protocol

# bm25s imports jax where jax is installed, and jax takes 75% of a GPU's memory on its first
# operation: measured on an H200, a benchmark's driver process held 105 GB that way and the
# student trainings it launched ran out of memory. BM25 needs no GPU: jax stays on the CPU
# unless the caller chose otherwise.
os.environ.setdefault("JAX_PLATFORMS", "cpu")

import bm25s  # noqa: E402
import numpy as np  # noqa: E402


class PairScorer(Protocol):
    name: str

    def score_pairs(self, keyphrases: Sequence[str], item_texts: Sequence[str]) -> np.ndarray: ...


class RandomRanker:
    """Scores drawn from a hash of (seed, pair): order-free and reproducible."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.seed = seed

    def score_pairs(self, keyphrases, item_texts):
        out = np.empty(len(keyphrases))
        for i, (k, t) in enumerate(zip(keyphrases, item_texts, strict=True)):
            h = hashlib.sha256(f"{self.seed}\0{k}\0{t}".encode()).digest()
            out[i] = int.from_bytes(h[:8], "big") / 2**64
        return out


class BM25Ranker:
    """BM25 (bm25s, Lucene variant) over a fixed corpus of item texts.

    The corpus gives the document statistics (IDF, average length), as a search engine's
    index would; pairs whose item text is not in the corpus raise KeyError.
    """

    name = "bm25"

    def __init__(self, corpus: Sequence[str], k1: float = 1.2, b: float = 0.75):
        unique = list(dict.fromkeys(corpus))
        self._row = {text: i for i, text in enumerate(unique)}
        self._retriever = bm25s.BM25(k1=k1, b=b)
        tokens = bm25s.tokenize(unique, stopwords="en", show_progress=False)
        self._retriever.index(tokens, show_progress=False)
        self._cache: dict[str, np.ndarray] = {}

    def _all_scores(self, keyphrase: str) -> np.ndarray:
        if keyphrase not in self._cache:
            tokens = bm25s.tokenize([keyphrase], stopwords="en", return_ids=False,
                                    show_progress=False)[0]
            vocab = self._retriever.vocab_dict
            known = [t for t in tokens if t in vocab]
            scores = (self._retriever.get_scores(known) if known
                      else np.zeros(len(self._row)))
            if len(scores) != len(self._row):
                raise RuntimeError(f"BM25 returned {len(scores)} scores for {len(self._row)} "
                                   "documents")
            self._cache[keyphrase] = scores
        return self._cache[keyphrase]

    def score_pairs(self, keyphrases, item_texts):
        return np.array([self._all_scores(k)[self._row[t]]
                         for k, t in zip(keyphrases, item_texts, strict=True)], dtype=float)


class EncoderRanker:
    """A sentence-transformers bi-encoder: cosine of L2-normalised embeddings."""

    def __init__(self, model_path: Path | str, name: str, batch_size: int = 64,
                 device: str | None = None, truncate_dim: int | None = None):
        from sentence_transformers import SentenceTransformer

        self.name = name
        self.batch_size = batch_size
        self.truncate_dim = int(truncate_dim) if truncate_dim else None
        self.model = SentenceTransformer(str(model_path), device=device)
        self._cache: dict[str, np.ndarray] = {}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        todo = [t for t in dict.fromkeys(texts) if t not in self._cache]
        if todo:
            vecs = self.model.encode(todo, batch_size=self.batch_size, convert_to_numpy=True,
                                     normalize_embeddings=False, show_progress_bar=len(todo) > 2000)
            if self.truncate_dim:
                vecs = vecs[:, : self.truncate_dim]
            vecs = vecs / np.linalg.norm(vecs, axis=1, keepdims=True).clip(min=1e-12)
            self._cache.update(zip(todo, vecs.astype(np.float32), strict=True))
        return np.stack([self._cache[t] for t in texts]) if texts else np.zeros((0, 1))

    def score_pairs(self, keyphrases, item_texts):
        a, b = self.encode(list(keyphrases)), self.encode(list(item_texts))
        return (a * b).sum(axis=1).astype(float)


def score_matrix(ranker, keyphrases: Sequence[str], item_texts: Sequence[str]) -> np.ndarray:
    """Scores of every (item, keyphrase) pair as an ``[items, keyphrases]`` array."""
    if hasattr(ranker, "encode"):
        return ranker.encode(list(item_texts)) @ ranker.encode(list(keyphrases)).T
    out = np.empty((len(item_texts), len(keyphrases)))
    for col, k in enumerate(keyphrases):
        out[:, col] = ranker.score_pairs([k] * len(item_texts), item_texts)
    return out
