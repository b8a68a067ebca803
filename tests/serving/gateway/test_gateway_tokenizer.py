"""The gateway's own tokenizers (TOKENIZE=gateway): the served tokenizer's ids on real ESCI item
texts and the served pair tokenizer's on real (keyphrase, item) pairs, where their files are
found, and the Triton client calling ``encoder`` and ``cross_encoder`` on the ids (a fake Triton
over a real gRPC channel). Embedding parity with ``embed_text`` and score parity with
``score_pairs`` on the real exported models are checked against a real tritonserver in
tests/serving/triton/test_triton_serving.py and (dimension heads) test_gateway_e2e.py.

The stand-in cross-encoder is MiniLM with a head: its tokenizer files are MiniLM's, read here."""

import asyncio
import shutil
import threading

import grpc
import numpy as np
import pytest
from fake_triton import FakeTriton, start_fake_triton
from gateway_harness import settings_for
from grpc_health.v1 import health_pb2, health_pb2_grpc

from components.contracts import ITEM_FIELDS, item_text
from components.data import load_items, load_judgments
from components.export.graphs import backbone_dir
from components.export.templates import tokenization_module
from components.models.pretrained import minilm_path
from serving.gateway.domain import BackendUnavailable
from serving.gateway.server import GatewayServer
from serving.gateway.tokenizer import (
    ItemTokenizer,
    PairTokenizer,
    TokenizerNotFound,
    resolve_tokenizer_dir,
)
from serving.gateway.triton_client import TritonModelClient


@pytest.fixture(scope="module")
def tokenizer_dir():
    return backbone_dir(minilm_path())


@pytest.fixture(scope="module")
def esci_texts():
    """The texts the gateway embeds for 300 real ESCI items (title | brand | category)."""
    items = load_items()
    return [item_text(items[i], ITEM_FIELDS) for i in sorted(items)[:300]]


@pytest.fixture(scope="module")
def esci_pairs():
    """300 real (keyphrase, item text) pairs: ESCI queries with an item judged for them."""
    items = load_items()
    judged = [j for j in load_judgments() if j.item_id in items][:300]
    return ([j.query for j in judged], [item_text(items[j.item_id], ITEM_FIELDS) for j in judged])


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


# --- pairs (re-ranking): the served pair tokenizer's ids, the cross-encoder on them -------------

@pytest.mark.parametrize("cap, order", [(128, "keyphrase_first"), (16, "keyphrase_first"),
                                        (16, "item_first")])
def test_pair_ids_equal_the_served_pair_tokenizers_on_real_pairs(tokenizer_dir, esci_pairs,
                                                                 cap, order):
    served = tokenization_module().BatchTokenizer(tokenizer_dir, cap, pair_order=order)
    ours = PairTokenizer(tokenizer_dir, cap, pair_order=order)
    keyphrases, texts = esci_pairs
    for a, b in ((0, 1), (1, 2), (0, 50), (0, len(texts))):
        want = served.encode_pairs(texts[a:b], keyphrases[a:b])  # the served (item, keyphrase)
        got = ours.encode(keyphrases[a:b], texts[a:b])
        assert list(got) == ["input_ids", "attention_mask", "token_type_ids"]
        for name in got:
            assert got[name].dtype == np.int64
            np.testing.assert_array_equal(got[name], want[name])
    if cap == 16:  # the cap cut some of them
        assert (ours.encode(keyphrases, texts)["attention_mask"].sum(axis=1) == 16).any()


