"""The cross-encoder (assistant) as a model: its pair inputs and its pair scorer.

Training (``components.training.cross_encoder``) and evaluation both load it from here;
``CrossEncoderScorer.score_pairs(keyphrases, item_texts)`` follows the ranker protocol of
``components.baselines.rankers``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from components.device import autocast, pick_device


def transformers_model(cross_encoder):
    """The Hugging Face model inside a CrossEncoder (attribute name differs across versions)."""
    model = getattr(cross_encoder, "transformers_model", None)
    return model if model is not None else cross_encoder.model


def _tokenize(tokenizer, keyphrases, item_texts, max_length, device):
    enc = tokenizer(list(keyphrases), list(item_texts), padding=True, truncation=True,
                    max_length=max_length, return_tensors="pt")
    return {k: v.to(device) for k, v in enc.items()}


class PairTokens:
    """Pair inputs ``[CLS] keyphrase [SEP] item [SEP]``, each distinct text tokenized once.

    A pool repeats a few thousand keyphrases and items over millions of pairs; tokenizing
    every pair on the CPU was what bounded scoring and training. The ids equal the fast
    tokenizer's pair encoding, truncation included (its ``longest_first`` rule); a tokenizer
    whose pair template differs is used as is (``features`` falls back to it).
    """

    def __init__(self, tokenizer, max_length: int):
        self.tokenizer, self.max_length = tokenizer, max_length
        self.ids: dict[str, list[int]] = {}
        self.with_types = "token_type_ids" in tokenizer.model_input_names
        self.pad = tokenizer.pad_token_id or 0
        self.exact = self._template_matches()

    def _template_matches(self) -> bool:
        t = self.tokenizer
        if t.cls_token_id is None or t.sep_token_id is None or not t.is_fast:
            return False
        probe = t("red shoe", "blue running shoes for men")
        a, b = self._lookup(["red shoe", "blue running shoes for men"])
        want = [t.cls_token_id, *a, t.sep_token_id, *b, t.sep_token_id]
        return probe["input_ids"] == want and (
            not self.with_types or probe["token_type_ids"] == [0] * (len(a) + 2) + [1] * (len(b) + 1))

    def _lookup(self, texts: Sequence[str]) -> list[list[int]]:
        new = [t for t in dict.fromkeys(texts) if t not in self.ids]
        if new:
            enc = self.tokenizer(new, add_special_tokens=False, verbose=False)["input_ids"]
            self.ids.update(zip(new, enc, strict=True))
        return [self.ids[t] for t in texts]

    def _kept(self, a: int, b: int) -> tuple[int, int]:
        """Tokens kept of each side under ``max_length`` (the tokenizers library's rule)."""
        room = self.max_length - 3
        if a + b <= room:
            return a, b
        n1, n2, swap = (b, a, True) if a > b else (a, b, False)
        n2 = n1 if n1 > room else max(n1, room - n1)
        if n1 + n2 > room:
            n1 = room // 2
            n2 = n1 + room % 2
        if swap:
            n1, n2 = n2, n1
        return min(a, n1), min(b, n2)

    def lengths(self, keyphrases: Sequence[str], item_texts: Sequence[str]) -> list[int]:
        """Each pair's encoded length (specials included): for length-sorted batches."""
        if not self.exact:
            return [len(k) + len(t) for k, t in zip(keyphrases, item_texts, strict=True)]
        return [sum(self._kept(len(a), len(b))) + 3 for a, b in
                zip(self._lookup(keyphrases), self._lookup(item_texts), strict=True)]

    def features(self, keyphrases: Sequence[str], item_texts: Sequence[str],
                 device: torch.device) -> dict[str, torch.Tensor]:
        if not self.exact:
            return _tokenize(self.tokenizer, keyphrases, item_texts, self.max_length, device)
        firsts, seconds = self._lookup(keyphrases), self._lookup(item_texts)
        kept = [self._kept(len(a), len(b)) for a, b in zip(firsts, seconds, strict=True)]
        width = max(n1 + n2 for n1, n2 in kept) + 3
        ids = np.full((len(kept), width), self.pad, dtype=np.int64)
        mask = np.zeros((len(kept), width), dtype=np.int64)
        types = np.zeros((len(kept), width), dtype=np.int64)
        cls, sep = self.tokenizer.cls_token_id, self.tokenizer.sep_token_id
        for row, (a, b, (n1, n2)) in enumerate(zip(firsts, seconds, kept, strict=True)):
            n = n1 + n2 + 3
            ids[row, :n] = [cls, *a[:n1], sep, *b[:n2], sep]
            mask[row, :n] = 1
            types[row, n1 + 2:n] = 1
        out = {"input_ids": ids, "attention_mask": mask}
        if self.with_types:
            out["token_type_ids"] = types
        return {k: torch.from_numpy(v).to(device, non_blocking=True) for k, v in out.items()}


class CrossEncoderScorer:
    """Scores (keyphrase, item text) pairs with P(relevant); the ``PairScorer`` protocol."""

    name = "cross_encoder"

    def __init__(self, cross_encoder, max_length: int | None = None, batch_size: int = 256):
        self.ce = cross_encoder
        self.model = transformers_model(cross_encoder)
        self.tokenizer = cross_encoder.tokenizer
        self.max_length = max_length or getattr(cross_encoder, "max_seq_length", None) or 128
        self.batch_size = batch_size
        self.device = next(self.model.parameters()).device
        self.tokens: PairTokens | None = None  # built on first use (the tokenizer may change)

    @property
    def dimensions(self) -> tuple[str, ...]:
        """The judge dimensions this model has heads for (empty: relevance only)."""
        return tuple(getattr(self.model.config, "kpdistill_dimensions", None) or ())

    @torch.inference_mode()
    def dimension_estimates(self, keyphrases: Sequence[str],
                            item_texts: Sequence[str]) -> np.ndarray:
        """``[pairs, dims, 3]``: the heads' P(yes), P(no), P(not mentioned) per dimension."""
        if not self.dimensions:
            raise ValueError("this cross-encoder has no dimension heads: train it with "
                             "cross_encoder.dimension_weight > 0")
        keyphrases, item_texts = list(keyphrases), list(item_texts)
        if len(keyphrases) != len(item_texts):
            raise ValueError(f"{len(keyphrases)} keyphrases for {len(item_texts)} items")
        if self.tokens is None or self.tokens.tokenizer is not self.tokenizer:
            self.tokens = PairTokens(self.tokenizer, self.max_length)
        self.model.eval()
        out = []
        for start in range(0, len(keyphrases), self.batch_size):
            features = self.tokens.features(keyphrases[start:start + self.batch_size],
                                            item_texts[start:start + self.batch_size],
                                            self.device)
            with autocast(self.device):
                logits = self.model(**features).logits.float()
            heads = logits[:, 1:].reshape(len(logits), len(self.dimensions), -1)
            out.append(torch.softmax(heads, dim=-1).cpu().numpy())
        return (np.concatenate(out) if out
                else np.zeros((0, len(self.dimensions), 3), dtype=np.float32))

    @classmethod
    def load(cls, path: Path | str, device: str | None = None, batch_size: int = 256):
        from sentence_transformers import CrossEncoder

        return cls(CrossEncoder(str(path), device=str(device or pick_device())),
                   batch_size=batch_size)

    @torch.inference_mode()
    def score_pairs(self, keyphrases: Sequence[str], item_texts: Sequence[str]) -> np.ndarray:
        keyphrases, item_texts = list(keyphrases), list(item_texts)
        if len(keyphrases) != len(item_texts):
            raise ValueError(f"{len(keyphrases)} keyphrases for {len(item_texts)} items")
        if self.tokens is None or self.tokens.tokenizer is not self.tokenizer:
            self.tokens = PairTokens(self.tokenizer, self.max_length)
        # Length-sorted batches waste less padding; results go back to input order. Scores
        # stay on the device until the end (no host sync between batches).
        lengths = self.tokens.lengths(keyphrases, item_texts)
        order = np.argsort(np.asarray(lengths, dtype=np.int64), kind="stable")
        self.model.eval()
        parts = []
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            features = self.tokens.features([keyphrases[i] for i in idx],
                                            [item_texts[i] for i in idx], self.device)
            with autocast(self.device):
                logits = self.model(**features).logits.float()
            if logits.shape[-1] == 1 or self.dimensions:
                parts.append(torch.sigmoid(logits[:, 0]))  # relevance (dimension heads after)
            else:
                parts.append(torch.softmax(logits, dim=-1)[:, :2].sum(dim=-1))  # E + S
        out = np.empty(len(order), dtype=np.float32)
        if parts:
            out[order] = torch.cat(parts).cpu().numpy()
        return out
