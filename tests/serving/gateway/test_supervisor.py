"""The supervisor restarts what dies unasked, with back-off, and reports it."""

import os
import signal
import subprocess
import sys
import time

from serving.gateway.supervisor import Supervisor


class SleepProcess:
    """A supervised stand-in: a child that sleeps; ``fail_starts`` starts fail first."""

    def __init__(self, name: str, fail_starts: int = 0):
        self.name = name
        self.process: subprocess.Popen | None = None
        self.starts = self.reaps = 0
        self.fail_starts = fail_starts

    def start(self):
        self.starts += 1
        if self.fail_starts:
            self.fail_starts -= 1
            raise RuntimeError("did not come up")
        self.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                                        start_new_session=True)

    def exit_code(self):
        return -1 if self.process is None else self.process.poll()

    def reap(self):
        self.reaps += 1
        if self.process is not None:
            self.process.kill()
            self.process.wait(10)
            self.process = None

    def stop(self):
        self.reap()


def _wait(predicate, timeout_s=10.0):
    deadline = time.monotonic() + timeout_s
    while not predicate():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_killed_process_is_reaped_restarted_and_counted():
    child, other = SleepProcess("triton"), SleepProcess("gateway")
    child.start(), other.start()
    supervisor = Supervisor([child, other], poll_s=0.05, backoff_s=(0.1, 1.0)).start()
    try:
        first = child.process.pid
        os.kill(first, signal.SIGKILL)
        _wait(lambda: child.process is not None and child.process.pid != first)
        event = supervisor.restarts[0]
        assert (event.process, event.exit_code) == ("triton", -signal.SIGKILL)
        assert event.restart_s is not None and event.restart_s < 2.0
        assert child.reaps == 1 and other.starts == 1  # the other one was left alone
        registry = supervisor.registry
        assert registry.get_sample_value("kpdistill_stack_restarts_total",
                                         {"process": "triton"}) == 1.0
        assert registry.get_sample_value("kpdistill_stack_up", {"process": "triton"}) == 1.0
    finally:
        supervisor.stop()
        child.stop(), other.stop()


def test_failed_restarts_back_off_and_retry():
    child = SleepProcess("gateway")
    child.start()
    supervisor = Supervisor([child], poll_s=0.05, backoff_s=(0.1, 1.0)).start()
    try:
        child.fail_starts = 2
        os.kill(child.process.pid, signal.SIGKILL)
        _wait(lambda: child.starts == 4 and child.exit_code() is None)
        assert child.starts == 4  # the first start, two failures, then up
        crashes = supervisor.restarts
        assert len(crashes) == 3 and crashes[0].error and crashes[-1].restart_s is not None
        gaps = [b.detected_at - a.detected_at for a, b in zip(crashes, crashes[1:], strict=False)]
        assert gaps[1] > gaps[0]  # 0.1 s, then 0.2 s, ...
    finally:
        supervisor.stop()
        child.stop()