def test_pairs_are_cut_at_max_length_from_the_longer_side_and_padded_to_the_longest(
        tokenizer_dir):
    """``[CLS] keyphrase [SEP] item [SEP]``: a long item loses its tail (longest_first), the
    keyphrase stays whole; a call is padded to its own longest pair, not to max_length; the
    item comes first with ``item_first``; int32 ids for a cross-encoder that takes them."""
    tokenizer = PairTokenizer(tokenizer_dir, 16)
    vocab = tokenizer.tokenizer
    long_item = "Libbey Vina 6-piece red wine glasses set, crystal clear, dishwasher safe " * 3
    out = tokenizer.encode(["red wine glasses", "mug", "red wine glasses"],
                           [long_item, "cup", "glass"])
    ids, mask, types = out["input_ids"], out["attention_mask"], out["token_type_ids"]
    assert ids.shape == (3, 16) and mask[0].sum() == 16  # cut at the cap
    first = vocab.decode(ids[0][types[0] == 0].tolist(), skip_special_tokens=True)
    assert first == "red wine glasses"  # the short side kept whole
    assert vocab.id_to_token(int(ids[0][-1])) == "[SEP]"
    lengths = mask.sum(axis=1)
    assert lengths.tolist() == [16, 5, 7]  # [CLS] mug [SEP] cup [SEP]; ... glass [SEP]
    assert (ids[1][5:] == vocab.token_to_id("[PAD]")).all() and (mask[1][5:] == 0).all()
    assert (types[1][:3] == 0).all() and (types[1][3:5] == 1).all()

    short = tokenizer.encode(["mug", "red wine glasses"], ["cup", "glass"])
    assert short["input_ids"].shape == (2, 7)  # its longest pair, not 16

    swapped = PairTokenizer(tokenizer_dir, 16, pair_order="item_first").encode(["mug"], ["cup"])
    assert vocab.decode(swapped["input_ids"][0][swapped["token_type_ids"][0] == 0].tolist(),
                        skip_special_tokens=True) == "cup"
    narrow = PairTokenizer(tokenizer_dir, 16, id_dtype="int32",
                           inputs=("input_ids", "attention_mask")).encode(["mug"], ["cup"])
    assert list(narrow) == ["input_ids", "attention_mask"]
    assert narrow["input_ids"].dtype == np.int32
    with pytest.raises(ValueError, match="pair_order"):
        PairTokenizer(tokenizer_dir, 16, pair_order="sideways")
    with pytest.raises(ValueError, match="cannot feed it token ids"):
        PairTokenizer(tokenizer_dir, 16, inputs=("ITEM_TEXT", "KEYPHRASE"))


def test_the_client_tokenizes_pairs_and_calls_the_cross_encoder_on_ids(tokenizer_dir,
                                                                       esci_pairs, monkeypatch):
    """Split at the model's max batch, each request its own longest pair, tokenized off the
    event loop's thread; scores and estimates back in pair order."""
    fake = FakeTriton(max_batch_size=8, pair_max_length=24, dimensions=("type", "brand"))
    keyphrases, texts = esci_pairs[0][:20], esci_pairs[1][:20]
    threads = []
    encode = PairTokenizer.encode

    def recording(self, *args):
        threads.append(threading.current_thread())
        return encode(self, *args)
    monkeypatch.setattr(PairTokenizer, "encode", recording)

    async def body():
        server, url = await start_fake_triton(fake)
        client = TritonModelClient(url, pair_tokenizer_dir=str(tokenizer_dir))
        try:
            assert await client.is_ready()
            return await client.score_pairs(keyphrases, texts, timeout_s=5)
        finally:
            await client.close()
            await server.stop(0)

    scored = asyncio.run(body())
    # the three requests are tokenized side by side, so they may reach Triton in any order
    assert sorted(fake.batches) == [("cross_encoder", 4), ("cross_encoder", 8),
                                    ("cross_encoder", 8)]
    assert len(threads) == 3 and threading.main_thread() not in threads
    served = tokenization_module().BatchTokenizer(tokenizer_dir, 24)  # the served cap, read
    tokens = []
    for a, b in ((0, 8), (8, 16), (16, 20)):
        want = served.encode_pairs(texts[a:b], keyphrases[a:b])  # each request its own longest
        assert sum(all(np.array_equal(sent[name], want[name]) for name in want)
                   for sent in fake.pair_ids) == 1
        tokens.append(want["attention_mask"].sum(axis=1))
    np.testing.assert_allclose(scored.scores, 1.0 / (1.0 + np.concatenate(tokens)), rtol=1e-6)
    assert scored.dimensions == ("type", "brand") and scored.estimates.shape == (20, 2, 3)
    np.testing.assert_allclose(scored.estimates[:, 1, 0], scored.scores, rtol=1e-6)


def test_a_missing_pair_tokenizer_keeps_the_client_not_ready_and_names_the_setting(
        tokenizer_dir, tmp_path):
    """No fallback to the string path: TOKENIZE=gateway with unreadable pair tokenizer files is
    a configuration error, reported by readiness (the gateway's health, from start-up) and by
    every re-rank; the item tokenizer alone still loads."""
    fake = FakeTriton()
    (tmp_path / "pair_tokenizer" / "1" / "tokenizer").mkdir(parents=True)  # no files in it

    async def body():
        server, url = await start_fake_triton(fake)
        client = TritonModelClient(url, tokenizer_dir=str(tokenizer_dir),
                                   pair_tokenizer_dir=str(tmp_path / "pair_tokenizer"))
        try:
            assert not await client.is_ready()
            assert client.not_ready_reason.startswith("pair tokenizer unavailable")
            assert "KPDISTILL_GATEWAY_PAIR_TOKENIZER_DIR" in client.not_ready_reason
            with pytest.raises(BackendUnavailable, match="pair tokenizer unavailable"):
                await client.score_pairs(["mug"], ["cup"], timeout_s=5)
            assert (await client.item_tokenizer()).max_length == 128
        finally:
            await client.close()
            await server.stop(0)

    asyncio.run(body())
    assert fake.batches == []


