"""The student's tokenizer in the gateway: item texts -> the ``encoder`` model's token ids.

With ``KPDISTILL_GATEWAY_TOKENIZE=gateway`` the gateway tokenizes (the Rust ``tokenizers``
library, the same ``tokenizer.json`` the served ``tokenizer`` model reads) and calls Triton's
``encoder`` on ``input_ids`` / ``attention_mask``, skipping the ``embed_text`` ensemble and its
Python-backend tokenizer hop. The settings match the served tokenizer (``tokenizer/1/
tokenization.py`` in the model repository): truncation to the served ``max_length`` (read from
Triton, so both paths cut at the same token), padding with the tokenizer's pad token to the
longest text of the call. A test checks both give the same ids and the same embeddings.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

TOKENIZER_FILE = "tokenizer.json"


class TokenizerNotFound(FileNotFoundError):
    """No tokenizer files where the setting points."""


def resolve_tokenizer_dir(path: Path | str) -> Path:
    """The folder holding ``tokenizer.json``: ``path`` itself, or, for a Triton model folder
    (``<repository>/tokenizer``), its newest numeric version's ``tokenizer/``."""
    path = Path(path)
    if (path / TOKENIZER_FILE).is_file():
        return path
    versions = sorted((p for p in path.iterdir() if p.name.isdigit()), key=lambda p: int(p.name)) \
        if path.is_dir() else []
    for version in reversed(versions):
        if (version / "tokenizer" / TOKENIZER_FILE).is_file():
            return version / "tokenizer"
    raise TokenizerNotFound(
        f"no {TOKENIZER_FILE} in {path} nor in a numeric version's tokenizer/ below it: point "
        "KPDISTILL_GATEWAY_TOKENIZER_DIR at the served tokenizer model (<repository>/tokenizer)"
        " or set KPDISTILL_GATEWAY_TOKENIZE=triton")


def _pad_token(folder: Path, tokenizer: Tokenizer) -> tuple[str, int]:
    pad = "[PAD]"
    config = folder / "tokenizer_config.json"
    if config.is_file():
        pad = json.loads(config.read_text()).get("pad_token", pad) or pad
        if isinstance(pad, dict):
            pad = pad.get("content", "[PAD]")
    pad_id = tokenizer.token_to_id(pad)
    if pad_id is None:
        raise ValueError(f"{folder}: pad token {pad!r} is not in the vocabulary")
    return pad, pad_id


class ItemTokenizer:
    """Texts -> ``input_ids`` and ``attention_mask`` of shape ``[texts, longest]``."""

    def __init__(self, folder: Path | str, max_length: int, id_dtype: str = "int64"):
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.folder = resolve_tokenizer_dir(folder)
        self.max_length = max_length
        self.tokenizer = Tokenizer.from_file(str(self.folder / TOKENIZER_FILE))
        self.tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
        pad, pad_id = _pad_token(self.folder, self.tokenizer)
        self.tokenizer.enable_padding(pad_id=pad_id, pad_token=pad)
        self.dtype = np.dtype(id_dtype)

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if not texts:
            raise ValueError("no texts to tokenize")
        encodings = (self.tokenizer.encode_batch(list(texts)) if len(texts) > 1
                     else [self.tokenizer.encode(texts[0])])
        return {"input_ids": np.array([e.ids for e in encodings], dtype=self.dtype),
                "attention_mask": np.array([e.attention_mask for e in encodings],
                                           dtype=self.dtype)}
