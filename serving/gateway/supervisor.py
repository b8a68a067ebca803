"""Keeps the stack's processes alive: a crashed Triton or gateway is reaped and restarted.

A supervised process is anything with ``name``, ``start()`` (blocks until it answers),
``exit_code()`` (None while running) and ``reap()`` (kills what is left of its process group,
waits for it and frees what it leaves behind, such as Triton's shared-memory regions).
The supervisor polls them from one thread; a process that exits without being asked is reaped,
then restarted after a back-off that doubles on every crash in a row (0.5 s .. 30 s) and resets
once the process has stayed up for a minute. Every restart is logged and counted in
``kpdistill_stack_restarts_total{process}``; ``kpdistill_stack_up{process}`` says what runs now.

In production the same is done by the platform: see docs/RELIABILITY.md (Kubernetes liveness
and readiness probes on the gateway's gRPC health service and Triton's /v2/health endpoints).
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import CollectorRegistry, Counter, Gauge

log = logging.getLogger("kpdistill.stack")


class Supervised(Protocol):
    name: str

    def start(self) -> object: ...

    def exit_code(self) -> int | None: ...

    def reap(self) -> None: ...


@dataclass
class Restart:
    """One crash and what the supervisor did about it (times from ``time.monotonic``)."""

    process: str
    exit_code: int | None
    detected_at: float
    ready_at: float | None = None
    error: str = ""

    @property
    def restart_s(self) -> float | None:
        return None if self.ready_at is None else self.ready_at - self.detected_at


class Supervisor:
    def __init__(self, processes: list[Supervised], poll_s: float = 0.2,
                 backoff_s: tuple[float, float] = (0.5, 30.0), stable_s: float = 60.0,
                 registry: CollectorRegistry | None = None):
        self.processes = processes
        self.poll_s = poll_s
        self.backoff_min, self.backoff_max = backoff_s
        self.stable_s = stable_s
        self.registry = registry or CollectorRegistry()
        self.restarts_total = Counter("kpdistill_stack_restarts", "Processes restarted after "
                                      "they exited unasked", ["process"], registry=self.registry)
        self.up = Gauge("kpdistill_stack_up", "1 while the process runs", ["process"],
                        registry=self.registry)
        self.restarts: list[Restart] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._crashes_in_a_row = {p.name: 0 for p in processes}
        self._up_since = {p.name: time.monotonic() for p in processes}

    def start(self) -> Supervisor:
        for p in self.processes:
            self.up.labels(p.name).set(1)
        self._thread = threading.Thread(target=self._run, name="stack-supervisor", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop watching (the processes are stopped by their owner, not restarted)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(120)

    def _run(self) -> None:
        while not self._stop.wait(self.poll_s):
            for process in self.processes:
                if self._stop.is_set():
                    return
                code = process.exit_code()
                if code is None:
                    if time.monotonic() - self._up_since[process.name] > self.stable_s:
                        self._crashes_in_a_row[process.name] = 0
                    continue
                self._restart(process, code)

    def _restart(self, process: Supervised, code: int | None) -> None:
        event = Restart(process.name, code, time.monotonic())
        self.restarts.append(event)
        self.up.labels(process.name).set(0)
        self.restarts_total.labels(process.name).inc()
        crashes = self._crashes_in_a_row[process.name] = self._crashes_in_a_row[process.name] + 1
        delay = min(self.backoff_min * 2 ** (crashes - 1), self.backoff_max)
        log.warning("%s exited unasked (code %s): reaped; restarting in %.1f s (crash %d in a "
                    "row)", process.name, code, delay, crashes)
        try:
            process.reap()
        except Exception as err:  # reaping is best effort: restart all the same
            log.warning("%s: reaping failed: %r", process.name, err)
        if self._stop.wait(delay):
            return
        try:
            process.start()
        except Exception as err:
            event.error = " ".join(str(err).split())[:300]
            log.warning("%s did not come back: %s", process.name, event.error)
            return  # exit_code() is set again: the next poll backs off further and retries
        event.ready_at = time.monotonic()
        self._up_since[process.name] = event.ready_at
        self.up.labels(process.name).set(1)
        log.warning("%s restarted in %.1f s", process.name, event.restart_s)
