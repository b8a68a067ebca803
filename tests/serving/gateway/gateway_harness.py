"""An in-process gateway on a real gRPC port (real Milvus Lite index, models faked)."""

from __future__ import annotations

import asyncio
import threading
from contextlib import asynccontextmanager, contextmanager

import grpc
from gateway_fakes import FakeModels

from serving.gateway.server import GatewayServer
from serving.gateway.settings import GatewaySettings
from serving.proto.kpdistill.v1 import recommender_pb2_grpc as pb_grpc

RECOMMEND = "/kpdistill.v1.KeyphraseRecommender/Recommend"
BATCH_RECOMMEND = "/kpdistill.v1.KeyphraseRecommender/BatchRecommend"
HEALTH_CHECK = "/grpc.health.v1.Health/Check"


def settings_for(index, **settings) -> GatewaySettings:
    return GatewaySettings(port=0, metrics_port=0, milvus_uri=index.resolved_uri,
                           index_alias=index.alias, index_refresh_s=0.2, **settings)


@asynccontextmanager
async def gateway(index, models=None, **settings):
    """(server, aio channel, recommender stub) in this event loop."""
    server = GatewayServer(settings_for(index, **settings), models=models or FakeModels())
    port = await server.start()
    channel = grpc.aio.insecure_channel(f"127.0.0.1:{port}")
    try:
        yield server, channel, pb_grpc.KeyphraseRecommenderStub(channel)
    finally:
        await channel.close()
        await server.stop(grace_s=1)


@contextmanager
def gateway_in_thread(index, models=None, **settings):
    """The gateway on its own event loop in a thread; yields ``(target, server)`` for
    synchronous clients (hypothesis drives plain functions)."""
    state: dict = {}
    started = threading.Event()

    def run():
        loop = asyncio.new_event_loop()
        state["loop"], state["stop"] = loop, asyncio.Event()

        async def body():
            server = GatewayServer(settings_for(index, **settings), models=models or FakeModels())
            try:
                state["port"], state["server"] = await server.start(), server
            finally:
                started.set()
            await state["stop"].wait()
            await server.stop(grace_s=1)
        try:
            loop.run_until_complete(body())
        finally:
            loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    started.wait(60)
    if "port" not in state:
        raise RuntimeError("gateway did not start")
    try:
        yield f"127.0.0.1:{state['port']}", state["server"]
    finally:
        state["loop"].call_soon_threadsafe(state["stop"].set)
        thread.join(30)
