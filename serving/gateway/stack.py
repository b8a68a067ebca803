"""Triton + the gateway on loopback, as one unit (``make serve``, the demo, load and e2e tests).

    python -m serving.gateway.stack --model-repository DIR [--milvus-uri URI] [--port 50151]

The gateway runs as its own process (``python -m serving.gateway``) configured through
``KPDISTILL_GATEWAY_*``; it is reported ready when its gRPC health check answers SERVING.
A Milvus Lite index (a ``.db`` path) is opened by the gateway process alone: build it before.

With ``supervise=True`` (the CLI's default) a :class:`~serving.gateway.supervisor.Supervisor`
restarts Triton or the gateway when either dies (SIGKILL, OOM, crash), on the same ports, after
killing what is left of its process group (Triton's Python-backend stubs, the gateway's Milvus
Lite server) and removing Triton's shared-memory regions; restarts are logged and counted in
``kpdistill_stack_restarts_total`` (served on ``--stack-metrics-port``).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from prometheus_client import start_http_server

from components.settings import REPO_ROOT, artifacts_dir
from serving.gateway.supervisor import Supervisor
from serving.triton.server import TritonServer, free_port

MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "131072", "MALLOC_ARENA_MAX": "2"}
"""glibc malloc settings of the gateway process: buffers of large requests (up to 4.3 MB each)
are mapped and unmapped rather than kept in growing per-thread heaps, so a burst of large
messages does not raise the resident memory for good (it did by ~45 MB in the reliability
bench). Set the variables in the environment to override."""


def wait_serving(target: str, timeout_s: float, process: subprocess.Popen | None = None,
                 service: str = "", any_status: bool = False) -> None:
    """Poll the gRPC health check of ``target`` until SERVING, or until it answers at all with
    ``any_status`` (bounded by ``timeout_s``)."""
    deadline = time.monotonic() + timeout_s
    last = "no answer"
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < deadline:
            if process is not None and process.poll() is not None:
                raise RuntimeError(f"gateway exited with {process.returncode}")
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=2)
                if any_status or status.status == health_pb2.HealthCheckResponse.SERVING:
                    return
                last = health_pb2.HealthCheckResponse.ServingStatus.Name(status.status)
            except grpc.RpcError as err:
                last = err.code().name
            time.sleep(0.25)
    raise TimeoutError(f"gateway at {target} not SERVING after {timeout_s}s (last: {last})")


class GatewayProcess:
    """``python -m serving.gateway`` with settings given as keyword arguments."""

    def __init__(self, log_file: Path | None = None, **settings):
        self.port = int(settings.pop("port", 0) or free_port())
        self.metrics_port = int(settings.pop("metrics_port", 0) or free_port())
        self.settings = {"host": "127.0.0.1", "port": self.port,
                         "metrics_port": self.metrics_port, **settings}
        self.log_file = Path(log_file) if log_file else Path(
            tempfile.mkstemp(prefix="kpdistill-gateway-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self, timeout_s: float = 60.0, any_status: bool = False) -> GatewayProcess:
        """Start it and wait until its health check answers SERVING (or anything, with
        ``any_status``: a gateway whose Triton is still down answers NOT_SERVING)."""
        env = dict(os.environ)
        env.update({f"KPDISTILL_GATEWAY_{k.upper()}": str(v) for k, v in self.settings.items()})
        for name, value in MALLOC_ENV.items():
            env.setdefault(name, value)
        env["PYTHONPATH"] = os.pathsep.join([str(REPO_ROOT), env.get("PYTHONPATH", "")])
        with open(self.log_file, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "serving.gateway"], cwd=REPO_ROOT, env=env,
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)  # its own group: a kill takes Milvus Lite's server too
        try:
            wait_serving(self.target, timeout_s, self.process, any_status=any_status)
        except BaseException:
            self.stop()
            raise RuntimeError(f"gateway did not come up; log {self.log_file}:\n"
                               f"{self.log_file.read_text(errors='replace')[-3000:]}") from None
        return self

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """SIGTERM: the gateway drains in-flight calls, then exits."""
        if self.process is None:
            return None
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        code, self.process = self.process.returncode, None
        return code

    def kill(self) -> int | None:
        """SIGKILL the gateway's whole process group and reap it (after a crash)."""
        if self.process is None:
            return None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(10)
        code, self.process = self.process.returncode, None
        return code


