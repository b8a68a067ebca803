"""The gateway under hostile input and overload, over a real gRPC channel (real Milvus Lite;
models faked, or a fake Triton server behind the real Triton client)."""

import asyncio
import logging
import time

import grpc
import pytest
from fake_triton import FakeTriton, start_fake_triton
from gateway_fakes import FakeModels, RowTimedModels
from gateway_harness import BATCH_RECOMMEND, HEALTH_CHECK, RECOMMEND, gateway
from google.protobuf.message import DecodeError
from grpc_health.v1 import health_pb2, health_pb2_grpc

from serving.gateway.decoding import count_items
from serving.gateway.settings import GatewaySettings
from serving.gateway.triton_client import TritonModelClient
from serving.proto.kpdistill.v1 import recommender_pb2 as pb

WINE = pb.Item(item_id="i1", title="Set of 4 red wine glasses", category="Home & Kitchen > Bar")
EMPTY_ITEMS = b"\x0a\x00" * 1_300_000  # 2.6 MB: 1.3 million empty items


async def _probe_health(channel, latencies: list[float], stop: asyncio.Event) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    while not stop.is_set():
        t0 = time.perf_counter()
        answer = await health.Check(health_pb2.HealthCheckRequest(), timeout=5)
        assert answer.status == health_pb2.HealthCheckResponse.SERVING
        latencies.append(time.perf_counter() - t0)
        await asyncio.sleep(0.01)


async def _timed(call):
    t0 = time.perf_counter()
    try:
        result = await call
    except grpc.aio.AioRpcError as err:
        result = err
    return result, time.perf_counter() - t0


def test_a_million_empty_items_are_refused_at_once_and_health_stays_fast(hashed_index):
    async def body():
        async with gateway(hashed_index) as (_, channel, _):
            raw = channel.unary_unary(BATCH_RECOMMEND)  # bytes in, bytes out
            latencies, stop = [], asyncio.Event()
            probe = asyncio.create_task(_probe_health(channel, latencies, stop))
            await asyncio.sleep(0.05)
            results = await asyncio.gather(*(_timed(raw(EMPTY_ITEMS, timeout=30))
                                             for _ in range(3)))
            await asyncio.sleep(0.05)
            stop.set()
            await probe
        for err, seconds in results:
            assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err
            assert "more than 64 items in one batch; the limit is 64" in err.details()
            assert seconds < 2.0
        assert latencies and max(latencies) < 0.5
    asyncio.run(body())


