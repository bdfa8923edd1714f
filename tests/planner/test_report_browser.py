"""The HTML report in a real headless browser (Debian's chromium, driven over the Chrome
DevTools Protocol with tornado's websocket client, which ipykernel already installs).

Checks that the page renders: every image decodes (naturalWidth > 0), nothing is logged
as an error on the console, no request leaves the machine, and a screenshot is not blank.
Skips, saying why, where no chromium binary is installed (`make test` installs it).
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import re
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import pandas as pd  # noqa: E402
import pytest  # noqa: E402

CHROMIUM = next((shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(n)), None)
pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no chromium binary (Debian: apt-get install chromium; "
                             "`make test` tries it)")
tornado_websocket = pytest.importorskip("tornado.websocket",
                                        reason="tornado (an ipykernel dependency) is missing")


class _Browser:
    """A headless chromium with a DevTools endpoint on a free port."""

    def __init__(self, profile: Path) -> None:
        self.proc = subprocess.Popen(
            [CHROMIUM, "--headless=new", "--no-sandbox", "--disable-gpu",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--no-first-run", "--no-default-browser-check", "--disable-extensions",
             "--disable-dev-shm-usage", f"--user-data-dir={profile}",
             "--remote-debugging-port=0", "--window-size=1280,2200", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.port = self._port()

    def _port(self, timeout: float = 60.0) -> int:
        deadline = time.monotonic() + timeout
        assert self.proc.stderr is not None
        while time.monotonic() < deadline:
            line = self.proc.stderr.readline()
            m = re.search(r"DevTools listening on ws://[^:]+:(\d+)/", line)
            if m:
                return int(m.group(1))
            if not line and self.proc.poll() is not None:
                break
        self.close()
        pytest.skip("chromium did not start a DevTools endpoint")

    def new_page(self) -> str:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank",
                                     method="PUT")
        with urllib.request.urlopen(req, timeout=30) as resp:
            return json.loads(resp.read())["webSocketDebuggerUrl"]

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()


class _Page:
    """Just enough CDP: numbered commands, and every event kept for inspection."""

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        self.next_id = 0
        self.events: list[dict[str, Any]] = []

    async def send(self, method: str, **params: Any) -> dict[str, Any]:
        self.next_id += 1
        my_id = self.next_id
        await self.conn.write_message(json.dumps({"id": my_id, "method": method,
                                                  "params": params}))
        while True:
            msg = json.loads(await self.conn.read_message())
            if msg.get("id") == my_id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    async def wait_for(self, method: str, timeout: float = 60.0) -> None:
        if any(e.get("method") == method for e in self.events):
            return
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(await asyncio.wait_for(self.conn.read_message(),
                                                    deadline - time.monotonic()))
            self.events.append(msg)
            if msg.get("method") == method:
                return
        raise TimeoutError(method)


async def _inspect(ws_url: str, page_url: str) -> dict[str, Any]:
    conn = await tornado_websocket.websocket_connect(ws_url, max_message_size=64 << 20)
    page = _Page(conn)
    try:
        for domain in ("Page", "Runtime", "Log", "Network"):
            await page.send(f"{domain}.enable")
        await page.send("Page.navigate", url=page_url)
        await page.wait_for("Page.loadEventFired")
        images = (await page.send(
            "Runtime.evaluate", returnByValue=True, awaitPromise=True,
            expression="Promise.all([...document.images].map(i => i.decode().then("
                       "() => [i.alt, i.naturalWidth, i.naturalHeight], "
                       "() => [i.alt, 0, 0])))"))["result"]["value"]
        title = (await page.send("Runtime.evaluate", expression="document.title",
                                 returnByValue=True))["result"]["value"]
        shot = await page.send("Page.captureScreenshot", format="png")
    finally:
        conn.close()
    return {"images": images, "title": title, "png": base64.b64decode(shot["data"]),
            "events": page.events}


def _errors(events: list[dict[str, Any]]) -> list[str]:
    out = []
    for e in events:
        m, p = e.get("method"), e.get("params", {})
        if m == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
            out.append(f"console: {p.get('args')}")
        elif m == "Runtime.exceptionThrown":
            out.append(f"exception: {p.get('exceptionDetails', {}).get('text')}")
        elif m == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
            out.append(f"log: {p['entry'].get('text')}")
        elif m == "Network.loadingFailed":
            out.append(f"network: {p.get('errorText')}")
    return out


def _requests(events: list[dict[str, Any]]) -> list[str]:
    return [e["params"]["request"]["url"] for e in events
            if e.get("method") == "Network.requestWillBeSent"]


def test_report_renders_in_chromium(runs_frame: pd.DataFrame, tmp_path: Path) -> None:
    from PIL import Image

    from planner.performance.perfmodel import PerformanceModel
    from planner.reports import build_report, write_html
    from planner.reports.figures import figures

    report = build_report(runs=runs_frame, model=PerformanceModel().fit(), n_points=3,
                          loo=False, title="browser <check>")
    path = write_html(report, tmp_path / "report.html")
    browser = _Browser(tmp_path / "profile")
    try:
        result = asyncio.run(_inspect(browser.new_page(), path.as_uri()))
    finally:
        browser.close()

    assert result["title"] == "browser <check>"  # escaped in the source, shown as text
    images = result["images"]
    assert len(images) == len(figures(report)) >= 7
    assert all(w > 0 and h > 0 for _, w, h in images), images
    assert _errors(result["events"]) == []
    # the only request is the file itself (images are data: URIs, nothing remote)
    assert all(u.startswith(("file:", "data:")) for u in _requests(result["events"]))
    shot = Image.open(io.BytesIO(result["png"])).convert("RGB")
    assert shot.width >= 800 and shot.height >= 600
    colours = shot.getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 50  # text, tables, figures: not blank
