"""The served tokenizer's pure logic against the Hugging Face tokenizer, on real ESCI text."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoTokenizer

from components.export.parity import parity_texts
from components.export.templates import tokenization_module
from components.models.pretrained import minilm_path

tok = tokenization_module()


@pytest.fixture(scope="module")
def texts():
    return parity_texts(48)


def test_single_texts_match_hf_tokenizer(texts):
    items, keyphrases = texts
    ours = tok.BatchTokenizer(minilm_path(), max_length=64).encode(items + keyphrases)
    ref = AutoTokenizer.from_pretrained(minilm_path())(items + keyphrases, padding=True,
                                                       truncation=True, max_length=64,
                                                       return_tensors="np")
    assert ours["input_ids"].dtype == np.int64
    np.testing.assert_array_equal(ours["input_ids"], ref["input_ids"])
    np.testing.assert_array_equal(ours["attention_mask"], ref["attention_mask"])
    assert ours["input_ids"].shape[1] == 64  # some real item texts are longer: truncated


@pytest.mark.parametrize("order", ["keyphrase_first", "item_first"])
def test_pairs_match_hf_tokenizer(texts, order):
    items, keyphrases = texts
    ours = tok.BatchTokenizer(minilm_path(), max_length=48, pair_order=order,
                              id_dtype="int32").encode_pairs(items, keyphrases)
    first, second = (keyphrases, items) if order == "keyphrase_first" else (items, keyphrases)
    ref = AutoTokenizer.from_pretrained(minilm_path())(first, second, padding=True,
                                                       truncation=True, max_length=48,
                                                       return_tensors="np")
    assert ours["input_ids"].dtype == np.int32
    for name in ("input_ids", "attention_mask", "token_type_ids"):
        np.testing.assert_array_equal(ours[name], ref[name])


def test_decode_texts_accepts_batch_column_and_rejects_bad_input():
    assert tok.decode_texts(np.array([[b"red shoes"], ["caf\u00e9".encode()]], dtype=object)) == \
        ["red shoes", "caf\u00e9"]
    with pytest.raises(tok.TokenizationError, match="UTF-8"):
        tok.decode_texts(np.array([[b"\xff\xfe"]], dtype=object))
    with pytest.raises(tok.TokenizationError, match="shape"):
        tok.decode_texts(np.array([[b"a", b"b"]], dtype=object))


def test_split_rows_gives_each_request_its_rows():
    batch = {"input_ids": np.arange(12).reshape(6, 2)}
    parts = tok.split_rows(batch, [1, 3, 2])
    assert [p["input_ids"].shape[0] for p in parts] == [1, 3, 2]
    np.testing.assert_array_equal(parts[2]["input_ids"], [[8, 9], [10, 11]])
    with pytest.raises(ValueError, match="add up"):
        tok.split_rows(batch, [1, 2])


def test_bad_arguments_are_refused():
    t = tok.BatchTokenizer(minilm_path(), max_length=16)
    with pytest.raises(tok.TokenizationError):
        t.encode([])
    with pytest.raises(tok.TokenizationError, match="keyphrases"):
        t.encode_pairs(["a", "b"], ["c"])
    with pytest.raises(ValueError, match="pair_order"):
        tok.BatchTokenizer(minilm_path(), max_length=16, pair_order="sideways")