class SupervisedTriton:
    """A :class:`TritonServer` as the supervisor sees it."""

    name = "triton"

    def __init__(self, server: TritonServer, ready_timeout_s: float = 180.0):
        self.server, self.ready_timeout_s = server, ready_timeout_s

    def start(self) -> None:
        self.server.start()
        self.server.wait_ready(self.ready_timeout_s)

    def exit_code(self) -> int | None:
        process = self.server.process
        return -1 if process is None else process.poll()

    def reap(self) -> None:
        self.server.kill()


class SupervisedGateway:
    """A :class:`GatewayProcess`: restarted once it answers health, SERVING or not."""

    name = "gateway"

    def __init__(self, gateway: GatewayProcess, ready_timeout_s: float = 60.0):
        self.gateway, self.ready_timeout_s = gateway, ready_timeout_s

    def start(self) -> None:
        self.gateway.start(self.ready_timeout_s, any_status=True)

    def exit_code(self) -> int | None:
        process = self.gateway.process
        return -1 if process is None else process.poll()

    def reap(self) -> None:
        self.gateway.kill()


class ServingStack:
    """Triton on a model repository, then the gateway pointed at it and at the index."""

    def __init__(self, model_repository: Path, milvus_uri: str, index_alias: str = "keyphrases",
                 gateway_port: int | None = None, log_dir: Path | None = None,
                 supervise: bool = False, **settings):
        log_dir = Path(log_dir or tempfile.mkdtemp(prefix="kpdistill-serving-"))
        log_dir.mkdir(parents=True, exist_ok=True)
        self.triton = TritonServer(Path(model_repository), log_file=log_dir / "triton.log")
        # the gateway tokenizes with the served tokenizers' own files (TOKENIZE=gateway)
        self.gateway_settings = {"milvus_uri": milvus_uri, "index_alias": index_alias,
                                 "tokenizer_dir": str(Path(model_repository) / "tokenizer"),
                                 "pair_tokenizer_dir": str(Path(model_repository)
                                                           / "pair_tokenizer"),
                                 "port": gateway_port or 0, **settings}
        self.log_dir = log_dir
        self.gateway: GatewayProcess | None = None
        self.supervise = supervise
        self.supervisor: Supervisor | None = None

    def start(self, timeout_s: float = 180.0) -> ServingStack:
        self.triton.start()
        try:
            self.triton.wait_ready(timeout_s)
            self.gateway = GatewayProcess(self.log_dir / "gateway.log",
                                          triton_url=self.triton.grpc_url,
                                          **self.gateway_settings).start()
        except BaseException:
            self.stop()
            raise
        if self.supervise:
            self.supervisor = Supervisor([SupervisedTriton(self.triton, timeout_s),
                                          SupervisedGateway(self.gateway)]).start()
        return self

    @property
    def target(self) -> str:
        return self.gateway.target

    def stop(self) -> None:
        if self.supervisor is not None:
            self.supervisor.stop()
        if self.gateway is not None:
            self.gateway.stop()
        self.triton.stop()

    def __enter__(self) -> ServingStack:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model-repository", type=Path,
                        default=artifacts_dir() / "model_repository")
    parser.add_argument("--milvus-uri", default=str(artifacts_dir() / "index" / "keyphrases.db"))
    parser.add_argument("--index-alias", default="keyphrases")
    parser.add_argument("--port", type=int, default=50151, help="gateway gRPC port")
    parser.add_argument("--metrics-port", type=int, default=9464)
    parser.add_argument("--stack-metrics-port", type=int, default=9465,
                        help="Prometheus port of the supervisor's restart counters (-1: off)")
    parser.add_argument("--no-supervise", action="store_true",
                        help="do not restart Triton or the gateway when they die")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    stack = ServingStack(args.model_repository, args.milvus_uri, args.index_alias, args.port,
                         log_dir=artifacts_dir() / "serving-logs", metrics_port=args.metrics_port,
                         supervise=not args.no_supervise)
    stack.start()
    if stack.supervisor is not None and args.stack_metrics_port >= 0:
        start_http_server(args.stack_metrics_port, addr="127.0.0.1",
                          registry=stack.supervisor.registry)
    print(f"serving: gateway {stack.target} (metrics 127.0.0.1:{stack.gateway.metrics_port}), "
          f"triton {stack.triton.grpc_url}; logs in {stack.log_dir}; Ctrl-C stops", flush=True)
    stopping = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    try:
        while not stopping:
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        stack.stop()


if __name__ == "__main__":
    main()
