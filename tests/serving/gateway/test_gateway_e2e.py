"""End to end over real parts: gRPC channel -> gateway process -> real tritonserver (stand-in
models exported by components.export) + real Milvus Lite, and a real Milvus 2.3 server.

The served repository is the session's ``int8_repository`` (tests/conftest.py): the int8
student and a stand-in cross-encoder with (untrained) dimension heads, so re-ranking also
returns their estimates; a cross-encoder without heads is served in tests/serving/triton.
Triton, the index and the gateway are started once for the module.
"""

import asyncio
import threading
import time

import grpc
import numpy as np
import pytest

from components.contracts import JUDGE_DIMENSIONS
from components.indexing.builder import build_keyphrase_index, universe_records
from components.indexing.config import IndexConfig
from components.indexing.encoders import TritonEncoder
from serving.gateway.stack import GatewayProcess
from serving.proto.kpdistill.v1 import recommender_pb2 as pb
from serving.proto.kpdistill.v1 import recommender_pb2_grpc as pb_grpc
from tests.pair_parity import real_pairs, score_both_ways

pytestmark = pytest.mark.slow

WINE = pb.Item(item_id="wine", title="Libbey Vina 6-piece red wine glasses set",
               category="Home & Kitchen > Kitchen & Dining > Glassware", brand="Libbey")
FAST = {"index_refresh_s": 0.5, "backend_timeout_s": 5, "grace_s": 5}


@pytest.fixture(scope="module")
def triton(int8_repository, tmp_path_factory):
    from serving.triton.server import TritonServer

    server = TritonServer(int8_repository, log_file=tmp_path_factory.mktemp("logs") / "t.log")
    server.start().wait_ready(180)
    holder = {"server": server}
    yield holder
    holder["server"].stop()


@pytest.fixture(scope="module")
def records():
    return universe_records(IndexConfig())


@pytest.fixture(scope="module")
def lite_index(triton, records, tmp_path_factory):
    """The real keyphrase universe embedded through Triton's embed_text into Milvus Lite."""
    config = IndexConfig(uri=str(tmp_path_factory.mktemp("lite") / "kp.db"), alias="kp_e2e")
    build_keyphrase_index(records, TritonEncoder(triton["server"].grpc_url, "standin"), config)
    return config  # the builder's client is closed: the gateway process may open the .db


@pytest.fixture(scope="module")
def gateway(int8_repository, triton, lite_index, tmp_path_factory):
    """The default gateway: it tokenizes with the served tokenizer's files (TOKENIZE=gateway);
    the Milvus-server test below runs the other path, texts to ``embed_text``."""
    process = GatewayProcess(tmp_path_factory.mktemp("gw") / "gateway.log",
                             triton_url=triton["server"].grpc_url,
                             tokenizer_dir=str(int8_repository / "tokenizer"),
                             milvus_uri=lite_index.resolved_uri, index_alias=lite_index.alias,
                             **FAST).start(timeout_s=60)
    channel = grpc.insecure_channel(process.target)
    yield pb_grpc.KeyphraseRecommenderStub(channel)
    channel.close()
    assert process.stop() == 0  # SIGTERM drains and exits cleanly


def test_recommend_returns_the_exact_nearest_keyphrases_through_triton(gateway, triton, records):
    response = gateway.Recommend(pb.RecommendRequest(
        item=WINE, k=5, options=pb.RecommendOptions(keep_near_duplicates=True)), timeout=30)
    assert [k.rank for k in response.keyphrases] == [1, 2, 3, 4, 5]
    assert response.model_version == "standin" and response.timings.embed_ms > 0
    # exact search over the same embeddings gives the same top keyphrases
    encoder = TritonEncoder(triton["server"].grpc_url)
    item = encoder.encode(["Libbey Vina 6-piece red wine glasses set | Libbey | "
                           "Home & Kitchen > Kitchen & Dining > Glassware"])[0]
    kps = encoder.encode([r.text for r in records])
    exact = [records[i].text for i in np.argsort(-(kps @ item))[:5]]
    assert [k.text for k in response.keyphrases] == exact
    assert response.keyphrases[0].bi_encoder_score == pytest.approx(float(np.max(kps @ item)),
                                                                    abs=1e-3)


