"""Rate-limited, one-line error logging: a flood of bad calls must not flood the log."""

from __future__ import annotations

import logging
import time


class RateLimitedLog:
    """Logs each kind of message at most once per ``every_s`` seconds, one line each; the next
    line of that kind says how many were suppressed in between."""

    def __init__(self, logger: logging.Logger, every_s: float = 10.0, max_kinds: int = 1024):
        self.logger = logger
        self.every_s = every_s
        self.max_kinds = max_kinds
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def log(self, level: int, kind: str, message: str, *args) -> bool:
        """Returns whether the line was written."""
        now = time.monotonic()
        last = self._last.get(kind)
        if last is not None and now - last < self.every_s:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False
        if last is None and len(self._last) >= self.max_kinds:  # bounded memory
            self._last.clear()
            self._suppressed.clear()
        self._last[kind] = now
        suppressed = self._suppressed.pop(kind, 0)
        text = (message % args) if args else message
        text = " ".join(text.split())  # one line, whatever the message held
        if suppressed:
            text += f" ({suppressed} more like this in the last {self.every_s:g} s)"
        self.logger.log(level, "%s", text)
        return True

    def warning(self, kind: str, message: str, *args) -> bool:
        return self.log(logging.WARNING, kind, message, *args)

    def error(self, kind: str, message: str, *args) -> bool:
        return self.log(logging.ERROR, kind, message, *args)
