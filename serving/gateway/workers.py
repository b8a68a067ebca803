"""Several gateway processes on one port: ``python -m serving.gateway --workers N``.

One gateway process tops out at one core's worth of Python (request decoding, tokenization,
search, response building); on a GPU host that, not Triton, is the limit (docs/results/
gateway.md). With WORKERS > 1 a parent process starts N workers (multiprocessing, spawn
context), each a whole :class:`~serving.gateway.server.GatewayServer` with its own Triton
client and its own search backend, all binding HOST:PORT with ``grpc.so_reuseport`` = 1, so
the Linux kernel spreads new connections over them (a connection stays with one worker).
With PORT 0 the parent picks the port once (a bound, non-listening SO_REUSEPORT socket that
it holds) and every worker binds that one.

The parent:

* waits until every worker reports that its backend check passed (the check that sets its
  gRPC health to SERVING), then checks the shared port's gRPC health itself; a worker that
  exits before that, or a start-up past ``start_timeout_s``, stops all and exits 1;
* forwards SIGTERM/SIGINT to the workers (each drains for up to GRACE_S like a single
  gateway), kills what is left after GRACE_S + 10 s, exits 0;
* restarts a worker that exits unasked, after a back-off (0.5 s doubling to 10 s); more than
  ``max_crashes`` crashes within ``crash_window_s`` is a crash loop: it stops all, exits 2.

A worker whose parent disappears (killed with SIGKILL) stops itself within a second.
Worker i serves Prometheus metrics on METRICS_PORT + i (0: any free port, -1: none).

Milvus Lite: its file is opened by one process at a time (Lite runs a server on it and locks
it), and the in-memory exact backend still reads Milvus for the alias and manifest on every
refresh, so with WORKERS > 1 a Lite path is refused before anything starts. Copying the file
per worker was rejected: a copy would not see the alias move when the index is rebuilt, so
workers would silently serve a stale index. Use a Milvus server URI (http://host:19530) with
SEARCH_BACKEND=exact or auto (each worker then holds its own in-memory copy of the live
collection, read from the server) or milvus.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import multiprocessing as mp
import os
import queue
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable

from components.contracts import is_local_uri
from serving.gateway.settings import GatewaySettings

log = logging.getLogger("kpdistill.gateway.workers")
Backends = Callable[[], tuple]
"""Builds ``(models, searcher)`` in a worker (test doubles); None: the real clients."""


class WorkerStartError(RuntimeError):
    """A worker died or did not become healthy while the pool started."""


class WorkerCrashLoop(RuntimeError):
    """Workers crashed too often: the parent gives up."""


def check_workers(settings: GatewaySettings) -> None:
    """Refuse settings several processes cannot share (a Milvus Lite file)."""
    if settings.workers > 1 and is_local_uri(settings.milvus_uri):
        raise ValueError(
            f"KPDISTILL_GATEWAY_WORKERS={settings.workers} cannot share the Milvus Lite file "
            f"{settings.milvus_uri!r}: Lite opens it in one process only. Point "
            "KPDISTILL_GATEWAY_MILVUS_URI at a Milvus server (http://host:19530; with "
            "SEARCH_BACKEND=exact or auto each worker holds its own in-memory copy of the live "
            "collection, read from the server), or run one worker")


def _reserve_port(host: str, port: int) -> tuple[socket.socket | None, int]:
    """PORT 0: pick a free port once, held by a non-listening SO_REUSEPORT socket."""
    if port:
        return None, port
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host.strip("[]"), 0))
    return sock, sock.getsockname()[1]


def _worker_main(values: dict, slot: int, parent: int, reports, backends: Backends | None):
    """A worker process: one GatewayServer on the shared port until SIGTERM/SIGINT."""
    from serving.gateway.server import GatewayServer, serve

    logging.basicConfig(level=logging.INFO, format=(
        f"%(asctime)s %(levelname)s worker{slot} %(name)s: %(message)s"))
    settings = GatewaySettings(**values)
    models, searcher = backends() if backends else (None, None)

    async def report_then_watch(gw: GatewayServer) -> None:
        while not await gw.check_backends():  # the check that turns health SERVING
            await asyncio.sleep(0.25)
        reports.put((slot, os.getpid()))
        while os.getppid() == parent:  # orphaned (parent killed): stop like on SIGTERM
            await asyncio.sleep(1.0)
        os.kill(os.getpid(), signal.SIGTERM)

    async def main() -> None:  # grpc.aio's server is made inside the running loop
        gateway = GatewayServer(settings, models=models, searcher=searcher, reuse_port=True)
        await serve(settings, gateway, on_started=report_then_watch)

    asyncio.run(main())


class WorkerPool:
    """N worker processes on one port; see the module docstring."""

    def __init__(self, settings: GatewaySettings, backends: Backends | None = None,
                 start_timeout_s: float = 120.0, max_crashes: int = 5,
                 crash_window_s: float = 60.0, poll_s: float = 0.2):
        check_workers(settings)
        self.settings, self.backends = settings, backends
        self.start_timeout_s, self.poll_s = start_timeout_s, poll_s
        self.max_crashes, self.crash_window_s = max_crashes, crash_window_s
        self._ctx = mp.get_context("spawn")
        self._reports = self._ctx.Queue()
        self._holder, self.port = _reserve_port(settings.host, settings.port)
        self.procs: list = [None] * settings.workers
        self.stopping = threading.Event()
        """Set by SIGTERM/SIGINT (run_workers): start-up and restarts give up waiting."""
        self.restarts = 0
        """Workers restarted and healthy again."""
        self._crashes: collections.deque[float] = collections.deque()

    @property
    def target(self) -> str:
        return f"{self.settings.host}:{self.port}"

    @property
    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None]

    def _spawn(self, slot: int):
        m = self.settings.metrics_port
        values = self.settings.model_dump() | {
            "port": self.port, "workers": 1, "metrics_port": m + slot if m > 0 else m}
        proc = self._ctx.Process(target=_worker_main, name=f"gateway-worker{slot}", args=(
            values, slot, os.getpid(), self._reports, self.backends))
        proc.start()
        self.procs[slot] = proc
        return proc

    def _await_ready(self, slots: set[int]) -> None:
        """Until every slot's current process has reported healthy (else WorkerStartError)."""
        deadline = time.monotonic() + self.start_timeout_s
        while slots:
            if self.stopping.is_set():
                raise WorkerStartError("stopping: gave up waiting for the workers")
            for slot in slots:
                if self.procs[slot].exitcode is not None:
                    raise WorkerStartError(f"gateway worker {slot} (pid {self.procs[slot].pid}) "
                                           f"exited with {self.procs[slot].exitcode} at start-up")
            if time.monotonic() > deadline:
                raise WorkerStartError(f"gateway workers {sorted(slots)} not healthy after "
                                       f"{self.start_timeout_s:.0f} s")
            try:
                slot, pid = self._reports.get(timeout=self.poll_s)
            except queue.Empty:
                continue
            if slot in slots and self.procs[slot].pid == pid:
                slots.discard(slot)

    def start(self) -> WorkerPool:
        """Start every worker; return once all are healthy and the port answers SERVING."""
        from serving.gateway.stack import wait_serving

        try:
            for slot in range(len(self.procs)):
                self._spawn(slot)
            self._await_ready(set(range(len(self.procs))))
            wait_serving(self.target, self.start_timeout_s)
        except BaseException:
            self.stop()
            raise
        log.info("%d gateway workers on %s: pids %s", len(self.procs), self.target, self.pids)
        return self

    def watch(self, stop: threading.Event) -> None:
        """Restart workers that exit unasked until ``stop`` is set (WorkerCrashLoop if they
        keep dying)."""
        while not stop.wait(self.poll_s):
            for slot, proc in enumerate(self.procs):
                if proc.exitcode is not None and not stop.is_set():
                    self._restart(slot, proc.exitcode, stop)

    def _restart(self, slot: int, code: int, stop: threading.Event) -> None:
        now = time.monotonic()
        self._crashes.append(now)
        while self._crashes and now - self._crashes[0] > self.crash_window_s:
            self._crashes.popleft()
        if len(self._crashes) > self.max_crashes:
            raise WorkerCrashLoop(f"gateway workers crashed {len(self._crashes)} times in "
                                  f"{self.crash_window_s:.0f} s (worker {slot} last, exit "
                                  f"code {code}): giving up")
        delay = min(0.5 * 2 ** (len(self._crashes) - 1), 10.0)
        log.warning("gateway worker %d (pid %s) exited unasked with %s: restarting in %.1f s",
                    slot, self.procs[slot].pid, code, delay)
        self.procs[slot].join(1)
        if stop.wait(delay) or self.stopping.is_set():
            return
        self._spawn(slot)
        try:
            self._await_ready({slot})
        except WorkerStartError as err:  # counted as a crash at the next poll
            log.warning("%s", err)
            return
        self.restarts += 1
        log.warning("gateway worker %d restarted: pid %s", slot, self.procs[slot].pid)

    def stop(self, grace_s: float | None = None) -> None:
        """SIGTERM every worker; SIGKILL those still running after the grace (+10 s)."""
        live = [p for p in self.procs if p is not None and p.exitcode is None]
        for proc in live:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + (self.settings.grace_s if grace_s is None else grace_s) + 10
        for proc in live:
            proc.join(max(deadline - time.monotonic(), 0.1))
            if proc.exitcode is None:
                log.warning("gateway worker pid %s did not stop: killed", proc.pid)
                proc.kill()
                proc.join(10)
        if self._holder is not None:
            self._holder.close()
            self._holder = None


def run_workers(settings: GatewaySettings, backends: Backends | None = None) -> int:
    """The parent's life: start, watch, forward SIGTERM/SIGINT; the process's exit code."""
    try:
        pool = WorkerPool(settings, backends)
    except ValueError as err:
        print(f"kpdistill gateway: {err}", file=sys.stderr, flush=True)
        return 2
    stop = pool.stopping
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        pool.start()
    except WorkerStartError as err:
        if stop.is_set():
            return 0
        log.error("%s", err)
        return 1
    print(f"kpdistill gateway listening on {pool.target} with {len(pool.procs)} workers "
          f"(pids {pool.pids})", flush=True)
    code = 0
    try:
        pool.watch(stop)
    except WorkerCrashLoop as err:
        log.error("%s", err)
        code = 2
    log.info("stopping %d gateway workers", len(pool.procs))
    pool.stop()
    return code
