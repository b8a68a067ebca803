"""SIGKILL a process of the running stack under load and time the recovery.

Recovery is timed from the kill to the first successful Recommend after it; the supervisor's
own record (detected -> process ready again) is reported beside it.
"""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections import Counter

import grpc

from bench.reliability.client import CHANNEL_OPTIONS

RECOMMEND = "/kpdistill.v1.KeyphraseRecommender/Recommend"


async def kill_under_load(target: str, pid: int, payload: bytes, load_in_flight: int = 4,
                          warm_s: float = 3.0, limit_s: float = 60.0) -> dict:
    """Load with ``load_in_flight`` calls at a time; SIGKILL ``pid``; wait for the first OK."""
    codes: Counter = Counter()
    state = {"killed_at": None, "first_ok_at": None}
    end = time.monotonic() + warm_s + limit_s

    async def worker():
        # a fresh channel per call after the kill: a restarted gateway has new connections
        while time.monotonic() < end and state["first_ok_at"] is None:
            started = time.monotonic()
            async with grpc.aio.insecure_channel(target, options=CHANNEL_OPTIONS) as channel:
                try:
                    await channel.unary_unary(RECOMMEND)(payload, timeout=5)
                    code = "OK"
                except grpc.aio.AioRpcError as err:
                    code = err.code().name
            codes[code] += 1
            killed = state["killed_at"]
            if killed is not None and started > killed and code == "OK":  # not answered before
                state["first_ok_at"] = state["first_ok_at"] or time.monotonic()
            if code != "OK":
                await asyncio.sleep(0.1)

    async def killer():
        await asyncio.sleep(warm_s)
        os.kill(pid, signal.SIGKILL)
        state["killed_at"] = time.monotonic()

    await asyncio.gather(killer(), *(worker() for _ in range(load_in_flight)))
    recovered = state["first_ok_at"]
    return {"recovered": recovered is not None,
            "first_ok_after_kill_s": round(recovered - state["killed_at"], 2)
            if recovered else None,
            "codes_during": dict(codes)}