def test_rerank_filter_and_batch_through_the_real_models(gateway):
    reranked = gateway.Recommend(pb.RecommendRequest(
        item=WINE, k=5, options=pb.RecommendOptions(rerank=True, rerank_candidates=15,
                                                    filter_by_category=True)), timeout=30)
    scores = [k.cross_encoder_score for k in reranked.keyphrases]
    assert len(scores) == 5 and all(0.0 <= s <= 1.0 for s in scores)
    assert scores == sorted(scores, reverse=True) and reranked.timings.rerank_ms > 0
    assert {k.category for k in reranked.keyphrases} == {"Home & Kitchen"}
    batch = gateway.BatchRecommend(pb.BatchRecommendRequest(requests=[
        pb.RecommendRequest(item=WINE, k=3),
        pb.RecommendRequest(item=pb.Item(item_id="b", title="wireless bluetooth earbuds"), k=3),
    ]), timeout=30)
    assert [r.item_id for r in batch.responses] == ["wine", "b"]
    assert all(len(r.keyphrases) == 3 for r in batch.responses)


def _inferences(url: str) -> dict[str, int]:
    import tritonclient.grpc as grpcclient

    with grpcclient.InferenceServerClient(url) as client:
        return {m: sum(s.inference_count for s in client.get_inference_statistics(m).model_stats)
                for m in ("pair_tokenizer", "cross_encoder", "score_pairs")}


def test_rerank_returns_the_cross_encoders_dimension_estimates(gateway, triton,
                                                               heads_cross_encoder):
    """Re-ranked: every keyphrase carries the served heads' estimates, the torch model's own,
    the pairs tokenized by the gateway (``cross_encoder`` called, ``pair_tokenizer`` not);
    not re-ranked: none."""
    from components.contracts import item_text
    from components.models.cross_encoder import CrossEncoderScorer

    options = pb.RecommendOptions(rerank=True, rerank_candidates=8, keep_near_duplicates=True)
    before = _inferences(triton["server"].grpc_url)
    reranked = gateway.Recommend(pb.RecommendRequest(item=WINE, k=4, options=options),
                                 timeout=30)
    after = _inferences(triton["server"].grpc_url)
    assert after["cross_encoder"] - before["cross_encoder"] == 8
    assert after["pair_tokenizer"] == before["pair_tokenizer"]
    assert after["score_pairs"] == before["score_pairs"]
    assert len(reranked.keyphrases) == 4
    served = np.array([[[d.match, d.mismatch, d.not_mentioned] for d in kp.dimensions]
                       for kp in reranked.keyphrases])
    assert all([d.dimension for d in kp.dimensions] == list(JUDGE_DIMENSIONS)
               for kp in reranked.keyphrases)
    assert served.shape == (4, len(JUDGE_DIMENSIONS), 3)
    assert np.allclose(served.sum(axis=-1), 1.0, atol=1e-5)
    text = item_text(WINE)  # as the gateway writes it (default item fields)
    torch_heads = CrossEncoderScorer.load(heads_cross_encoder, device="cpu").dimension_estimates(
        [kp.text for kp in reranked.keyphrases], [text] * 4)
    assert np.abs(served - torch_heads).max() < 1e-4

    plain = gateway.Recommend(pb.RecommendRequest(item=WINE, k=4), timeout=30)
    assert plain.keyphrases and all(len(kp.dimensions) == 0 for kp in plain.keyphrases)


def test_gateway_tokenized_pairs_give_score_pairs_scores_and_estimates(int8_repository,
                                                                        triton):
    """Re-ranking with TOKENIZE=gateway (pairs tokenized here, ``cross_encoder`` on ids)
    against TOKENIZE=triton (strings to ``score_pairs``) on the served cross-encoder with
    dimension heads: the same scores and the same estimates on real ESCI pairs, some cut at the
    cap. (The gateway above re-ranks the first way: its pair tokenizer is the repository's,
    beside TOKENIZER_DIR.)"""
    keyphrases, texts = real_pairs()
    cap, cut, ((ids_scores, ids_heads, ids_dims), (text_scores, text_heads, text_dims)) = \
        score_both_ways(triton["server"].grpc_url, str(int8_repository / "pair_tokenizer"),
                        keyphrases, texts)
    assert cap == 64 and cut > 0 and ids_scores.shape == (6 + 48,)
    assert ids_dims == text_dims == tuple(JUDGE_DIMENSIONS)
    assert ids_heads.shape == (6 + 48, len(JUDGE_DIMENSIONS), 3)
    np.testing.assert_allclose(ids_scores, text_scores, atol=1e-5)
    np.testing.assert_allclose(ids_heads, text_heads, atol=1e-5)


