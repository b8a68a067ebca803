"""The load side of the reliability bench: send cases, flood, probe health, read memory.

Every request goes to a loopback target; every loop is bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass

import grpc
import numpy as np
from grpc_health.v1 import health_pb2, health_pb2_grpc

from bench.reliability.cases import Case

CHANNEL_OPTIONS = [("grpc.max_send_message_length", 64 * 1024 * 1024),
                   ("grpc.max_receive_message_length", 64 * 1024 * 1024)]


@dataclass
class Outcome:
    case: Case
    code: str
    seconds: float

    @property
    def hang(self) -> bool:
        """Answered (or given up on) more than a second after the caller's deadline."""
        return self.seconds > self.case.timeout_s + 1.0


async def call(channel: grpc.aio.Channel, case: Case) -> Outcome:
    method = channel.unary_unary(case.method)  # bytes in, bytes out
    t0 = time.perf_counter()
    try:
        await method(case.payload, timeout=case.timeout_s)
        code = "OK"
    except grpc.aio.AioRpcError as err:
        code = err.code().name
    return Outcome(case, code, time.perf_counter() - t0)


async def send_all(target: str, cases: list[Case], concurrency: int, progress=None
                   ) -> list[Outcome]:
    """Send every case once, ``concurrency`` at a time."""
    outcomes: list[Outcome] = []
    queue = iter(cases)
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        async def worker():
            for case in queue:
                outcomes.append(await call(channel, case))
                if progress is not None:
                    progress.update(1)
        await asyncio.gather(*(worker() for _ in range(concurrency)))
    return outcomes


async def flood(target: str, payloads: list[tuple[str, bytes]], in_flight: int,
                duration_s: float, timeout_s: float = 10.0) -> tuple[Counter, list[str]]:
    """Keep ``in_flight`` calls open for ``duration_s``; status codes counted, hangs listed
    (code and seconds)."""
    codes: Counter = Counter()
    hangs: list[str] = []
    end = time.monotonic() + duration_s
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        async def worker(i: int):
            n = i
            while time.monotonic() < end:
                method, payload = payloads[n % len(payloads)]
                n += in_flight
                outcome = await call(channel, Case("flood", method, payload, timeout_s))
                codes[outcome.code] += 1
                if outcome.hang:
                    hangs.append(f"{outcome.code} after {outcome.seconds:.1f} s")
        await asyncio.gather(*(worker(i) for i in range(in_flight)))
    return codes, hangs


async def paced(target: str, payloads: list[bytes], method: str, qps: float, duration_s: float,
                timeout_s: float, on_tick=None) -> tuple[Counter, list[float]]:
    """Open-loop load: one call every 1/qps seconds whatever the answers (soak)."""
    codes: Counter = Counter()
    latencies: list[float] = []
    tasks = set()
    start = time.monotonic()
    async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
        async def one(payload: bytes):
            outcome = await call(channel, Case("soak", method, payload, timeout_s))
            codes[outcome.code] += 1
            if outcome.code == "OK":
                latencies.append(outcome.seconds * 1000)

        n = 0
        while (now := time.monotonic()) - start < duration_s:
            due = start + n / qps
            if due > now:
                await asyncio.sleep(due - now)
            task = asyncio.create_task(one(payloads[n % len(payloads)]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            n += 1
            if on_tick is not None:
                on_tick(n)
        await asyncio.gather(*tasks)
    return codes, latencies


def start_health_probe(target: str, duration_s: float, interval_s: float = 0.02
                       ) -> subprocess.Popen:
    """A health-check prober in its own process (its event loop shares nothing with the load)."""
    return subprocess.Popen([sys.executable, "-m", "bench.reliability.probe", target,
                             str(duration_s), str(interval_s)], stdout=subprocess.PIPE, text=True)


def probe_result(process: subprocess.Popen) -> dict:
    out, _ = process.communicate(timeout=600)
    return json.loads(out.strip().splitlines()[-1])


def health_probe(target: str, duration_s: float, interval_s: float) -> dict:
    """Health checks every ``interval_s`` for ``duration_s``: latency percentiles and answers."""
    latencies, answers = [], Counter()
    end = time.monotonic() + duration_s
    with grpc.insecure_channel(target) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while time.monotonic() < end:
            t0 = time.perf_counter()
            try:
                status = stub.Check(health_pb2.HealthCheckRequest(), timeout=5)
                answers[health_pb2.HealthCheckResponse.ServingStatus.Name(status.status)] += 1
            except grpc.RpcError as err:
                answers[err.code().name] += 1
            latencies.append((time.perf_counter() - t0) * 1000)
            time.sleep(interval_s)
    return {"checks": len(latencies), "answers": dict(answers),
            "p50_ms": round(float(np.percentile(latencies, 50)), 2) if latencies else None,
            "p99_ms": round(float(np.percentile(latencies, 99)), 2) if latencies else None,
            "max_ms": round(max(latencies), 2) if latencies else None}


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")