def test_messages_are_capped_at_the_largest_valid_request(hashed_index):
    settings = GatewaySettings()
    # the largest valid batch: 64 items, every text at its limit in 4-byte characters
    char = "\U0001F377"
    item = pb.Item(item_id=char * 4096, title=char * 512, category=char * 4096,
                   brand=char * 4096, description=char * 4096)
    largest = pb.BatchRecommendRequest(requests=[pb.RecommendRequest(item=item, k=1)] * 64)
    assert largest.ByteSize() <= settings.max_request_bytes < 2 * largest.ByteSize()

    async def body():
        async with gateway(hashed_index) as (_, channel, stub):
            answer = await stub.BatchRecommend(largest, timeout=30)
            assert len(answer.responses) == 64
            raw = channel.unary_unary(BATCH_RECOMMEND)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await raw(b"\x0a\x00" * (settings.max_request_bytes // 2 + 1), timeout=10)
            assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    asyncio.run(body())


@pytest.mark.parametrize("method", [RECOMMEND, BATCH_RECOMMEND, HEALTH_CHECK])
def test_undecodable_bytes_are_invalid_argument_with_one_log_line(hashed_index, caplog, method):
    async def body():
        async with gateway(hashed_index) as (_, channel, _):
            raw = channel.unary_unary(method)
            for _ in range(20):
                with pytest.raises(grpc.aio.AioRpcError) as err:
                    await raw(b"\x0a\xff\xff\xff\xff\x0f", timeout=5)
                assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
                assert "not a valid message" in err.value.details()
    with caplog.at_level(logging.INFO):
        asyncio.run(body())
    assert not [r for r in caplog.records if r.exc_info or "Traceback" in r.getMessage()]
    lines = [r for r in caplog.records if "undecodable" in r.getMessage()]
    assert len(lines) == 1 and "\n" not in lines[0].getMessage()


def test_wire_count_stops_at_the_limit():
    batch = pb.BatchRecommendRequest(requests=[pb.RecommendRequest(item=WINE)] * 3)
    assert count_items(batch.SerializeToString(), 3) == 3
    with pytest.raises(ValueError, match="more than 2 items"):
        count_items(batch.SerializeToString(), 2)
    with pytest.raises(DecodeError):
        count_items(batch.SerializeToString()[:-1], 3)
    with pytest.raises(DecodeError, match="wire type 3"):
        count_items(b"\x0b\x0c", 3)


def test_overload_is_shed_at_once_and_health_is_exempt(hashed_index):
    async def body():
        async with gateway(hashed_index, FakeModels(delay_s=0.5), max_inflight_rows=4) as (
                _, channel, stub):
            latencies, stop = [], asyncio.Event()
            probe = asyncio.create_task(_probe_health(channel, latencies, stop))
            results = await asyncio.gather(*(_timed(stub.Recommend(
                pb.RecommendRequest(item=WINE, k=2), timeout=5)) for _ in range(40)))
            stop.set()
            await probe
        ok = [s for r, s in results if isinstance(r, pb.RecommendResponse)]
        refused = [(r, s) for r, s in results if not isinstance(r, pb.RecommendResponse)]
        assert len(ok) == 4 and len(refused) == 36
        assert {r.code() for r, _ in refused} == {grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert "at capacity" in refused[0][0].details()
        assert max(s for _, s in refused) < 0.4  # at once, not after the admitted work
        assert max(latencies) < 0.3
    asyncio.run(body())


def test_backend_timeout_grows_with_the_rows_a_call_carries(hashed_index):
    items = [pb.RecommendRequest(item=pb.Item(item_id=str(i), title=f"wine glass {i}"), k=1)
             for i in range(64)]

    async def body():
        async with gateway(hashed_index, RowTimedModels(row_s=0.03), backend_timeout_s=1.0,
                           backend_timeout_per_row_s=0.05) as (_, _, stub):
            answer = await stub.BatchRecommend(pb.BatchRecommendRequest(requests=items),
                                               timeout=20)  # 64 rows x 0.03 s > 1 s
            assert len(answer.responses) == 64
    asyncio.run(body())


def test_rerank_pairs_per_call_are_limited(hashed_index):
    request = pb.RecommendRequest(item=WINE, options=pb.RecommendOptions(
        rerank=True, rerank_candidates=600))

    async def body():
        async with gateway(hashed_index) as (_, _, stub):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.BatchRecommend(pb.BatchRecommendRequest(requests=[request] * 2),
                                          timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert "re-ranks 1200 (item, keyphrase) pairs; the limit is 1000" in err.value.details()
    asyncio.run(body())


# --- the real Triton client against a fake Triton server ----------------------------------------

def _pair_tokenizer_dir(path: str) -> str | None:
    """Re-ranking pairs tokenized in the ``gateway`` (MiniLM's files: the stand-in
    cross-encoder's) or sent as strings to ``triton``'s score_pairs."""
    if path == "triton":
        return None
    from components.export.graphs import backbone_dir
    from components.models.pretrained import minilm_path
    return str(backbone_dir(minilm_path()))


async def _with_fake_triton(index, fake, check, pairs: str = "triton", **settings):
    server, url = await start_fake_triton(fake)
    models = TritonModelClient(url, max_batch=settings.pop("triton_max_batch", 256),
                               pair_tokenizer_dir=_pair_tokenizer_dir(pairs))
    try:
        async with gateway(index, models, triton_url=url, **settings) as (_, _, stub):
            await check(stub)
    finally:
        await server.stop(0)


@pytest.mark.parametrize("pairs", ["triton", "gateway"])
def test_rerank_beyond_tritons_max_batch_is_split_into_accepted_requests(hashed_index, pairs):
    fake = FakeTriton(max_batch_size=8, dim=32)
    items = [pb.RecommendRequest(item=pb.Item(item_id=str(i), title=f"red wine glasses {i}"),
                                 k=3, options=pb.RecommendOptions(rerank=True,
                                                                  rerank_candidates=10))
             for i in range(6)]

    async def check(stub):
        answer = await stub.BatchRecommend(pb.BatchRecommendRequest(requests=items), timeout=10)
        assert [r.item_id for r in answer.responses] == [str(i) for i in range(6)]
        assert all(k.HasField("cross_encoder_score") for r in answer.responses
                   for k in r.keyphrases)
        model = "score_pairs" if pairs == "triton" else "cross_encoder"
        assert {m for m, _ in fake.batches} == {"embed_text", model}
        scored = [n for m, n in fake.batches if m == model]
        assert sum(scored) == 60 and max(scored) <= 8
        assert max(n for _, n in fake.batches) <= 8
        assert fake.timeouts_us and all(0 < t <= 10_000_000 for t in fake.timeouts_us)
    asyncio.run(_with_fake_triton(hashed_index, fake, check, pairs))


@pytest.mark.parametrize("pairs", ["triton", "gateway"])
@pytest.mark.parametrize("dimensions", [("type", "brand"), ()])
def test_dimension_estimates_come_back_when_the_served_model_declares_them(hashed_index,
                                                                          dimensions, pairs):
    """The real Triton client asks for ``dimensions`` only where the config of the model it
    calls (score_pairs, or cross_encoder on ids the gateway made) declares it, and keeps each
    pair's row across split requests; without it the field stays empty."""
    fake = FakeTriton(max_batch_size=4, dim=32, dimensions=dimensions)
    request = pb.RecommendRequest(item=WINE, k=3, options=pb.RecommendOptions(
        rerank=True, rerank_candidates=10))

    async def check(stub):
        answer = await stub.Recommend(request, timeout=10)
        assert len(answer.keyphrases) == 3
        for kp in answer.keyphrases:
            assert [d.dimension for d in kp.dimensions] == list(dimensions)
            for d in kp.dimensions:  # the fake's P(yes) is the pair's own score
                assert d.match == pytest.approx(kp.cross_encoder_score)
                assert d.mismatch == pytest.approx(1 - kp.cross_encoder_score)
        plain = await stub.Recommend(pb.RecommendRequest(item=WINE, k=3), timeout=10)
        assert all(len(kp.dimensions) == 0 for kp in plain.keyphrases)
    asyncio.run(_with_fake_triton(hashed_index, fake, check, pairs))
    assert "cross_encoder" in {m for m, _ in fake.batches} or pairs == "triton"


@pytest.mark.parametrize("status, message, code", [
    (grpc.StatusCode.INVALID_ARGUMENT, "unexpected shape for input 'TEXT'", "INVALID_ARGUMENT"),
    (grpc.StatusCode.UNAVAILABLE, "Exceeds maximum queue size", "RESOURCE_EXHAUSTED"),
    (grpc.StatusCode.UNAVAILABLE, "Request timeout expired", "RESOURCE_EXHAUSTED"),
    (grpc.StatusCode.UNAVAILABLE, "failed to connect", "UNAVAILABLE"),
    (grpc.StatusCode.INTERNAL, "stub crashed", "UNAVAILABLE"),
])
def test_tritons_errors_keep_their_meaning(hashed_index, status, message, code):
    fake = FakeTriton(dim=32)

    async def check(stub):
        fake.fail = (status, message)
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await stub.Recommend(pb.RecommendRequest(item=WINE), timeout=10)
        assert err.value.code().name == code and message in err.value.details()
    asyncio.run(_with_fake_triton(hashed_index, fake, check))
