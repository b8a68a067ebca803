"""The gateway over a real gRPC channel: real Milvus Lite, the Triton client replaced by a fake.

(End-to-end tests with the real Triton server are in test_gateway_e2e.py.)
"""

import asyncio
import urllib.request

import grpc
import pytest
from gateway_fakes import FakeModels
from gateway_harness import gateway, settings_for
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from serving.gateway.server import GatewayServer
from serving.proto.kpdistill.v1 import recommender_pb2 as pb

WINE = pb.Item(item_id="i1", title="Set of 4 red wine glasses", category="Home & Kitchen > Bar",
               brand="Libbey")


def test_recommend_and_batch_recommend_answer_over_grpc(hashed_index):
    async def body():
        async with gateway(hashed_index) as (_, _, stub):
            resp = await stub.Recommend(pb.RecommendRequest(item=WINE, k=3), timeout=10)
            assert [k.rank for k in resp.keyphrases] == [1, 2, 3]
            assert resp.keyphrases[0].text == "red wine glasses"
            assert not resp.keyphrases[0].HasField("cross_encoder_score")
            assert resp.model_version == "hashing-v1" and resp.timings.total_ms > 0
            reranked = await stub.Recommend(pb.RecommendRequest(
                item=WINE, k=2, options=pb.RecommendOptions(rerank=True)), timeout=10)
            assert all(k.HasField("cross_encoder_score") for k in reranked.keyphrases)
            batch = await stub.BatchRecommend(pb.BatchRecommendRequest(requests=[
                pb.RecommendRequest(item=WINE, k=1),
                pb.RecommendRequest(item=pb.Item(item_id="i2", title="wireless earbuds"), k=1)]),
                timeout=10)
            assert [r.item_id for r in batch.responses] == ["i1", "i2"]
    asyncio.run(body())


@pytest.mark.parametrize("request_, message", [
    (pb.RecommendRequest(item=pb.Item(title="")), "item.title is empty"),
    (pb.RecommendRequest(item=pb.Item(title="x" * 600)), "item.title has 600 characters"),
    (pb.RecommendRequest(item=WINE, k=1000), "k=1000 is out of range"),
    (pb.RecommendRequest(item=pb.Item(title="x", category="Nowhere"),
                         options=pb.RecommendOptions(filter_by_category=True)),
     "unknown category 'Nowhere'"),
])
def test_bad_input_is_invalid_argument_with_the_reason(hashed_index, request_, message):
    async def body():
        async with gateway(hashed_index) as (_, _, stub):
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Recommend(request_, timeout=10)
            assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
            assert message in err.value.details()
    asyncio.run(body())


def test_backend_down_is_unavailable_and_recovers(hashed_index):
    async def body():
        models = FakeModels()
        async with gateway(hashed_index, models) as (_, channel, stub):
            health = health_pb2_grpc.HealthStub(channel)
            models.down = True
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Recommend(pb.RecommendRequest(item=WINE), timeout=10)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert "triton unavailable" in err.value.details()
            await asyncio.sleep(0.5)  # the refresher sees it
            check = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert check.status == health_pb2.HealthCheckResponse.NOT_SERVING
            models.down = False
            await asyncio.sleep(0.5)
            check = await health.Check(health_pb2.HealthCheckRequest(service=""), timeout=5)
            assert check.status == health_pb2.HealthCheckResponse.SERVING
            assert (await stub.Recommend(pb.RecommendRequest(item=WINE), timeout=10)).keyphrases
    asyncio.run(body())


def test_the_callers_deadline_is_honoured(hashed_index):
    async def body():
        async with gateway(hashed_index, FakeModels(delay_s=2.0)) as (_, _, stub):
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Recommend(pb.RecommendRequest(item=WINE), timeout=0.3)
            assert err.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
            assert loop.time() - t0 < 1.5
    asyncio.run(body())


def test_health_reflection_and_metrics_are_served(hashed_index):
    async def body():
        async with gateway(hashed_index) as (server, channel, stub):
            health = health_pb2_grpc.HealthStub(channel)
            for service in ("", "kpdistill.v1.KeyphraseRecommender"):
                check = await health.Check(health_pb2.HealthCheckRequest(service=service))
                assert check.status == health_pb2.HealthCheckResponse.SERVING
            refl = reflection_pb2_grpc.ServerReflectionStub(channel)
            answers = refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(
                list_services="")]))
            names = [s.name async for a in answers for s in a.list_services_response.service]
            assert "kpdistill.v1.KeyphraseRecommender" in names
            await stub.Recommend(pb.RecommendRequest(item=WINE), timeout=10)
            with pytest.raises(grpc.aio.AioRpcError):
                await stub.Recommend(pb.RecommendRequest(item=pb.Item()), timeout=10)
            url = f"http://127.0.0.1:{server.metrics_port}/metrics"
            text = await asyncio.to_thread(lambda: urllib.request.urlopen(url).read().decode())
            assert 'kpdistill_gateway_requests_total{code="OK",method="Recommend"} 1.0' in text
            assert 'kpdistill_gateway_errors_total{code="INVALID_ARGUMENT",method="Recommend"} 1.0' in text
            assert 'kpdistill_gateway_stage_seconds_count{stage="search"} 1.0' in text
    asyncio.run(body())


def test_shutdown_drains_in_flight_calls_and_refuses_new_ones(hashed_index):
    async def body():
        async with gateway(hashed_index, FakeModels(delay_s=0.8)) as (server, _, stub):
            in_flight = asyncio.ensure_future(
                stub.Recommend(pb.RecommendRequest(item=WINE, k=2), timeout=10))
            await asyncio.sleep(0.3)
            stopping = asyncio.create_task(server.stop(grace_s=5))
            await asyncio.sleep(0.1)
            with pytest.raises(grpc.aio.AioRpcError) as err:
                await stub.Recommend(pb.RecommendRequest(item=WINE), timeout=2)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE
            assert len((await in_flight).keyphrases) == 2  # finished, not cut off
            await stopping
    asyncio.run(body())


class LosesOneCancellation(FakeModels):
    """A readiness check that answers when it is cancelled mid-call, once, as a backend client
    whose result arrives with the cancellation can (asyncio.wait_for in Python 3.11)."""

    def __init__(self):
        super().__init__()
        self.checking = False
        self.lost = False

    async def is_ready(self, timeout_s=1.0):
        self.checking = True
        try:
            await asyncio.sleep(0.5)
        except asyncio.CancelledError:
            if self.lost:
                raise
            self.lost = True
        finally:
            self.checking = False
        return True


def test_shutdown_ends_a_refresher_that_lost_its_cancellation(hashed_index):
    async def body():
        models = LosesOneCancellation()
        server = GatewayServer(settings_for(hashed_index), models=models)
        await server.start()  # its own backend check is done when start returns
        while not models.checking:  # the refresher's next check is under way
            await asyncio.sleep(0.01)
        stopping = asyncio.ensure_future(server.stop(grace_s=1))
        done, _ = await asyncio.wait({stopping}, timeout=10)
        if not done:  # cancel the refresher again so that the failing test ends
            server._refresher.cancel()
            await stopping
        assert models.lost, "the refresher's cancellation was not lost: nothing tested"
        assert done, "stop() still waited 10 s for a refresher that lost its cancellation"
    asyncio.run(body())
