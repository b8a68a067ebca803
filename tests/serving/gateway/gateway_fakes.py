"""Test doubles of the gateway tests: a hashing text encoder (fake model) and tiny keyphrase sets."""

from __future__ import annotations

import hashlib
import re

import numpy as np

from components.indexing.store import KeyphraseRecord
from serving.gateway.domain import PairScores


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
    ("esci:8", "wine glass", "Home & Kitchen"),
    ("esci:9", "red wine glasses", "Home & Kitchen"),
]


def records(rows=KEYPHRASES) -> list[KeyphraseRecord]:
    return [KeyphraseRecord(kid, text, text.lower(), kid.split(":")[0], "", cat)
            for kid, text, cat in rows]


class FakeModels:
    """The Triton model client's interface over the hashing encoder (optional delay/failure).

    With ``dimensions`` its cross-encoder has dimension heads: "type" matches when the
    keyphrase's last word is in the item text, and every other dimension is not mentioned.
    """

    def __init__(self, dim: int = 32, delay_s: float = 0.0, dimensions: tuple[str, ...] = ()):
        self.encoder = HashingEncoder(dim)
        self.dimensions = tuple(dimensions)
        self.delay_s = delay_s
        self.down = False
        self.embed_calls: list[list[str]] = []
        self.score_calls: list[tuple[list[str], list[str]]] = []

    async def _maybe_fail(self, timeout_s: float):
        import asyncio

        from serving.gateway.domain import BackendUnavailable

        if self.down:
            raise BackendUnavailable("triton", "fake is down")
        if self.delay_s:
            if self.delay_s > timeout_s:
                await asyncio.sleep(timeout_s)
                raise BackendUnavailable("triton", "fake timed out")
            await asyncio.sleep(self.delay_s)

    async def embed_texts(self, texts, timeout_s):
        await self._maybe_fail(timeout_s)
        self.embed_calls.append(list(texts))
        return self.encoder.encode(texts)

    async def score_pairs(self, keyphrases, item_texts, timeout_s):
        """Share of the keyphrase's words found in the item text."""
        await self._maybe_fail(timeout_s)
        self.score_calls.append((list(keyphrases), list(item_texts)))
        out = []
        for item, kp in zip(item_texts, keyphrases, strict=True):
            words = re.findall(r"[a-z0-9]+", kp.lower())
            have = set(re.findall(r"[a-z0-9]+", item.lower()))
            out.append(sum(w in have for w in words) / max(len(words), 1))
        if not self.dimensions:
            return PairScores(np.array(out, dtype=np.float32))
        estimates = np.zeros((len(out), len(self.dimensions), 3), dtype=np.float32)
        estimates[:, :, 2] = 1.0
        for row, (item, kp) in enumerate(zip(item_texts, keyphrases, strict=True)):
            if "type" in self.dimensions:
                last = (re.findall(r"[a-z0-9]+", kp.lower()) or [""])[-1]
                match = last in set(re.findall(r"[a-z0-9]+", item.lower()))
                estimates[row, self.dimensions.index("type")] = \
                    [0.9, 0.1, 0.0] if match else [0.1, 0.9, 0.0]
        return PairScores(np.array(out, dtype=np.float32), self.dimensions, estimates)

    async def is_ready(self, timeout_s=1.0):
        return not self.down

    async def close(self):
        pass


class RowTimedModels(FakeModels):
    """Takes ``row_s`` seconds per text or pair, like a CPU-bound model (times out like Triton)."""

    def __init__(self, row_s: float, dim: int = 32):
        super().__init__(dim)
        self.row_s = row_s

    async def _take(self, rows: int, timeout_s: float):
        import asyncio

        from serving.gateway.domain import BackendUnavailable

        if rows * self.row_s > timeout_s:
            await asyncio.sleep(timeout_s)
            raise BackendUnavailable("triton", f"fake timed out after {timeout_s:.2f} s")
        await asyncio.sleep(rows * self.row_s)

    async def embed_texts(self, texts, timeout_s):
        await self._take(len(texts), timeout_s)
        return await super().embed_texts(texts, timeout_s)

    async def score_pairs(self, keyphrases, item_texts, timeout_s):
        await self._take(len(item_texts), timeout_s)
        return await super().score_pairs(keyphrases, item_texts, timeout_s)
