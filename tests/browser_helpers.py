"""Open a page in a real headless Chromium over the DevTools protocol (a pipe; standard library only).

``open_page(url, screenshot)`` loads the page, then reports what a user's browser would show as broken:
console messages and errors, failed or non-file requests and images that did not load, and saves a
full-page screenshot.
"""

import base64
import fcntl
import json
import os
import select
import shutil
import subprocess
import tempfile
import time

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--remote-debugging-pipe"]
_IMAGES = ("JSON.stringify(Array.from(document.images, function (i) {"
           " return [i.getAttribute('src'), i.complete, i.naturalWidth, i.naturalHeight]; }))")


def find_chromium():
    """Return the path of a Chromium executable, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def chromium_or_skip(what):
    """Return Chromium's path; without one, skip the test (saying why and what runs it), or fail under CI.

    ``what`` names what the test would have opened in the browser. CI (``.ci/run``) installs Chromium,
    so there its absence is a broken set-up, not a reason to skip.
    """
    import pytest
    browser = find_chromium()
    if browser is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs it (apt-get install -y chromium)")
        pytest.skip("no chromium on this machine, so %s was not opened in a browser: CI does it (.ci/run "
                    "installs Chromium); apt-get install chromium to do it here" % what)
    return browser


class _DevTools(object):
    """The browser end of ``--remote-debugging-pipe``: JSON messages separated by NUL bytes on fds 3 and 4."""

    def __init__(self, browser, user_data_dir):
        to_browser, self._to_browser = os.pipe()
        self._from_browser, from_browser = os.pipe()

        def wire():  # in the child: the protocol's fds are 3 (commands) and 4 (replies)
            a, b = fcntl.fcntl(to_browser, fcntl.F_DUPFD, 10), fcntl.fcntl(from_browser, fcntl.F_DUPFD, 10)
            for fd, target in ((a, 3), (b, 4)):
                os.dup2(fd, target)
                os.set_inheritable(target, True)

        self.log = open(os.path.join(user_data_dir, "chromium.log"), "w")
        self.proc = subprocess.Popen([browser] + FLAGS + ["--user-data-dir=%s" % user_data_dir, "about:blank"],
                                     stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log,
                                     preexec_fn=wire, close_fds=False)
        os.close(to_browser)
        os.close(from_browser)
        self._buffer, self._next, self.events = b"", 0, []

    def _read(self, deadline):
        while b"\0" not in self._buffer:
            left = deadline - time.time()
            if left <= 0 or not select.select([self._from_browser], [], [], left)[0]:
                raise TimeoutError("no reply from the browser")
            chunk = os.read(self._from_browser, 1 << 20)
            if not chunk:
                raise EOFError("the browser closed the DevTools pipe")
            self._buffer += chunk
        message, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(message.decode("utf-8"))

    def send(self, method, params=None, session=None, timeout=30):
        """Send one command; return its result (events that arrive meanwhile are kept in ``events``)."""
        self._next += 1
        message = {"id": self._next, "method": method, "params": params or {}}
        if session:
            message["sessionId"] = session
        os.write(self._to_browser, json.dumps(message).encode("utf-8") + b"\0")
        deadline = time.time() + timeout
        while True:
            reply = self._read(deadline)
            if reply.get("id") == self._next:
                if "error" in reply:
                    raise RuntimeError("%s: %s" % (method, reply["error"]))
                return reply.get("result", {})
            self.events.append(reply)

    def wait_for(self, method, timeout=30):
        """Return the first event ``method`` (received already or next)."""
        deadline = time.time() + timeout
        while True:
            for event in self.events:
                if event.get("method") == method:
                    return event
            self.events.append(self._read(deadline))

    def close(self):
        try:
            self.send("Browser.close", timeout=10)
        except (OSError, EOFError, TimeoutError, RuntimeError):
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_browser)
        os.close(self._from_browser)
        self.log.close()


def _problems(events):
    """What a user would see as broken: console output, exceptions, error log entries, failed requests."""
    out = []
    for event in events:
        method, params = event.get("method"), event.get("params", {})
        if method == "Runtime.consoleAPICalled":
            out.append("console.%s: %s" % (params.get("type"), [a.get("value") for a in params.get("args", [])]))
        elif method == "Runtime.exceptionThrown":
            out.append("exception: %s" % params.get("exceptionDetails", {}).get("text"))
        elif method == "Log.entryAdded" and params.get("entry", {}).get("level") in ("error", "warning"):
            out.append("log %s: %s" % (params["entry"]["level"], params["entry"].get("text")))
        elif method == "Network.loadingFailed":
            out.append("failed to load: %s" % params.get("errorText"))
    return out


def open_page(browser, url, screenshot, width=1300):
    """Load ``url`` in headless ``browser``; save a full-page PNG to ``screenshot``; return what was seen.

    Returns
    -------
    dict
        ``problems`` (console messages, exceptions, error log entries, failed loads), ``requests``
        (every URL the page asked for), ``images`` (``[src, complete, naturalWidth, naturalHeight]``
        of each ``<img>``) and ``title``.
    """
    profile = tempfile.mkdtemp(prefix="casa_plugin-chromium-")
    tools = _DevTools(browser, profile)
    try:
        target = tools.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = tools.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            tools.send(domain + ".enable", session=session)
        tools.send("Emulation.setDeviceMetricsOverride", {"width": width, "height": 900, "deviceScaleFactor": 1,
                                                          "mobile": False}, session=session)
        tools.events[:] = []
        tools.send("Page.navigate", {"url": url}, session=session)
        tools.wait_for("Page.loadEventFired", timeout=60)
        images = json.loads(tools.send("Runtime.evaluate", {"expression": _IMAGES, "returnByValue": True},
                                       session=session)["result"]["value"])
        title = tools.send("Runtime.evaluate", {"expression": "document.title", "returnByValue": True},
                           session=session)["result"]["value"]
        shot = tools.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True},
                          session=session, timeout=60)
        with open(screenshot, "wb") as f:
            f.write(base64.b64decode(shot["data"]))
        events = [e for e in tools.events if e.get("sessionId") == session]
        requests = [e["params"]["request"]["url"] for e in events if e.get("method") == "Network.requestWillBeSent"]
        return {"problems": _problems(events), "requests": requests, "images": images, "title": title}
    finally:
        tools.close()
        shutil.rmtree(profile, ignore_errors=True)
