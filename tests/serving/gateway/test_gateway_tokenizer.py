"""The gateway's own tokenizer (TOKENIZE=gateway): the served tokenizer's ids on real ESCI item
texts, where its files are found, and the Triton client calling ``encoder`` on the ids (a fake
Triton over a real gRPC channel). Embedding parity with ``embed_text`` on the real exported
student is checked against a real tritonserver in tests/serving/triton/test_triton_serving.py."""

import asyncio
import shutil

import numpy as np
import pytest
from fake_triton import FakeTriton, start_fake_triton

from components.contracts import ITEM_FIELDS, item_text
from components.data import load_items
from components.export.graphs import backbone_dir
from components.export.templates import tokenization_module
from components.models.pretrained import minilm_path
from serving.gateway.domain import BackendUnavailable
from serving.gateway.tokenizer import ItemTokenizer, TokenizerNotFound, resolve_tokenizer_dir
from serving.gateway.triton_client import TritonModelClient


@pytest.fixture(scope="module")
def tokenizer_dir():
    return backbone_dir(minilm_path())


@pytest.fixture(scope="module")
def esci_texts():
    """The texts the gateway embeds for 300 real ESCI items (title | brand | category)."""
    items = load_items()
    return [item_text(items[i], ITEM_FIELDS) for i in sorted(items)[:300]]


@pytest.mark.parametrize("cap", [128, 16])
def test_ids_equal_the_served_tokenizers_on_real_item_texts(tokenizer_dir, esci_texts, cap):
    served = tokenization_module().BatchTokenizer(tokenizer_dir, cap)
    ours = ItemTokenizer(tokenizer_dir, cap)
    for batch in (esci_texts[:1], esci_texts[1:2], esci_texts[:64], esci_texts):
        want, got = served.encode(batch), ours.encode(batch)
        for name in ("input_ids", "attention_mask"):
            assert got[name].dtype == np.int64
            np.testing.assert_array_equal(got[name], want[name])
    if cap == 16:  # the cap cut some of them
        assert (ours.encode(esci_texts)["attention_mask"].sum(axis=1) == 16).any()


def test_int32_ids_for_an_encoder_that_takes_them(tokenizer_dir):
    ids = ItemTokenizer(tokenizer_dir, 32, id_dtype="int32").encode(["red wine glasses"])
    assert ids["input_ids"].dtype == np.int32 and ids["input_ids"].shape[0] == 1


def test_a_model_folder_resolves_to_its_newest_versions_files(tokenizer_dir, tmp_path):
    model = tmp_path / "tokenizer"
    for version in ("1", "3", "10"):
        (model / version).mkdir(parents=True)
    shutil.copytree(tokenizer_dir, model / "3" / "tokenizer")  # 10 has no files yet
    assert resolve_tokenizer_dir(model) == model / "3" / "tokenizer"
    assert resolve_tokenizer_dir(model / "3" / "tokenizer") == model / "3" / "tokenizer"
    with pytest.raises(TokenizerNotFound, match="KPDISTILL_GATEWAY_TOKENIZER_DIR"):
        resolve_tokenizer_dir(tmp_path / "missing")


def test_the_client_tokenizes_and_calls_the_encoder_on_ids(tokenizer_dir, esci_texts):
    fake = FakeTriton(max_batch_size=8, dim=4, max_length=12)

    async def body():
        server, url = await start_fake_triton(fake)
        client = TritonModelClient(url, tokenizer_dir=str(tokenizer_dir))
        try:
            assert await client.is_ready()
            vectors = await client.embed_texts(esci_texts[:20], timeout_s=5)
        finally:
            await client.close()
            await server.stop(0)
        return vectors

    vectors = asyncio.run(body())
    assert [model for model, _ in fake.batches] == ["encoder"] * 3  # 20 rows, 8 at most a call
    assert [n for _, n in fake.batches] == [8, 8, 4]
    # cut at the served tokenizer's max_length, read from Triton's config
    served = tokenization_module().BatchTokenizer(tokenizer_dir, 12).encode(esci_texts[:8])
    np.testing.assert_array_equal(fake.token_ids[0], served["input_ids"])
    tokens = np.concatenate([(ids != 0).sum(axis=1) for ids in fake.token_ids])
    raw_first = (tokens + 1.0) / np.sqrt((tokens + 1.0) ** 2 + 3)  # the fake's row, normalised
    np.testing.assert_allclose(vectors[:, 0], raw_first, rtol=1e-6)


def test_missing_tokenizer_files_make_the_gateway_not_ready_with_a_reason(tmp_path):
    fake = FakeTriton()

    async def body():
        server, url = await start_fake_triton(fake)
        client = TritonModelClient(url, tokenizer_dir=str(tmp_path / "nowhere"))
        try:
            assert not await client.is_ready()
            assert "KPDISTILL_GATEWAY_TOKENIZER_DIR" in client.not_ready_reason
            with pytest.raises(BackendUnavailable, match="tokenizer unavailable"):
                await client.embed_texts(["red wine glasses"], timeout_s=5)
        finally:
            await client.close()
            await server.stop(0)

    asyncio.run(body())
    assert fake.batches == []