def test_the_gateway_starts_not_serving_without_its_pair_tokenizer_and_says_why(
        tokenizer_dir, hashed_index, tmp_path, caplog):
    """PAIR_TOKENIZER_DIR unset: the ``pair_tokenizer`` folder beside TOKENIZER_DIR. Missing at
    start-up: health NOT_SERVING and a warning naming the setting; once the files are there
    the next backend check turns it SERVING, no restart."""
    shutil.copytree(tokenizer_dir, tmp_path / "tokenizer")
    fake = FakeTriton()

    async def body():
        triton, url = await start_fake_triton(fake)
        server = GatewayServer(settings_for(hashed_index, triton_url=url,
                                            tokenizer_dir=str(tmp_path / "tokenizer")))
        try:
            with caplog.at_level("WARNING", logger="kpdistill.gateway"):
                port = await server.start()
            async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                health = health_pb2_grpc.HealthStub(channel)
                status = [(await health.Check(health_pb2.HealthCheckRequest(), timeout=5)).status]
                shutil.copytree(tokenizer_dir, tmp_path / "pair_tokenizer")
                await server.check_backends()
                status.append((await health.Check(health_pb2.HealthCheckRequest(),
                                                  timeout=5)).status)
            return status
        finally:
            await server.stop(grace_s=0)
            await triton.stop(0)

    status = asyncio.run(body())
    assert status == [health_pb2.HealthCheckResponse.NOT_SERVING,
                      health_pb2.HealthCheckResponse.SERVING]
    warning = " ".join(r.getMessage() for r in caplog.records)
    assert "pair tokenizer unavailable" in warning
    assert f"no tokenizer.json in {tmp_path / 'pair_tokenizer'}" in warning
    assert "KPDISTILL_GATEWAY_PAIR_TOKENIZER_DIR" in warning


def test_padding_to_a_multiple_gives_equal_shapes_and_the_same_attended_ids(tokenizer_dir,
                                                                            esci_texts,
                                                                            esci_pairs):
    """PAD_TO_MULTIPLE_OF: requests of different lengths come out in one shape (what Triton's
    dynamic batcher merges); the attended ids are those of padding to the longest row."""
    short, long = ["red mug"], esci_texts[:4]
    plain = ItemTokenizer(tokenizer_dir, 128)
    bucketed = ItemTokenizer(tokenizer_dir, 128, pad_to_multiple_of=128)
    assert plain.encode(short)["input_ids"].shape[1] < plain.encode(long)["input_ids"].shape[1]
    for texts in (short, long):
        want, got = plain.encode(texts), bucketed.encode(texts)
        assert got["input_ids"].shape == (len(texts), 128)
        width = want["input_ids"].shape[1]
        for name in want:
            np.testing.assert_array_equal(got[name][:, :width], want[name])
            assert not got[name][:, width:].any()  # pad id 0, mask 0
    pairs = PairTokenizer(tokenizer_dir, 64, pad_to_multiple_of=32)
    out = pairs.encode(esci_pairs[0][:5], esci_pairs[1][:5])
    assert all(v.shape[1] % 32 == 0 and v.shape[1] <= 64 for v in out.values())
    with pytest.raises(ValueError, match="pad_to_multiple_of"):
        ItemTokenizer(tokenizer_dir, 128, pad_to_multiple_of=-1)


def test_the_client_sends_bucketed_ids_when_asked(tokenizer_dir, esci_texts):
    fake = FakeTriton(max_batch_size=8, dim=4, max_length=12)

    async def body():
        server, url = await start_fake_triton(fake)
        client = TritonModelClient(url, tokenizer_dir=str(tokenizer_dir), pad_to_multiple_of=16)
        try:
            await client.embed_texts(["mug"], timeout_s=5)
            await client.embed_texts(esci_texts[:3], timeout_s=5)
        finally:
            await client.close()
            await server.stop(0)

    asyncio.run(body())
    assert [ids.shape for ids in fake.token_ids] == [(1, 16), (3, 16)]
