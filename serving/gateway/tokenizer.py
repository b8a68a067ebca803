"""The served tokenizers in the gateway: item texts -> the ``encoder`` model's token ids, and
(keyphrase, item text) pairs -> the ``cross_encoder`` model's.

With ``KPDISTILL_GATEWAY_TOKENIZE=gateway`` the gateway tokenizes (the Rust ``tokenizers``
library, the same ``tokenizer.json`` the served ``tokenizer`` and ``pair_tokenizer`` models
read) and calls Triton's ``encoder`` on ``input_ids`` / ``attention_mask`` and its
``cross_encoder`` on ``input_ids`` / ``attention_mask`` / ``token_type_ids``, skipping the
``embed_text`` and ``score_pairs`` ensembles and their Python-backend tokenizer hop. The
settings match the served tokenizers (``tokenizer/1/tokenization.py`` in the model repository):
truncation to the served ``max_length`` (read from Triton, so both paths cut at the same token)
with the ``longest_first`` strategy (a pair loses tokens from its longer side first), pairs in
the served ``pair_order`` (``keyphrase_first``: ``[CLS] keyphrase [SEP] item [SEP]``), padding
with the tokenizer's pad token to the longest text or pair of the request (or on up to a
multiple of ``PAD_TO_MULTIPLE_OF`` when set). Tests check both paths give the same ids,
embeddings, scores and dimension estimates.
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


def resolve_tokenizer_dir(path: Path | str, setting: str = "TOKENIZER_DIR",
                          model: str = "tokenizer") -> Path:
    """The folder holding ``tokenizer.json``: ``path`` itself, or, for a Triton model folder
    (``<repository>/tokenizer`` or ``<repository>/pair_tokenizer``), its newest numeric
    version's ``tokenizer/``. ``setting`` and ``model`` name what to fix in the error."""
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
        f"KPDISTILL_GATEWAY_{setting} at the served {model} model (<repository>/{model})"
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


def _served_tokenizer(folder: Path, max_length: int, pad_to_multiple_of: int = 0) -> Tokenizer:
    """``folder``'s tokenizer set up as the served one: cut at ``max_length`` (longest side of
    a pair first), padded with its pad token to the longest row of a call, or on up to the next
    multiple of ``pad_to_multiple_of`` (0: not)."""
    if pad_to_multiple_of < 0:
        raise ValueError(f"pad_to_multiple_of must be >= 0, got {pad_to_multiple_of}")
    tokenizer = Tokenizer.from_file(str(folder / TOKENIZER_FILE))
    tokenizer.enable_truncation(max_length=max_length, strategy="longest_first")
    pad, pad_id = _pad_token(folder, tokenizer)
    tokenizer.enable_padding(pad_id=pad_id, pad_token=pad,
                             pad_to_multiple_of=pad_to_multiple_of or None)
    return tokenizer


ENCODING_FIELDS = {"input_ids": "ids", "attention_mask": "attention_mask",
                   "token_type_ids": "type_ids"}
"""Model input name -> the ``tokenizers.Encoding`` attribute it is made of."""


def _encode(tokenizer: Tokenizer, inputs: list, names: Sequence[str],
            dtype: np.dtype) -> dict[str, np.ndarray]:
    """``inputs`` (texts, or pairs as tuples) encoded together (a single row by ``encode``),
    as ``[rows, width]`` arrays of ``names``."""
    encodings = (tokenizer.encode_batch(inputs) if len(inputs) > 1
                 else [tokenizer.encode(*inputs[0]) if isinstance(inputs[0], tuple)
                       else tokenizer.encode(inputs[0])])
    return {name: np.array([getattr(e, ENCODING_FIELDS[name]) for e in encodings], dtype=dtype)
            for name in names}


class ItemTokenizer:
    """Texts -> ``input_ids`` and ``attention_mask`` of shape ``[texts, longest]`` (``longest``
    rounded up to a multiple of ``pad_to_multiple_of`` when set: requests of equal shape are
    what Triton's dynamic batcher merges)."""

    def __init__(self, folder: Path | str, max_length: int, id_dtype: str = "int64",
                 pad_to_multiple_of: int = 0):
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        self.folder = resolve_tokenizer_dir(folder)
        self.max_length = max_length
        self.tokenizer = _served_tokenizer(self.folder, max_length, pad_to_multiple_of)
        self.dtype = np.dtype(id_dtype)

    def encode(self, texts: Sequence[str]) -> dict[str, np.ndarray]:
        if not texts:
            raise ValueError("no texts to tokenize")
        return _encode(self.tokenizer, list(texts), ("input_ids", "attention_mask"), self.dtype)


PAIR_ORDERS = ("keyphrase_first", "item_first")
PAIR_TENSORS = tuple(ENCODING_FIELDS)


class PairTokenizer:
    """(keyphrase, item text) pairs -> the cross-encoder's ``inputs`` (of ``input_ids``,
    ``attention_mask``, ``token_type_ids``), each of shape ``[pairs, longest]``: what the served
    ``pair_tokenizer`` gives for the same pairs, ``max_length`` and ``pair_order``."""

    def __init__(self, folder: Path | str, max_length: int, id_dtype: str = "int64",
                 pair_order: str = "keyphrase_first", inputs: Sequence[str] = PAIR_TENSORS,
                 pad_to_multiple_of: int = 0):
        if max_length < 1:
            raise ValueError(f"max_length must be >= 1, got {max_length}")
        if pair_order not in PAIR_ORDERS:
            raise ValueError(f"pair_order must be one of {PAIR_ORDERS}, got {pair_order!r}")
        unknown = [name for name in inputs if name not in PAIR_TENSORS]
        if unknown or not {"input_ids", "attention_mask"} <= set(inputs):
            raise ValueError(f"the cross-encoder's inputs {list(inputs)} are not input_ids and "
                             f"attention_mask (and token_type_ids): cannot feed it token ids")
        self.folder = resolve_tokenizer_dir(folder, "PAIR_TOKENIZER_DIR", "pair_tokenizer")
        self.max_length = max_length
        self.pair_order = pair_order
        self.inputs = tuple(inputs)
        self.tokenizer = _served_tokenizer(self.folder, max_length, pad_to_multiple_of)
        self.dtype = np.dtype(id_dtype)

    def encode(self, keyphrases: Sequence[str],
               item_texts: Sequence[str]) -> dict[str, np.ndarray]:
        if len(keyphrases) != len(item_texts):
            raise ValueError(f"{len(keyphrases)} keyphrases but {len(item_texts)} item texts")
        if not keyphrases:
            raise ValueError("no pairs to tokenize")
        pairs = list(zip(keyphrases, item_texts, strict=True) if self.pair_order ==
                     "keyphrase_first" else zip(item_texts, keyphrases, strict=True))
        return _encode(self.tokenizer, pairs, self.inputs, self.dtype)
