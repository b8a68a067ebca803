"""``make fuzz``: the gateway under hostile input, overload and crashes, on a real stack.

    python -m bench.reliability [--cases 10000] [--soak-s 600] --out docs/results

Starts Triton (the model repository, or stand-in models) and the gateway under the stack's
supervisor on loopback, with the real keyphrase universe in Milvus Lite, then:

1. fuzz: ``--cases`` generated requests (bench.reliability.cases), each graded by the oracle;
2. flood: ``--flood-in-flight`` valid calls kept open while a separate process checks health;
3. empty items: BatchRecommend requests of 1.3 million empty items, health checked likewise;
4. capacity: two callers back to back measure the calls/s the CPU sustains;
5. chaos: SIGKILL Triton, then the gateway, under load; time to the first good answer;
6. soak: ``--soak-s`` seconds at ``--soak-share`` of that capacity, open loop, RSS sampled.

Writes ``reliability.json`` / ``.md`` to ``--out``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import platform
import shlex
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from tqdm import tqdm

from bench.reliability import chaos, client, report
from bench.reliability.cases import BATCH, RECOMMEND, VALID, Case, cases, expected, grade
from components.settings import artifacts_dir
from serving.gateway.settings import GatewaySettings
from serving.proto.kpdistill.v1 import recommender_pb2 as pb

log = logging.getLogger("kpdistill.bench")
BIG = b"\x0a\x00" * 1_300_000


def generate(count: int, gateway: GatewaySettings, seed_value: int) -> list[Case]:
    out: list[Case] = []

    @seed(seed_value)
    @settings(max_examples=count, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cases(gateway))
    def collect(case):
        out.append(case)

    collect()
    return out


def valid_payloads() -> list[bytes]:
    from bench.serving.fixtures import item_message, test_split_items

    items, _ = test_split_items(200)
    return [pb.RecommendRequest(item=item_message(i), k=10).SerializeToString() for i in items]


def fuzz_phase(target: str, generated: list[Case], gateway: GatewaySettings,
               known: set[str], concurrency: int, retry_shed: int, retry_s: float) -> dict:
    """Send every case; then resend up to ``retry_shed`` of the valid ones that were shed
    (RESOURCE_EXHAUSTED), one at a time for at most ``retry_s`` seconds, so the full path is
    fuzzed too, not only admission control."""
    t0 = time.monotonic()
    with tqdm(total=len(generated), desc="fuzz", unit="req") as bar:
        outcomes = asyncio.run(client.send_all(target, generated, concurrency, bar))
    shed = [o.case for o in outcomes if o.code == "RESOURCE_EXHAUSTED"
            and expected(o.case, gateway, known) == VALID][:retry_shed]
    retried = []
    end = time.monotonic() + retry_s
    for case in tqdm(shed, desc="fuzz, shed cases again", unit="req"):
        if time.monotonic() > end:
            break
        retried += asyncio.run(client.send_all(target, [case], 1))
    outcomes += retried
    by_kind: dict[str, dict] = {}
    broken: Counter = Counter()
    mismatches: list[str] = []
    for o in outcomes:
        row = by_kind.setdefault(o.case.kind, {"cases": 0, "codes": Counter()})
        row["cases"] += 1
        row["codes"][o.code] += 1
        expectation = expected(o.case, gateway, known)
        for rule in grade(expectation, o.code):
            broken[rule] += 1
            if rule == "oracle_mismatch" and len(mismatches) < 20:
                mismatches.append(f"{o.case.kind}/{expectation} -> {o.code}")
    return {"cases": len(outcomes), "seconds": round(time.monotonic() - t0, 1),
            "retried_shed": len(retried),
            "retried_codes": dict(Counter(o.code for o in retried)),
            "codes": dict(Counter(o.code for o in outcomes)),
            "by_kind": {k: {"cases": v["cases"], "codes": dict(v["codes"])}
                        for k, v in by_kind.items()},
            "hangs": sum(o.hang for o in outcomes),
            "unknown_or_internal": broken["unknown_or_internal"],
            "unavailable_for_client_errors": broken["unavailable_for_client_errors"],
            "oracle_mismatches": mismatches, "oracle_mismatch_count": broken["oracle_mismatch"]}


def overload_phase(target: str, payloads: list[tuple[str, bytes]], in_flight: int,
                   seconds: float) -> dict:
    probe = client.start_health_probe(target, seconds + 1)
    time.sleep(0.5)
    codes, hangs = asyncio.run(client.flood(target, payloads, in_flight, seconds))
    return {"in_flight": in_flight, "seconds": seconds, "codes": dict(codes),
            "hangs": len(hangs), "hang_calls": hangs[:20],
            "requests": sum(codes.values()), "health": client.probe_result(probe)}


def capacity_qps(target: str, payloads: list[bytes], seconds: float) -> float:
    codes, _ = asyncio.run(client.flood(target, [(RECOMMEND, p) for p in payloads], 2, seconds))
    return codes.get("OK", 0) / seconds


def soak_phase(target: str, pid: int, payloads: list[bytes], qps: float, seconds: float,
               every_s: float = 10.0) -> dict:
    samples: list[float] = [client.rss_mb(pid)]
    last = [time.monotonic()]

    def tick(_n):
        if time.monotonic() - last[0] >= every_s:
            last[0] = time.monotonic()
            samples.append(round(client.rss_mb(pid), 1))

    codes, latencies = asyncio.run(client.paced(target, payloads, RECOMMEND, qps, seconds, 10.0,
                                                tick))
    samples.append(round(client.rss_mb(pid), 1))
    minutes = np.arange(len(samples)) * every_s / 60
    slope = float(np.polyfit(minutes, samples, 1)[0]) if len(samples) > 2 else 0.0
    return {"seconds": seconds, "qps": round(qps, 2), "calls": sum(codes.values()),
            "errors": sum(n for c, n in codes.items() if c != "OK"), "codes": dict(codes),
            "p50_ms": round(float(np.percentile(latencies, 50)), 1) if latencies else None,
            "p99_ms": round(float(np.percentile(latencies, 99)), 1) if latencies else None,
            "rss_every_s": every_s, "rss_mb": [round(s, 1) for s in samples],
            "rss_slope_mb_per_min": round(slope, 3)}


def chaos_phase(stack, name: str, payload: bytes) -> dict:
    process = stack.triton.process if name == "triton" else stack.gateway.process
    before = len(stack.supervisor.restarts)
    result = asyncio.run(chaos.kill_under_load(stack.target, process.pid, payload))
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not any(
            r.ready_at for r in stack.supervisor.restarts[before:] if r.process == name):
        time.sleep(0.2)
    restarts = [r for r in stack.supervisor.restarts[before:] if r.process == name]
    result["supervisor_restart_s"] = next(
        (round(r.restart_s, 2) for r in restarts if r.restart_s is not None), None)
    result["restarts"] = len(restarts)
    return result


def ensure_index(uri: Path) -> set[str]:
    """The real keyphrase universe (MiniLM, as the stand-in repository serves) at ``uri``;
    returns the top-level categories the index knows."""
    from bench.serving.fixtures import build_index
    from components.indexing.builder import universe_records
    from components.indexing.config import IndexConfig
    from components.models.pretrained import minilm_path

    if not uri.exists():
        uri.parent.mkdir(parents=True, exist_ok=True)
        build_index(minilm_path(), str(uri), "reliability")
    return {r.category for r in universe_records(IndexConfig()) if r.category}


def main(argv: list[str] | None = None) -> dict:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model-repository", type=Path, default=artifacts_dir() / "model_repository")
    p.add_argument("--out", type=Path, default=Path("docs/results"))
    p.add_argument("--cases", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=12)
    p.add_argument("--concurrency", type=int, default=8)
    p.add_argument("--retry-shed", type=int, default=300,
                   help="valid fuzz cases shed by admission control to send again, one by one")
    p.add_argument("--retry-shed-s", type=float, default=120.0)
    p.add_argument("--flood-in-flight", type=int, default=200)
    p.add_argument("--flood-s", type=float, default=20.0)
    p.add_argument("--big-requests-s", type=float, default=10.0)
    p.add_argument("--soak-s", type=float, default=600.0)
    p.add_argument("--soak-share", type=float, default=0.6,
                   help="soak rate as a share of the measured capacity")
    p.add_argument("--notes", default="")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    from bench.serving.fixtures import ensure_model_repository
    from serving.gateway.stack import ServingStack

    work = artifacts_dir() / "reliability"
    repository = ensure_model_repository(args.model_repository, artifacts_dir() / "perf")
    index = work / "index" / "keyphrases.db"
    known = ensure_index(index)
    gateway = GatewaySettings()
    generated = generate(args.cases, gateway, args.seed)
    payloads = valid_payloads()
    result: dict = {"command": "python -m bench.reliability " + shlex.join(argv or sys.argv[1:]),
                    "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU",
                    "stack": "tritonserver (PyPI wheel, Python backend + ONNX Runtime on CPU, "
                             "stand-in MiniLM models unless --model-repository has others) + "
                             "gateway process + Milvus Lite (real keyphrase universe), "
                             "supervised, loopback, default gateway settings",
                    "phases": {}}
    with ServingStack(repository, str(index), log_dir=work / "logs", supervise=True) as stack:
        pid = stack.gateway.process.pid
        # warm-up: every path once (lazy imports, channel and arena growth), then the baseline
        asyncio.run(client.flood(stack.target, [(RECOMMEND, x) for x in payloads[:20]], 2, 3))
        asyncio.run(client.send_all(stack.target, generate(200, gateway, args.seed + 1), 8))
        rss_before = client.rss_mb(pid)
        rss = {"before": round(rss_before, 1)}
        print("fuzz ...", flush=True)
        result["phases"]["fuzz"] = fuzz_phase(stack.target, generated, gateway, known,
                                              args.concurrency, args.retry_shed,
                                              args.retry_shed_s)
        result["phases"]["fuzz"].update(seed=args.seed, concurrency=args.concurrency)
        rss["after_fuzz"] = round(client.rss_mb(pid), 1)
        print("flood ...", flush=True)
        result["phases"]["flood"] = overload_phase(
            stack.target, [(RECOMMEND, x) for x in payloads], args.flood_in_flight, args.flood_s)
        rss["after_flood"] = round(client.rss_mb(pid), 1)
        print("1.3M empty items ...", flush=True)
        big = overload_phase(stack.target, [(BATCH, BIG)], 3, args.big_requests_s)
        result["phases"]["empty_items"] = big
        rss_after = client.rss_mb(pid)
        rss["after"] = round(rss_after, 1)
        print("capacity ...", flush=True)
        capacity = capacity_qps(stack.target, payloads, 20.0)
        print("chaos ...", flush=True)
        crashes_before_chaos = len(stack.supervisor.restarts)
        result["phases"]["chaos"] = {name: chaos_phase(stack, name, payloads[0])
                                     for name in ("triton", "gateway")}
        after_chaos = len(stack.supervisor.restarts)
        print(f"soak {args.soak_s:.0f} s ...", flush=True)
        soak = soak_phase(stack.target, stack.gateway.process.pid, payloads,
                          capacity * args.soak_share, args.soak_s)
        soak.update(capacity_qps=round(capacity, 2), share_of_capacity=args.soak_share)
        crashes = crashes_before_chaos + len(stack.supervisor.restarts) - after_chaos
    phases = result["phases"]
    fuzz, flood = phases["fuzz"], phases["flood"]
    result.update({
        "requests": fuzz["cases"] + flood["requests"] + big["requests"],
        "crashes": crashes,  # processes that died outside the chaos phase's own SIGKILLs
        "hangs": fuzz["hangs"] + flood["hangs"] + big["hangs"],
        "unknown_or_internal": fuzz["unknown_or_internal"] + sum(
            phase["codes"].get(c, 0) for phase in (flood, big) for c in ("UNKNOWN", "INTERNAL")),
        "unavailable_for_client_errors": fuzz["unavailable_for_client_errors"]
        + big["codes"].get("UNAVAILABLE", 0),
        "health_p99_ms_under_flood": max(flood["health"]["p99_ms"], big["health"]["p99_ms"]),
        "rss_growth_mb": round(rss_after - rss_before, 1),
        "rss_mb": rss,
        "triton_restart_s": phases["chaos"]["triton"]["first_ok_after_kill_s"],
        "gateway_restart_s": phases["chaos"]["gateway"]["first_ok_after_kill_s"],
        "soak": soak, "notes": args.notes,
    })
    report.write(result, args.out)
    print((args.out / "reliability.md").read_text())
    return result


if __name__ == "__main__":
    main()
