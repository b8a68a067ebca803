"""Admission control: the gateway takes on no more work than its backends can finish in time.

Work is counted in rows, the texts and (item, keyphrase) pairs a call sends to Triton. A call
that would push the rows in flight past the capacity is refused at once with RESOURCE_EXHAUSTED
instead of queueing behind the others until every caller's deadline has passed. A call is always
admitted when nothing else is in flight, so the largest valid call can run on an idle gateway.
All of it runs on the event loop's thread: no lock.
"""

from __future__ import annotations

from contextlib import contextmanager

from serving.gateway.domain import Overloaded


class Admission:
    def __init__(self, capacity_rows: int):
        if capacity_rows < 1:
            raise ValueError("admission capacity must be >= 1 row")
        self.capacity = capacity_rows
        self.in_flight = 0
        self.refused = 0

    def try_acquire(self, rows: int) -> bool:
        if self.in_flight and self.in_flight + rows > self.capacity:
            self.refused += 1
            return False
        self.in_flight += rows
        return True

    def release(self, rows: int) -> None:
        self.in_flight = max(self.in_flight - rows, 0)

    @contextmanager
    def admit(self, rows: int):
        """Hold ``rows`` for the ``with`` body; :class:`Overloaded` when they do not fit."""
        if not self.try_acquire(rows):
            raise Overloaded(f"the gateway is at capacity ({self.in_flight} of {self.capacity} "
                             f"rows in flight; this call needs {rows}): retry with back-off")
        try:
            yield
        finally:
            self.release(rows)
