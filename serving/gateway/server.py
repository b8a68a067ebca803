"""The gateway process: gRPC (recommender + health + reflection) and Prometheus metrics.

    python -m serving.gateway               # settings from KPDISTILL_GATEWAY_* (settings.py)
    python -m serving.gateway --workers 4   # 4 processes on one port (workers.py)

SIGTERM/SIGINT: health turns NOT_SERVING, new calls are refused, in-flight calls get up to
``KPDISTILL_GATEWAY_GRACE_S`` seconds to finish, then the backends' connections close.

Hostile input and overload: gRPC refuses messages larger than the largest valid request
(``max_request_bytes``) unread; every method decodes through :class:`SafeDecoding` (an
undecodable message is INVALID_ARGUMENT, never UNKNOWN); recommender calls pass admission
control (RESOURCE_EXHAUSTED at once when saturated) while health checks never wait behind them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
from collections.abc import Awaitable, Callable

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from serving.gateway.decoding import SafeDecoding
from serving.gateway.domain import BackendUnavailable
from serving.gateway.index_client import ExactKeyphraseSearcher, KeyphraseSearcher
from serving.gateway.metrics import GatewayMetrics
from serving.gateway.ratelimit import RateLimitedLog
from serving.gateway.service import RecommendationService
from serving.gateway.servicer import (
    SERVICE_NAME,
    KeyphraseRecommenderServicer,
    add_recommender_to_server,
)
from serving.gateway.settings import GatewaySettings
from serving.gateway.triton_client import TritonModelClient

log = logging.getLogger("kpdistill.gateway")
SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def searcher_for(settings: GatewaySettings) -> KeyphraseSearcher:
    """The index client ``SEARCH_BACKEND`` asks for."""
    if settings.search_backend == "milvus":
        return KeyphraseSearcher(settings.milvus_uri, settings.index_alias, settings.search_ef)
    return ExactKeyphraseSearcher(settings.milvus_uri, settings.index_alias,
                                  settings.exact_max_rows, settings.search_backend,
                                  settings.search_ef)


class GatewayServer:
    """Owns the gRPC server, the backend clients and the background health/index refresher."""

    def __init__(self, settings: GatewaySettings, models: TritonModelClient | None = None,
                 searcher: KeyphraseSearcher | None = None, reuse_port: bool = False):
        """``models``/``searcher`` replace the Triton/Milvus clients (unit tests only);
        ``reuse_port`` lets several gateway processes bind one port (SO_REUSEPORT, workers.py)."""
        self.settings = settings
        self.metrics = GatewayMetrics()
        here = settings.tokenize == "gateway"  # the gateway tokenizes texts and pairs
        self.models = models or TritonModelClient(
            settings.triton_url, settings.embed_model, settings.score_model,
            settings.triton_max_batch, encoder_model=settings.encoder_model,
            tokenizer_dir=settings.tokenizer_dir if here else None,
            pair_tokenizer_dir=settings.pair_tokenizer_path if here else None,
            cross_encoder_model=settings.cross_encoder_model,
            pad_to_multiple_of=settings.pad_to_multiple_of)
        self.searcher = searcher or searcher_for(settings)
        self.service = RecommendationService(self.models, self.searcher, settings,
                                             self.metrics.observe_stage)
        self.health = health.aio.HealthServicer()
        self.server = grpc.aio.server(
            interceptors=[SafeDecoding(settings.log_every_s)],
            maximum_concurrent_rpcs=settings.max_concurrent_rpcs,
            options=[("grpc.so_reuseport", int(reuse_port)),
                     ("grpc.max_receive_message_length", settings.max_request_bytes)])
        self._log = RateLimitedLog(log, settings.log_every_s)
        self.port = 0
        self.metrics_port: int | None = None
        self._refresher: asyncio.Task | None = None
        self._stopping = False

    async def start(self) -> int:
        add_recommender_to_server(
            KeyphraseRecommenderServicer(self.service, self.metrics, self.settings.log_every_s),
            self.server, self.settings.max_batch_items)
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self.server)
        reflection.enable_server_reflection(
            (SERVICE_NAME, health.SERVICE_NAME, reflection.SERVICE_NAME), self.server)
        self.port = self.server.add_insecure_port(f"{self.settings.host}:{self.settings.port}")
        if self.port == 0:
            raise OSError(f"cannot bind {self.settings.host}:{self.settings.port}")
        if self.settings.metrics_port >= 0:
            self.metrics_port = self.metrics.serve(self.settings.host, self.settings.metrics_port)
        await self.server.start()
        await self.check_backends()
        self._refresher = asyncio.create_task(self._refresh_forever())
        log.info("gateway on %s:%d (metrics %s), triton %s, milvus %s alias %s",
                 self.settings.host, self.port, self.metrics_port, self.settings.triton_url,
                 self.settings.milvus_uri, self.settings.index_alias)
        return self.port

    async def check_backends(self) -> bool:
        """Re-read the live index version and Triton readiness; publish it as health."""
        ok = True
        try:
            await self.searcher.refresh(self.settings.backend_timeout_s)
        except BackendUnavailable as err:
            self._log.warning("milvus", "%s", err)
            ok = False
        if not await self.models.is_ready(self.settings.backend_timeout_s):
            self._log.warning("triton", "not serving: the models at triton %s are not ready: %s",
                              self.settings.triton_url,
                              getattr(self.models, "not_ready_reason", "") or "no answer")
            ok = False
        status = SERVING if ok else NOT_SERVING
        await self.health.set("", status)
        await self.health.set(SERVICE_NAME, status)
        return ok

    async def _refresh_forever(self) -> None:
        # Ends on cancellation, or at its next round once stopping: a backend client can lose
        # the cancellation (Python 3.11's asyncio.wait_for, used by pymilvus' retries, returns
        # a result that arrives as it is cancelled), and the loop would then refresh forever.
        while not self._stopping:
            await asyncio.sleep(self.settings.index_refresh_s)
            try:
                await self.check_backends()
            except Exception as err:  # keep refreshing whatever one round did
                self._log.error("refresh", "backend check failed: %r", err)

    async def stop(self, grace_s: float | None = None) -> None:
        """Refuse new calls, let in-flight ones finish (up to grace), then close backends."""
        await self.health.enter_graceful_shutdown()
        self._stopping = True
        if self._refresher:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.server.stop(self.settings.grace_s if grace_s is None else grace_s)
        await self.models.close()
        await self.searcher.close()
        self.metrics.stop()

    async def wait(self) -> None:
        await self.server.wait_for_termination()


async def serve(settings: GatewaySettings, gateway: GatewayServer | None = None,
                on_started: Callable[[GatewayServer], Awaitable[None]] | None = None) -> None:
    """Run ``gateway`` (default: one built from ``settings``) until SIGTERM/SIGINT; then drain.
    ``on_started`` runs as a task once it listens (a worker reports its health with it)."""
    gateway = gateway or GatewayServer(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stopping.set)
    await gateway.start()
    print(f"kpdistill gateway listening on {settings.host}:{gateway.port} "
          f"metrics={gateway.metrics_port} pid={os.getpid()}", flush=True)
    task = asyncio.create_task(on_started(gateway)) if on_started else None
    await stopping.wait()
    if task is not None:
        task.cancel()
    log.info("shutting down: draining in-flight calls for up to %.1f s", settings.grace_s)
    await gateway.stop()
