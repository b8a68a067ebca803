"""embed_text and score_pairs on a real tritonserver, over gRPC and HTTP, against torch."""

from __future__ import annotations

import time

import numpy as np
import pytest
import tritonclient.grpc as grpcclient
import tritonclient.http as httpclient
from sentence_transformers import CrossEncoder, SentenceTransformer
from tritonclient.utils import InferenceServerException

from components.export.parity import parity_texts
from components.export.standin import standin_cross_encoder, standin_student
from tests.pair_parity import real_pairs, score_both_ways

pytestmark = pytest.mark.slow
CLIENTS = {"grpc": (grpcclient, "grpc_url"), "http": (httpclient, "http_url")}


@pytest.fixture(scope="module")
def texts():
    return parity_texts(24)


@pytest.fixture(scope="module")
def student():
    model = SentenceTransformer(str(standin_student()), device="cpu")
    model.max_seq_length = 64
    return model


def client_for(triton, protocol):
    module, attr = CLIENTS[protocol]
    return module, module.InferenceServerClient(getattr(triton, attr))


def text_input(module, name, texts):
    tensor = module.InferInput(name, [len(texts), 1], "BYTES")
    tensor.set_data_from_numpy(np.array([[t.encode()] for t in texts], dtype=object))
    return tensor


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_embed_text_matches_torch(triton, protocol, texts, student):
    module, client = client_for(triton, protocol)
    items, keyphrases = texts
    batch = items[:12] + keyphrases[:12]
    served = client.infer("embed_text", [text_input(module, "TEXT", batch)]).as_numpy("embedding")
    ref = student.encode(batch, normalize_embeddings=True)
    assert served.shape == (24, 384) and served.dtype == np.float32
    assert np.min(np.sum(served * ref, axis=1)) >= 0.9999


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_score_pairs_matches_torch(triton, protocol, texts):
    module, client = client_for(triton, protocol)
    items, keyphrases = texts
    result = client.infer("score_pairs", [text_input(module, "ITEM_TEXT", items),
                                          text_input(module, "KEYPHRASE", keyphrases)])
    served = result.as_numpy("score")[:, 0]
    model = CrossEncoder(str(standin_cross_encoder()), device="cpu", max_length=64)
    ref = model.predict(list(zip(keyphrases, items, strict=True)))
    assert served.shape == (len(items),)
    np.testing.assert_allclose(served, ref, atol=1e-4)


def test_a_cross_encoder_without_heads_serves_no_dimension_estimates(triton, texts):
    """The gateway's Triton client on the real server: score alone, no dimensions (the heads'
    output is served in tests/serving/gateway/test_gateway_e2e.py)."""
    import asyncio

    from serving.gateway.triton_client import TritonModelClient

    async def score():
        client = TritonModelClient(triton.grpc_url)
        try:
            config = await client.model_config("score_pairs")
            return config, await client.score_pairs(texts[1][:4], texts[0][:4], timeout_s=30)
        finally:
            await client.close()
    config, scored = asyncio.run(score())
    assert [o["name"] for o in config["output"]] == ["score"]
    assert "dimensions" not in config.get("parameters", {})
    assert scored.scores.shape == (4,) and scored.dimensions == () and scored.estimates is None


def test_concurrent_requests_are_batched_and_answered_row_for_row(triton, texts, student):
    """Many small requests in flight at once: the dynamic batcher merges them, and each
    response still carries exactly its own rows."""
    _, client = client_for(triton, "grpc")
    items, _ = texts
    done: dict[int, tuple] = {}
    for i, text in enumerate(items):
        client.async_infer("embed_text", [text_input(grpcclient, "TEXT", [text])],
                           callback=lambda result, error, i=i: done.__setitem__(i, (result, error)))
    deadline = time.monotonic() + 60
    while len(done) < len(items) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(done) == len(items)
    ref = student.encode(items, normalize_embeddings=True)
    for i in range(len(items)):
        result, error = done[i]
        assert error is None, error
        assert float(result.as_numpy("embedding")[0] @ ref[i]) >= 0.9999


def _id_inputs(ids: np.ndarray) -> list:
    inputs = []
    for name, value in (("input_ids", ids), ("attention_mask", (ids > 0).astype(np.int64))):
        tensor = grpcclient.InferInput(name, list(value.shape), "INT64")
        tensor.set_data_from_numpy(value)
        inputs.append(tensor)
    return inputs


def test_requests_of_different_lengths_are_batched_together(triton):
    """The encoder's inputs are ragged: Triton's dynamic batcher merges requests whatever their
    token length (it merges only equal shapes otherwise), model.py pads them to the longest,
    and every answer equals that request's embedding computed alone."""
    _, client = client_for(triton, "grpc")
    rng = np.random.default_rng(0)
    requests = [np.concatenate([[101], rng.integers(1000, 20000, n), [102]])[None, :]
                for n in range(1, 41)]  # 40 requests, 40 different lengths
    alone = [client.infer("encoder", _id_inputs(ids)).as_numpy("embedding")[0] for ids in requests]
    before = client.get_inference_statistics("encoder", as_json=True)["model_stats"][0]
    done: dict[int, tuple] = {}
    for i, ids in enumerate(requests):
        client.async_infer("encoder", _id_inputs(ids),
                           callback=lambda result, error, i=i: done.__setitem__(i, (result, error)))
    deadline = time.monotonic() + 60
    while len(done) < len(requests) and time.monotonic() < deadline:
        time.sleep(0.02)
    after = client.get_inference_statistics("encoder", as_json=True)["model_stats"][0]
    assert len(done) == len(requests)
    for i, want in enumerate(alone):
        result, error = done[i]
        assert error is None, error
        np.testing.assert_allclose(result.as_numpy("embedding")[0], want, atol=1e-5)
    executions = int(after["execution_count"]) - int(before["execution_count"])
    inferences = int(after["inference_count"]) - int(before["inference_count"])
    assert inferences == len(requests)
    assert executions < len(requests) // 2, (executions, inferences)