@pytest.mark.parametrize("request_, code, message", [
    (pb.RecommendRequest(item=pb.Item(title="")), "INVALID_ARGUMENT", "item.title is empty"),
    (pb.RecommendRequest(item=WINE, k=101), "INVALID_ARGUMENT", "k=101 is out of range"),
    (pb.RecommendRequest(item=pb.Item(title="x", category="Starships > Warp"),
                         options=pb.RecommendOptions(filter_by_category=True)),
     "INVALID_ARGUMENT", "unknown category 'Starships'"),
])
def test_bad_inputs_over_the_real_stack(gateway, request_, code, message):
    with pytest.raises(grpc.RpcError) as err:
        gateway.Recommend(request_, timeout=30)
    assert err.value.code().name == code and message in err.value.details()


def test_triton_stopped_gives_unavailable_then_recovers_after_restart(gateway, triton):
    from serving.triton.server import TritonServer

    old = triton["server"]
    old.stop()
    with pytest.raises(grpc.RpcError) as err:
        gateway.Recommend(pb.RecommendRequest(item=WINE, k=3), timeout=30)
    assert err.value.code() == grpc.StatusCode.UNAVAILABLE
    assert "triton unavailable" in err.value.details()
    restarted = TritonServer(old.model_repository, grpc_port=old.grpc_port,
                             http_port=old.http_port, metrics_port=old.metrics_port,
                             log_file=old.log_file)
    triton["server"] = restarted.start().wait_ready(180)
    deadline = time.monotonic() + 20
    while True:  # the channel reconnects within its 1 s back-off
        try:
            response = gateway.Recommend(pb.RecommendRequest(item=WINE, k=3), timeout=10)
            break
        except grpc.RpcError as retry:
            assert retry.code() == grpc.StatusCode.UNAVAILABLE
            assert time.monotonic() < deadline, "no recovery 20 s after Triton came back"
            time.sleep(0.5)
    assert len(response.keyphrases) == 3


# --- a real Milvus server: the same code by URI, and an alias switch under load ----------------

@pytest.fixture(scope="module")
def milvus_server(tmp_path_factory):
    from components.indexing.milvus_server import MilvusStandalone

    with MilvusStandalone(tmp_path_factory.mktemp("milvus")) as server:
        yield server


def test_server_mode_and_an_alias_switch_while_requests_flow(milvus_server, triton, records,
                                                              tmp_path):
    config = IndexConfig(uri=milvus_server.uri, alias="kp_server", request_timeout_s=120)
    encoder = TritonEncoder(triton["server"].grpc_url, "v1")
    first = build_keyphrase_index(records, encoder, config, "v1")
    process = GatewayProcess(tmp_path / "gateway.log", triton_url=triton["server"].grpc_url,
                             milvus_uri=milvus_server.uri, index_alias=config.alias,
                             tokenize="triton", **FAST).start(timeout_s=60)
    seen, failures, stop = [], [], threading.Event()

    async def load():
        async with grpc.aio.insecure_channel(process.target) as channel:
            stub = pb_grpc.KeyphraseRecommenderStub(channel)

            async def worker():
                while not stop.is_set():
                    try:
                        r = await stub.Recommend(pb.RecommendRequest(item=WINE, k=5), timeout=30)
                        seen.append((r.index_collection, len(r.keyphrases)))
                    except grpc.aio.AioRpcError as err:
                        failures.append(f"{err.code().name}: {err.details()}")
            await asyncio.gather(*(worker() for _ in range(4)))

    thread = threading.Thread(target=lambda: asyncio.run(load()))
    thread.start()
    try:
        time.sleep(2)
        second = build_keyphrase_index(records[:300], encoder, config, "v2")  # alter_alias
        time.sleep(2)
    finally:
        stop.set()
        thread.join(60)
        process.stop()
    assert failures == []
    collections = [c for c, _ in seen]
    assert collections[0] == first.collection and collections[-1] == second.collection
    switch = collections.index(second.collection)
    assert set(collections[switch:]) == {second.collection}  # never back to the old one
    assert all(n == 5 for _, n in seen)


# --- the supervised stack: SIGKILL Triton, then the gateway; both come back by themselves -------

def _first_ok_after(stub, limit_s: float) -> float:
    t0 = time.monotonic()
    while True:
        try:
            stub.Recommend(pb.RecommendRequest(item=WINE, k=3), timeout=5)
            return time.monotonic() - t0
        except grpc.RpcError as err:
            assert err.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)
            assert time.monotonic() - t0 < limit_s, f"no recovery in {limit_s} s: {err.details()}"
            time.sleep(0.2)


