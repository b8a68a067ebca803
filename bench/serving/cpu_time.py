"""CPU time and load of this machine, for the serving benchmarks (``cpu_bound``,
``tokenize_ab``)."""

from __future__ import annotations

import contextlib
import os


def load_text() -> str:
    """``load average 1.9 / 1.6 / 1.3 (1/5/15 min)`` of this machine now."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f} / {five:.2f} / {fifteen:.2f}"


def cpu_seconds(pid: int) -> float:
    """CPU seconds of ``pid`` and its descendants (Triton's backend stubs, Lite's server)."""
    import psutil

    try:
        root = psutil.Process(pid)
        total = 0.0
        for p in [root, *root.children(recursive=True)]:
            with contextlib.suppress(psutil.Error):
                t = p.cpu_times()
                total += t.user + t.system
        return total
    except psutil.Error:
        return float("nan")