def test_encoder_alone_takes_token_ids(triton):
    _, client = client_for(triton, "grpc")
    ids = np.array([[101, 2417, 6007, 102, 0], [101, 7513, 102, 0, 0]], dtype=np.int64)
    out = client.infer("encoder", _id_inputs(ids)).as_numpy("embedding")
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, atol=1e-5)


def test_gateway_tokenized_ids_give_embed_texts_embeddings_on_real_items(triton,
                                                                         model_repository):
    """TOKENIZE=gateway (the gateway tokenizes, ``encoder`` on ids) against TOKENIZE=triton
    (``embed_text``): the same embeddings from the real exported student, on real ESCI item
    texts, some cut at the served cap (64 tokens here), one at a time and in batches."""
    import asyncio

    from components.contracts import ITEM_FIELDS, item_text
    from components.data import load_items
    from serving.gateway.triton_client import TritonModelClient

    items = load_items()
    chosen = [items[i] for i in sorted(items)[:40]]
    texts = [item_text(i, ITEM_FIELDS) for i in chosen] + \
        [item_text(i, (*ITEM_FIELDS, "description")) for i in chosen[:8]]  # past the cap

    async def both():
        by_ids = TritonModelClient(triton.grpc_url,
                                   tokenizer_dir=str(model_repository / "tokenizer"))
        by_text = TritonModelClient(triton.grpc_url)
        try:
            cap = (await by_ids.item_tokenizer()).max_length
            out = []
            for client in (by_ids, by_text):
                singles = [await client.embed_texts([t], 10) for t in texts[:6]]
                batches = [await client.embed_texts(texts[a:a + 16], 10)
                           for a in range(0, len(texts), 16)]
                out.append((np.concatenate(singles), np.concatenate(batches)))
            return cap, out
        finally:
            await by_ids.close()
            await by_text.close()

    cap, ((ids_one, ids_batch), (text_one, text_batch)) = asyncio.run(both())
    assert cap == 64 and ids_batch.shape == (48, 384)
    np.testing.assert_allclose(ids_one, text_one, atol=1e-5)
    np.testing.assert_allclose(ids_batch, text_batch, atol=1e-5)


def test_gateway_tokenized_pairs_give_score_pairs_scores_on_real_pairs(triton,
                                                                       model_repository):
    """Re-ranking with TOKENIZE=gateway against TOKENIZE=triton: the same scores from the real
    exported cross-encoder (no dimension heads here: none either way; with heads:
    tests/serving/gateway/test_gateway_e2e.py), some pairs cut at the served cap."""
    keyphrases, texts = real_pairs()
    cap, cut, ((ids_scores, ids_heads, ids_dims), (text_scores, text_heads, text_dims)) = \
        score_both_ways(triton.grpc_url, str(model_repository / "pair_tokenizer"), keyphrases,
                        texts)
    assert cap == 64 and cut > 0 and ids_scores.shape == (6 + 48,)
    np.testing.assert_allclose(ids_scores, text_scores, atol=1e-5)
    assert ids_dims == text_dims == () and ids_heads is None and text_heads is None


def test_invalid_utf8_text_is_an_error_for_that_request_only(triton):
    _, client = client_for(triton, "grpc")
    bad = grpcclient.InferInput("TEXT", [1, 1], "BYTES")
    bad.set_data_from_numpy(np.array([[b"\xff\xfe broken"]], dtype=object))
    with pytest.raises(InferenceServerException, match="UTF-8"):
        client.infer("embed_text", [bad])
    ok = client.infer("embed_text", [text_input(grpcclient, "TEXT", ["still serving"])])
    assert ok.as_numpy("embedding").shape == (1, 384)


def test_all_models_ready_and_warm(triton):
    _, client = client_for(triton, "http")
    for name in ("tokenizer", "encoder", "embed_text", "pair_tokenizer", "cross_encoder",
                 "score_pairs"):
        assert client.is_model_ready(name), name


def test_the_rerank_ab_bench_runs_both_paths_on_real_pairs(triton, model_repository):
    """bench.serving.rerank_ab's plumbing on the shared tritonserver fixture (its timings are the bench's)."""
    import asyncio

    from bench.serving.rerank_ab import measure

    out = asyncio.run(measure(triton.grpc_url, model_repository, [8], calls=3, rounds=2,
                              triton_pid=triton.process.pid))
    assert set(out["pairs"][8]) == {"load_average", "gateway", "triton"}
    for path in ("gateway", "triton"):
        row = out["pairs"][8][path]
        assert row["calls"] == 6 and 0 < row["p50_ms"] <= row["p99_ms"]
        assert row["triton_cpu_ms_per_call"] > 0 and row["client_cpu_ms_per_call"] >= 0
        models = row["triton_models_ms_per_call"]
        assert models["cross_encoder"]["requests_per_call"] > 0
        assert (models["pair_tokenizer"]["requests_per_call"] > 0) == (path == "triton")
