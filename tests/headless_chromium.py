"""Open a page in headless Chromium and look at what it rendered, through the DevTools
protocol over a pipe (``--remote-debugging-pipe``: requests on fd 3, answers on fd 4, each
JSON message ended by a NUL byte), so no driver or websocket package is needed.

Chromium comes from the system (Debian: ``apt-get install chromium-headless-shell`` or
``chromium``; ``make chromium`` does it), or from ``KPDISTILL_CHROMIUM``.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

CANDIDATES = ("chromium-headless-shell", "chromium", "chromium-browser", "google-chrome",
              "headless_shell")


def find_chromium() -> str | None:
    env = os.environ.get("KPDISTILL_CHROMIUM")
    if env:
        return env
    return next((path for name in CANDIDATES if (path := shutil.which(name))), None)


class Chromium:
    """A headless Chromium; ``render(path)`` opens a local file and reports what rendered."""

    def __init__(self, binary: str, width: int = 1280, height: int = 900):
        self.width, self.height = width, height
        to_child_r, self._to_child = os.pipe()
        self._from_child, from_child_w = os.pipe()
        self._profile = tempfile.mkdtemp(prefix="kpdistill-chromium-")

        def at_fds_3_and_4():
            os.dup2(to_child_r, 3)
            os.dup2(from_child_w, 4)

        self.process = subprocess.Popen(
            [binary, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-extensions", "--allow-file-access-from-files",
             f"--user-data-dir={self._profile}", "--remote-debugging-pipe", "about:blank"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=at_fds_3_and_4, pass_fds=(3, 4))
        os.close(to_child_r)
        os.close(from_child_w)
        self._buffer, self._next_id, self._events = b"", 0, []

    # --- the protocol ---------------------------------------------------------------------
    def _read_message(self, deadline: float) -> dict:
        while b"\0" not in self._buffer:
            if time.monotonic() > deadline:
                raise TimeoutError("no answer from Chromium")
            chunk = os.read(self._from_child, 1 << 16)
            if not chunk:
                raise RuntimeError(f"Chromium closed the pipe (exit {self.process.poll()})")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method: str, params: dict | None = None, session: str | None = None,
             timeout_s: float = 30.0) -> dict:
        self._next_id += 1
        message = {"id": self._next_id, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_child, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + timeout_s
        while True:
            answer = self._read_message(deadline)
            if answer.get("id") == self._next_id:
                if "error" in answer:
                    raise RuntimeError(f"{method}: {answer['error']}")
                return answer.get("result", {})
            self._events.append(answer)

    def wait_event(self, method: str, timeout_s: float = 30.0) -> dict:
        deadline = time.monotonic() + timeout_s
        while True:
            for i, event in enumerate(self._events):
                if event.get("method") == method:
                    return self._events.pop(i)
            self._events.append(self._read_message(deadline))

    # --- what the tests use ---------------------------------------------------------------
    def render(self, page: Path, screenshot: Path | None = None) -> dict:
        """Open ``page``; return the rendered tables (rows, cells) and images (natural size,
        displayed size) and, if asked, save a full-page PNG screenshot."""
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget",
                            {"targetId": target, "flatten": True})["sessionId"]
        self.send("Page.enable", session=session)
        self.send("Emulation.setDeviceMetricsOverride",
                  {"width": self.width, "height": self.height, "deviceScaleFactor": 1,
                   "mobile": False}, session=session)
        self.send("Page.navigate", {"url": Path(page).resolve().as_uri()}, session=session)
        self.wait_event("Page.loadEventFired")
        probe = """JSON.stringify({
          title: document.title,
          tables: [...document.querySelectorAll('table')].map(t => ({
            rows: t.rows.length, cells: t.querySelectorAll('td').length,
            height: t.getBoundingClientRect().height})),
          images: [...document.images].map(i => ({complete: i.complete,
            natural_width: i.naturalWidth, natural_height: i.naturalHeight,
            width: i.getBoundingClientRect().width, height: i.getBoundingClientRect().height})),
          headings: [...document.querySelectorAll('h2')].map(h => h.textContent),
          page_height: document.documentElement.scrollHeight})"""
        result = self.send("Runtime.evaluate", {"expression": probe, "returnByValue": True},
                           session=session)
        rendered = json.loads(result["result"]["value"])
        if screenshot is not None:
            shot = self.send("Page.captureScreenshot",
                             {"format": "png", "captureBeyondViewport": True}, session=session)
            Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
            Path(screenshot).write_bytes(base64.b64decode(shot["data"]))
        self.send("Target.closeTarget", {"targetId": target})
        return rendered

    def close(self) -> None:
        with contextlib.suppress(RuntimeError, TimeoutError, OSError):
            self.send("Browser.close", timeout_s=5)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        for fd in (self._to_child, self._from_child):
            with contextlib.suppress(OSError):
                os.close(fd)
        shutil.rmtree(self._profile, ignore_errors=True)

    def __enter__(self) -> Chromium:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
