"""A minimal Chrome DevTools protocol client over `--remote-debugging-pipe` (stdlib only).

Chromium reads commands from file descriptor 3 and writes replies and events to descriptor 4,
each message one JSON object followed by a NUL byte. That needs no websocket library and no
port. `Browser.launch` starts a headless Chromium; `Browser.new_page` opens a tab (a target
attached in flat mode, so its commands carry a `sessionId`).

    with Browser.launch("/usr/bin/chromium", profile_dir) as browser:
        page = browser.new_page(1280, 900)
        page.goto("file:///tmp/report.html")
        page.evaluate("document.title")
        page.screenshot(Path("shot.png"))
"""

from __future__ import annotations

import base64
import fcntl
import itertools
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

# the flags the project's browser tests use: nothing is fetched, nothing is kept
FLAGS = (
    "--headless",
    "--no-sandbox",  # the suite runs as root, where Chromium's sandbox refuses to start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-pipe",
)
TIMEOUT = 30.0


class CdpError(RuntimeError):
    """A command failed, timed out, or the browser went away."""


class Browser:
    def __init__(self, process: subprocess.Popen[bytes], commands: int, replies: int) -> None:
        self._process = process
        self._commands = commands
        self._replies = replies
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._results: dict[int, dict[str, Any]] = {}
        self._events: list[dict[str, Any]] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read, name="cdp-reader", daemon=True)
        self._reader.start()

    @classmethod
    @contextmanager
    def launch(cls, executable: str, profile_dir: Path) -> Iterator[Browser]:
        """Start Chromium with `FLAGS` and its profile in `profile_dir`; stop it afterwards."""
        to_browser_read, to_browser_write = os.pipe()
        from_browser_read, from_browser_write = os.pipe()
        # above 4, so that placing them on 3 and 4 in the child cannot overwrite each other
        child_in = fcntl.fcntl(to_browser_read, fcntl.F_DUPFD_CLOEXEC, 10)
        child_out = fcntl.fcntl(from_browser_write, fcntl.F_DUPFD_CLOEXEC, 10)
        os.close(to_browser_read)
        os.close(from_browser_write)

        def place_pipes() -> None:  # in the child, before exec: os.dup2 makes them inheritable
            os.dup2(child_in, 3)
            os.dup2(child_out, 4)

        process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={profile_dir}", "about:blank"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(3, 4),  # kept open after the preexec function placed them
            preexec_fn=place_pipes,  # a test helper: no other thread runs yet
        )
        os.close(child_in)
        os.close(child_out)
        browser = cls(process, to_browser_write, from_browser_read)
        try:
            yield browser
        finally:
            browser.close()

    # -- protocol ---------------------------------------------------------------------------

    def send(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send one command and wait for its result; raises CdpError on an error reply."""
        number = next(self._ids)
        message: dict[str, Any] = {"id": number, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._commands, json.dumps(message).encode() + b"\0")
        with self._lock:
            if not self._lock.wait_for(lambda: number in self._results or self._closed, TIMEOUT):
                raise CdpError(f"{method}: no answer within {TIMEOUT} s")
            if number not in self._results:
                raise CdpError(f"{method}: the browser went away")
            reply = self._results.pop(number)
        if "error" in reply:
            raise CdpError(f"{method}: {reply['error']}")
        return reply.get("result", {})

    def wait_event(self, method: str, session: str | None, since: int) -> dict[str, Any]:
        """The first `method` event of `session` among the events from index `since` on."""

        def found() -> dict[str, Any] | None:
            for event in self._events[since:]:
                if event.get("method") == method and event.get("sessionId") == session:
                    return event
            return None

        with self._lock:
            if not self._lock.wait_for(lambda: found() is not None or self._closed, TIMEOUT):
                raise CdpError(f"no {method} event within {TIMEOUT} s")
            event = found()
        if event is None:
            raise CdpError(f"the browser went away before {method}")
        return event

    def event_count(self) -> int:
        with self._lock:
            return len(self._events)

    def _read(self) -> None:
        buffer = b""
        while chunk := os.read(self._replies, 1 << 16):
            buffer += chunk
            *messages, buffer = buffer.split(b"\0")
            with self._lock:
                for raw in messages:
                    message = json.loads(raw)
                    if "id" in message:
                        self._results[message["id"]] = message
                    else:
                        self._events.append(message)
                self._lock.notify_all()
        with self._lock:
            self._closed = True
            self._lock.notify_all()

    # -- pages ------------------------------------------------------------------------------

    def new_page(self, width: int, height: int) -> Page:
        target = self.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = self.send("Target.attachToTarget", {"targetId": target, "flatten": True})
        page = Page(self, session["sessionId"])
        page.command("Page.enable")
        page.command("Runtime.enable")
        page.command(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )
        return page

    def close(self) -> None:
        if self._process.poll() is None:
            with suppress(CdpError, OSError):
                self.send("Browser.close")
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait(timeout=10)
        for descriptor in (self._commands, self._replies):
            with suppress(OSError):
                os.close(descriptor)


class Page:
    def __init__(self, browser: Browser, session: str) -> None:
        self.browser = browser
        self.session = session

    def command(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self.browser.send(method, params, self.session)

    def goto(self, url: str) -> None:
        """Navigate and wait for the load event."""
        since = self.browser.event_count()
        navigated = self.command("Page.navigate", {"url": url})
        if navigated.get("errorText"):
            raise CdpError(f"navigating to {url}: {navigated['errorText']}")
        self.browser.wait_event("Page.loadEventFired", self.session, since)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression in the page (JSON-serialisable results)."""
        reply = self.command(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
        )
        if "exceptionDetails" in reply:
            raise CdpError(f"evaluating {expression!r}: {reply['exceptionDetails']}")
        return reply["result"].get("value")

    def console_messages(self) -> list[str]:
        """What the page logged (and uncaught errors), for assertions that nothing ran."""
        kinds = ("Runtime.consoleAPICalled", "Runtime.exceptionThrown")
        with self.browser._lock:
            events = list(self.browser._events)
        return [
            json.dumps(e["params"])
            for e in events
            if e.get("sessionId") == self.session and e.get("method") in kinds
        ]

    def screenshot(self, path: Path) -> Path:
        """A PNG of the whole page (beyond the viewport), written to `path`."""
        size = self.command("Page.getLayoutMetrics")["cssContentSize"]
        clip = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        shot = self.command(
            "Page.captureScreenshot",
            {"format": "png", "captureBeyondViewport": True, "clip": clip},
        )
        path.write_bytes(base64.b64decode(shot["data"]))
        return path

    def wait_for(self, expression: str, timeout: float = TIMEOUT) -> Any:
        """Poll a JavaScript expression until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value or time.monotonic() > deadline:
                return value
            time.sleep(0.05)