def test_the_supervised_stack_restarts_a_killed_triton_and_gateway(int8_repository, triton,
                                                                   records, tmp_path):
    import os
    import signal
    import subprocess
    from pathlib import Path

    from serving.gateway.stack import ServingStack

    config = IndexConfig(uri=str(tmp_path / "kp.db"), alias="kp_supervised")
    build_keyphrase_index(records[:100], TritonEncoder(triton["server"].grpc_url, "standin"),
                          config)
    with ServingStack(int8_repository, config.resolved_uri, config.alias,
                      log_dir=tmp_path / "logs", supervise=True, **FAST) as stack:
        stub = pb_grpc.KeyphraseRecommenderStub(grpc.insecure_channel(stack.target))
        assert len(stub.Recommend(pb.RecommendRequest(item=WINE, k=3), timeout=30).keyphrases) == 3
        old = stack.triton.process.pid
        assert list(Path("/dev/shm").glob(f"{stack.triton.shm_prefix}*"))
        os.kill(old, signal.SIGKILL)
        assert _first_ok_after(stub, 90) < 90
        assert stack.triton.process.pid != old
        left = subprocess.run(["ps", "-o", "pid=,stat=", "-g", str(old)], capture_output=True,
                              text=True).stdout.split("\n")
        assert not [line for line in left if line.strip() and "Z" not in line.split()[-1]]
        os.kill(stack.gateway.process.pid, signal.SIGKILL)
        stub = pb_grpc.KeyphraseRecommenderStub(grpc.insecure_channel(stack.target))
        assert _first_ok_after(stub, 60) < 60
        registry = stack.supervisor.registry
        for name in ("triton", "gateway"):
            assert registry.get_sample_value("kpdistill_stack_restarts_total",
                                             {"process": name}) == 1.0


def test_the_index_bench_rebuilds_and_waits_for_the_servers_index(milvus_server):
    """bench.serving.index_scale's measurement on the real server: one collection, each index
    rebuilt on it (the server builds asynchronously: every row indexed before the searches)."""
    from components.indexing.bench import IndexSpec, Universe, exact_top_k, measure_backend
    from components.indexing.store import connect

    rng = np.random.default_rng(2)
    vectors = rng.normal(size=(2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    queries = vectors[:20] + 0.1 * rng.normal(size=(20, 32)).astype(np.float32)
    universe = Universe([f"kp {i}" for i in range(2000)], ["real"] * 2000, ["mined"] * 2000)
    grid = [IndexSpec("IVF_FLAT", {"nlist": 16}, ({"nprobe": 16}, {"nprobe": 1})),
            IndexSpec("HNSW", {"M": 16, "efConstruction": 200}, ({"ef": 64},))]
    client = connect(milvus_server.uri)
    try:
        rows = measure_backend(client, milvus_server.uri, "server", universe, vectors, queries,
                               exact_top_k(queries, vectors), grid, index_timeout_s=120,
                               insert_batch=300, insert_threads=3)
    finally:
        client.close()
    every, one_list, hnsw = rows
    assert every["recall_at_10"] == 1.0  # nprobe = nlist: every list searched, exact
    assert one_list["recall_at_10"] < 1.0 and one_list["index_build_s"] == every["index_build_s"]
    assert hnsw["recall_at_10"] >= 0.9 and hnsw["index_type"] == "HNSW"
    assert all(r["queries"] == 20 and r["search_p99_ms"] > 0 and r["segments"] >= 1
               for r in rows)


def test_two_gateway_workers_over_the_real_stack(milvus_server, model_repository, triton,
                                                  records, tmp_path):
    """--workers 2 on real Triton + a Milvus server: both processes run, every new channel is
    answered, SIGTERM to the parent stops it and both workers."""
    import psutil

    config = IndexConfig(uri=milvus_server.uri, alias="kp_workers", request_timeout_s=120)
    build_keyphrase_index(records[:300], TritonEncoder(triton["server"].grpc_url, "w"), config,
                          "w")
    process = GatewayProcess(tmp_path / "gateway.log", triton_url=triton["server"].grpc_url,
                             tokenizer_dir=str(model_repository / "tokenizer"),
                             milvus_uri=milvus_server.uri, index_alias=config.alias,
                             workers=2, **FAST).start(timeout_s=90)
    try:
        workers = [c for c in psutil.Process(process.process.pid).children()
                   if "spawn_main" in " ".join(c.cmdline())]  # not the resource tracker
        assert len(workers) == 2
        for _ in range(12):
            with grpc.insecure_channel(process.target) as channel:
                resp = pb_grpc.KeyphraseRecommenderStub(channel).Recommend(
                    pb.RecommendRequest(item=WINE, k=5), timeout=20)
                assert len(resp.keyphrases) == 5 and resp.model_version == "w"
    finally:
        assert process.stop() == 0
    assert not any(w.is_running() and w.status() != psutil.STATUS_ZOMBIE for w in workers)
