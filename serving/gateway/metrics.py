"""Prometheus metrics of the gateway: per-stage latency, requests and errors by status code."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class GatewayMetrics:
    """One registry per gateway, so several gateways can live in one process (tests)."""

    def __init__(self, registry: CollectorRegistry | None = None):
        self.registry = registry or CollectorRegistry()
        self.stage_seconds = Histogram(
            "kpdistill_gateway_stage_seconds", "Time per stage of a call (embed, search, rerank)",
            ["stage"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.request_seconds = Histogram(
            "kpdistill_gateway_request_seconds", "Time per call, end to end in the gateway",
            ["method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.requests = Counter(
            "kpdistill_gateway_requests", "Calls answered, by method and gRPC status code",
            ["method", "code"], registry=self.registry)
        self.errors = Counter(
            "kpdistill_gateway_errors", "Failed calls, by method and gRPC status code",
            ["method", "code"], registry=self.registry)
        self.items = Counter(
            "kpdistill_gateway_items", "Items recommended for", registry=self.registry)

    def observe_stage(self, stage: str, seconds: float) -> None:
        self.stage_seconds.labels(stage).observe(seconds)

    def observe_call(self, method: str, code: str, seconds: float, items: int) -> None:
        self.request_seconds.labels(method).observe(seconds)
        self.requests.labels(method, code).inc()
        if code != "OK":
            self.errors.labels(method, code).inc()
        else:
            self.items.inc(items)

    def serve(self, host: str, port: int) -> int:
        """Expose ``/metrics`` over HTTP on host:port (0 = a free port); returns the port."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        self._http_server = server
        return server.server_port

    def stop(self) -> None:
        server = getattr(self, "_http_server", None)
        if server is not None:
            server.shutdown()
            server.server_close()
