"""Several gateway worker processes on one port (serving/gateway/workers.py), over real gRPC:
fake models and an in-memory index in spawned workers (unit level), the refusal of a shared
Milvus Lite file through the real command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from worker_fakes import failing_backends, memory_backends

from serving.gateway.settings import GatewaySettings
from serving.gateway.workers import WorkerCrashLoop, WorkerPool, WorkerStartError
from serving.proto.kpdistill.v1 import recommender_pb2 as pb
from serving.proto.kpdistill.v1 import recommender_pb2_grpc as pb_grpc

REPO = Path(__file__).resolve().parents[3]
WINE = pb.Item(item_id="i1", title="Set of 4 red wine glasses", category="Home & Kitchen")
SERVER_URI = "http://127.0.0.1:1"  # never dialled: the workers' searcher is in memory


def settings(workers=2, **values) -> GatewaySettings:
    return GatewaySettings(**{"port": 0, "metrics_port": -1, "milvus_uri": SERVER_URI,
                              "workers": workers, "grace_s": 1.0, **values})


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def answering_pids(target: str, channels: int = 40) -> set[str]:
    """The index collection (named after the worker's pid) answering each new channel."""
    seen = set()
    for _ in range(channels):
        with grpc.insecure_channel(target) as channel:
            resp = pb_grpc.KeyphraseRecommenderStub(channel).Recommend(
                pb.RecommendRequest(item=WINE, k=3), timeout=10)
            assert resp.keyphrases[0].text == "red wine glasses"
            seen.add(resp.index_collection.removeprefix("kp_worker_"))
    return seen


@pytest.fixture
def pool():
    pool = WorkerPool(settings(), memory_backends, start_timeout_s=60).start()
    stop = threading.Event()
    watcher = threading.Thread(target=pool.watch, args=(stop,), daemon=True)
    watcher.start()
    yield pool
    stop.set()
    watcher.join(10)
    pool.stop(grace_s=1)


def test_two_workers_share_the_port_and_both_answer(pool):
    pids = pool.pids
    assert len(set(pids)) == 2 and all(alive(p) for p in pids)
    assert answering_pids(pool.target) == {str(p) for p in pids}


def test_graceful_stop_leaves_no_process_behind(pool):
    pids = pool.pids
    started = time.monotonic()
    pool.stop(grace_s=1)
    assert time.monotonic() - started < 10
    assert not any(alive(p) for p in pids)
    assert all(p.exitcode == 0 for p in pool.procs)  # drained and exited, not killed


def test_a_worker_killed_with_sigkill_is_restarted(pool):
    victim, survivor = pool.pids
    os.kill(victim, signal.SIGKILL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and pool.restarts < 1:  # counted once healthy again
        time.sleep(0.2)
    assert pool.restarts == 1 and victim not in pool.pids and survivor in pool.pids
    assert answering_pids(pool.target) == {str(p) for p in pool.pids}


def test_a_worker_dying_at_start_up_fails_the_start():
    with pytest.raises(WorkerStartError, match="exited with 1 at start-up"):
        WorkerPool(settings(), failing_backends, start_timeout_s=30).start()


def test_a_crash_loop_stops_the_pool():
    pool = WorkerPool(settings(workers=1), memory_backends, max_crashes=1,
                      crash_window_s=60).start()
    stop = threading.Event()
    errors = []

    def watch():
        try:
            pool.watch(stop)
        except WorkerCrashLoop as err:
            errors.append(err)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        for _ in range(2):
            deadline = time.monotonic() + 20
            while pool.procs[0].exitcode is not None and time.monotonic() < deadline:
                time.sleep(0.1)
            os.kill(pool.pids[0], signal.SIGKILL)
            time.sleep(0.5)
        watcher.join(20)
        assert errors and "giving up" in str(errors[0])
    finally:
        stop.set()
        pool.stop(grace_s=1)


def test_several_workers_refuse_a_milvus_lite_file(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(REPO), "KPDISTILL_GATEWAY_PORT": "0",
           "KPDISTILL_GATEWAY_MILVUS_URI": str(tmp_path / "kp.db")}
    out = subprocess.run([sys.executable, "-m", "serving.gateway", "--workers", "2"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 2
    message = out.stdout + out.stderr
    assert "Milvus Lite" in message and "http://host:19530" in message
    assert "SEARCH_BACKEND=exact or auto" in message


def test_the_parent_forwards_sigterm_and_leaves_no_process_behind():
    """run_workers in its own process (what `--workers 2` runs), stopped with SIGTERM."""
    here = Path(__file__).resolve().parent
    code = ("import sys; from worker_fakes import memory_backends; "
            "from test_gateway_workers import settings; "
            "from serving.gateway.workers import run_workers; "
            "sys.exit(run_workers(settings(), memory_backends))")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(here)])}
    parent = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        line = ""
        while "workers (pids" not in line:
            line = parent.stdout.readline()
            assert line or parent.poll() is None, "the parent exited before it was ready"
        target = line.split(" on ")[1].split()[0]
        pids = [int(p) for p in line.split("[")[1].split("]")[0].split(",")]
        assert answering_pids(target) == {str(p) for p in pids}
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(30) == 0
        assert not any(alive(p) for p in pids)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
