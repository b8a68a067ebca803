"""Pure tokenization logic of the ``tokenizer`` / ``pair_tokenizer`` Triton models.

No Triton import here: the Python-backend ``model.py`` beside this file only moves tensors in
and out, so everything below is tested without a server. All texts of all requests of a batch
are tokenized in one call (the fast Rust tokenizer, ``tokenizer.json``), padded to the longest
sequence of the batch, then split back per request.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

PAIR_ORDERS = ("keyphrase_first", "item_first")


class TokenizationError(ValueError):
    """A request's text cannot be tokenized (not UTF-8, wrong shape)."""


def decode_texts(array: np.ndarray) -> list[str]:
    """Strings of a ``TYPE_STRING`` tensor of shape ``[batch, 1]`` (or ``[batch]``)."""
    array = np.asarray(array, dtype=object)
    if array.ndim == 2 and array.shape[1] == 1:
        array = array[:, 0]
    if array.ndim != 1:
        raise TokenizationError(f"expected a text tensor of shape [batch, 1], got {array.shape}")
    texts = []
    for value in array:
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as err:
                raise TokenizationError(f"text is not valid UTF-8: {err}") from None
        texts.append(str(value))
    return texts


def _pad_token(tokenizer_dir: Path, tokenizer: Tokenizer) -> tuple[str, int]:
    pad = "[PAD]"
    config_file = tokenizer_dir / "tokenizer_config.json"
    if config_file.is_file():
        pad = json.loads(config_file.read_text()).get("pad_token", pad) or pad
        if isinstance(pad, dict):
            pad = pad.get("content", "[PAD]")
    pad_id = tokenizer.token_to_id(pad)
    if pad_id is None:
        raise TokenizationError(f"{tokenizer_dir}: pad token {pad!r} is not in the vocabulary")
    return pad, pad_id


class BatchTokenizer:
    """Tokenizes texts (or text pairs) into int tensors named as the encoders expect."""

    def __init__(self, tokenizer_dir: Path | str, max_length: int,
                 id_dtype: str = "int64", pair_order: str = "keyphrase_first"):
        tokenizer_dir = Path(tokenizer_dir)
        if pair_order not in PAIR_ORDERS:
            raise ValueError(f"pair_order must be one of {PAIR_ORDERS}, got {pair_order!r}")
        self.tokenizer = Tokenizer.from_file(str(tokenizer_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
        pad, pad_id = _pad_token(tokenizer_dir, self.tokenizer)
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=pad)
        self.dtype = np.dtype(id_dtype)
        self.pair_order = pair_order

    def _tensors(self, encodings, with_type_ids: bool) -> dict[str, np.ndarray]:
        out = {
            "input_ids": np.array([e.ids for e in encodings], dtype=self.dtype),
            "attention_mask": np.array([e.attention_mask for e in encodings], dtype=self.dtype),
        }
        if with_type_ids:
            out["token_type_ids"] = np.array([e.type_ids for e in encodings], dtype=self.dtype)
        return out

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        """``input_ids`` and ``attention_mask`` of shape ``[len(texts), longest]``."""
        if not texts:
            raise TokenizationError("no texts to tokenize")
        return self._tensors(self.tokenizer.encode_batch(list(texts)), with_type_ids=False)

    def encode_pairs(self, item_texts: Sequence[str],
                     keyphrases: Sequence[str]) -> dict[str, np.ndarray]:
        """The cross-encoder's inputs for (item, keyphrase) pairs, with ``token_type_ids``."""
        if len(item_texts) != len(keyphrases):
            raise TokenizationError(f"{len(item_texts)} item texts but {len(keyphrases)} keyphrases")
        if not item_texts:
            raise TokenizationError("no pairs to tokenize")
        if self.pair_order == "keyphrase_first":
            pairs = list(zip(keyphrases, item_texts, strict=True))
        else:
            pairs = list(zip(item_texts, keyphrases, strict=True))
        return self._tensors(self.tokenizer.encode_batch(pairs), with_type_ids=True)


def split_rows(tensors: dict[str, np.ndarray], sizes: Sequence[int]) -> list[dict[str, np.ndarray]]:
    """Cut a batch's tensors back into one dict per request (``sizes`` rows each)."""
    total = next(iter(tensors.values())).shape[0]
    if sum(sizes) != total:
        raise ValueError(f"request sizes {list(sizes)} do not add up to {total} rows")
    bounds = np.cumsum([0, *sizes])
    return [{name: t[a:b] for name, t in tensors.items()} for a, b in zip(bounds[:-1], bounds[1:],
                                                                          strict=True)]
