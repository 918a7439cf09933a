"""A headless Chromium driven over the DevTools protocol, for layout checks of the HTML report.

`--dump-dom` and `--screenshot` cannot measure a page: whether it overflows sideways at a phone
width, how wide a table column is when printed. The DevTools protocol can (Runtime.evaluate is
not subject to the page's Content-Security-Policy, so the report is measured exactly as shipped),
and it prints to PDF with the print media the measurements used. aiohttp (a dependency of the
okta SDK) speaks the WebSocket.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--hide-scrollbars"]


def console_problems(stderr: str) -> list[str]:
    """The lines of Chromium's stderr that report a page console message, a refusal by the
    Content Security Policy or an uncaught error: a report page must cause none."""
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Refused to" in line or "Uncaught" in line or "Content Security Policy" in line]


class Page:
    """One page of a running Chromium: `call` sends a DevTools command and returns its result."""

    def __init__(self, ws_url: str) -> None:
        self._ws_url = ws_url
        self._ids = itertools.count(1)
        self._loop = asyncio.new_event_loop()
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._loop.run_until_complete(self._open())

    async def _open(self) -> None:
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self._ws_url, max_msg_size=0)

    async def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        assert self._ws is not None
        msg_id = next(self._ids)
        await self._ws.send_str(json.dumps({"id": msg_id, "method": method, "params": params}))
        while True:
            reply = json.loads((await self._ws.receive(timeout=60)).data)
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command; its result."""
        return self._loop.run_until_complete(self._call(method, params))

    def evaluate(self, expression: str) -> Any:
        """The JSON value of a JavaScript expression in the page."""
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression[:80]}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def open(self, url: str, *, width: int, height: int = 900, print_media: bool = False) -> None:
        """Load `url` at a viewport `width` (CSS px), in screen or print media, and wait for it."""
        self.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1,
                  mobile=width < 600)
        self.call("Emulation.setEmulatedMedia", media="print" if print_media else "screen")
        self.call("Page.enable")
        self.call("Page.navigate", url=url)
        deadline = time.monotonic() + 30
        while self.evaluate("document.readyState") != "complete":
            if time.monotonic() > deadline:
                raise TimeoutError(url)
            time.sleep(0.05)

    def screenshot(self, path: Path, *, full_page: bool = True) -> Path:
        """A PNG of the page (the whole scrollable page by default)."""
        params: dict[str, Any] = {"format": "png", "captureBeyondViewport": full_page}
        if full_page:
            size = self.call("Page.getLayoutMetrics")["cssContentSize"]
            params["clip"] = {"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1}
        import base64

        path.write_bytes(base64.b64decode(self.call("Page.captureScreenshot", **params)["data"]))
        return path

    def print_pdf(self, path: Path) -> Path:
        """Print the page to PDF as the browser's print dialog would (A4, default margins:
        the page's @page rule decides)."""
        import base64

        # As the print dialog does: print media and the paper's width, whatever `open` emulated.
        self.call("Emulation.setEmulatedMedia", media="")
        self.call("Emulation.clearDeviceMetricsOverride")
        data = self.call("Page.printToPDF", paperWidth=8.27, paperHeight=11.69, printBackground=True,
                         preferCSSPageSize=True, displayHeaderFooter=False)["data"]
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        """Close the WebSocket."""
        async def shut() -> None:
            if self._ws is not None:
                await self._ws.close()
            if self._session is not None:
                await self._session.close()
        self._loop.run_until_complete(shut())
        self._loop.close()


@contextmanager
def chromium() -> Iterator[Page]:
    """A headless Chromium with a blank page, stopped (and its profile removed) on exit."""
    profile = Path(tempfile.mkdtemp(prefix="auditor-cdp-"))
    proc = subprocess.Popen([str(CHROMIUM), *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-port=0",
                             "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    page = None
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.exists() and port_file.read_text().strip()):
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("chromium did not open its DevTools port")
            time.sleep(0.05)
        port = int(port_file.read_text().split()[0])
        targets = _json(f"http://127.0.0.1:{port}/json/list")
        ws_url = next(t["webSocketDebuggerUrl"] for t in targets if t.get("type") == "page")
        page = Page(ws_url)
        yield page
    finally:
        if page is not None:
            page.close()
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


def _json(url: str) -> Any:
    import urllib.request

    deadline = time.monotonic() + 10
    while True:
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                return json.loads(resp.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# What a layout check needs to know, measured in the page as laid out:
# - overflow: how many CSS px the page is wider than the viewport (sideways scrolling);
# - wide: the outermost elements sticking out past the viewport's right edge (those inside a
#   scrolling box that itself fits are not: the box scrolls, the page does not);
# - narrow: table cells narrower than a word they hold (up to 12 characters of it, measured in the
#   cell's own font), i.e. a column squeezed so that words break letter by letter.
MEASURE_JS = r"""
(() => {
  const vw = document.documentElement.clientWidth;
  const out = {overflow: document.documentElement.scrollWidth - vw, wide: [], narrow: []};
  const canvas = document.createElement("canvas").getContext("2d");
  const visible = (el) => { const r = el.getBoundingClientRect(); return r.width > 0 && r.height > 0; };
  const scrolls = (el) => ["auto", "scroll", "hidden", "clip"].includes(getComputedStyle(el).overflowX);
  const label = (el) => el.tagName.toLowerCase() + (el.className && typeof el.className === "string" ?
                        "." + el.className.trim().split(/\s+/).join(".") : "");
  document.querySelectorAll("body *").forEach((el) => {
    if (!visible(el) || el.getBoundingClientRect().right <= vw + 1) return;
    for (let up = el.parentElement; up && up !== document.body; up = up.parentElement) {
      if (up.getBoundingClientRect().right > vw + 1) return;  // its parent is listed instead
      if (scrolls(up)) return;  // clipped by a box that fits: that box scrolls, not the page
    }
    out.wide.push({what: label(el), right: Math.round(el.getBoundingClientRect().right), viewport: vw});
  });
  // Visually hidden on purpose (for screen readers): clipped to nothing, never read on screen or paper.
  const clipped = (el) => {
    for (; el; el = el.parentElement) { if (getComputedStyle(el).clip !== "auto") return true; }
    return false;
  };
  document.querySelectorAll("table").forEach((table) => {
    if (!visible(table) || clipped(table)) return;
    table.querySelectorAll("th, td").forEach((cell) => {
      if (!visible(cell) || clipped(cell)) return;
      const style = getComputedStyle(cell);
      const inner = cell.getBoundingClientRect().width - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
      let needs = 0, word = "";
      const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        if (!node.parentElement || !visible(node.parentElement)) continue;
        const font = getComputedStyle(node.parentElement);
        canvas.font = font.font;
        canvas.letterSpacing = font.letterSpacing === "normal" ? "0px" : font.letterSpacing;
        const shown = (w) => font.textTransform === "uppercase" ? w.toUpperCase() : w;
        for (const w of node.textContent.split(/\s+/)) {
          const width = canvas.measureText(shown(w.slice(0, 12))).width;
          if (width > needs) { needs = width; word = w.slice(0, 12); }
        }
      }
      if (inner + 1 < needs) {
        out.narrow.push({what: label(table) + " " + label(cell) + " " + JSON.stringify(word),
                         width: Math.round(inner), needs: Math.round(needs)});
      }
    });
  });
  out.wide = out.wide.slice(0, 20);
  out.narrow = out.narrow.slice(0, 40);
  return out;
})()
"""
