"""Test doubles of the index tests: a hashing text encoder (fake model) and tiny keyphrase sets."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from components.indexing.store import KeyphraseRecord


class HashingEncoder:
    """Bag of hashed words, L2-normalised: texts sharing words are near. A stand-in model."""

    model_version = "hashing-test"

    def __init__(self, dim: int = 32):
        self.dim = dim
        self.calls = 0

    def encode(self, texts: list[str]) -> np.ndarray:
        self.calls += 1
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in re.findall(r"[a-z0-9]+", text.lower()):
                out[row, int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dim] += 1.0
        out[:, 0] += 1e-3
        return out / np.linalg.norm(out, axis=1, keepdims=True)


KEYPHRASES = [
    ("esci:1", "running shoes", "Clothing, Shoes & Jewelry"),
    ("esci:2", "trail running shoes", "Clothing, Shoes & Jewelry"),
    ("esci:3", "wine glasses", "Home & Kitchen"),
    ("esci:4", "stemless wine glasses set", "Home & Kitchen"),
    ("esci:5", "queen mattress", "Home & Kitchen"),
    ("wands:1", "memory foam mattress", "Home & Kitchen"),
    ("esci:6", "bluetooth earbuds", "Electronics"),
    ("esci:7", "wireless headphones", "Electronics"),
]


def records(rows=KEYPHRASES) -> list[KeyphraseRecord]:
    return [KeyphraseRecord(kid, text, text.lower(), kid.split(":")[0], "", cat)
            for kid, text, cat in rows]

