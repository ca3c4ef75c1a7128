"""Headless Chromium (Debian's `chromium`) driven by its own command line: a page's DOM after load, its layout
width at a phone's viewport, and screenshots. Used by the rendering tests and `docs/screenshots.py`. And `Browser`:
the same Chromium driven over its DevTools protocol, to click a page's buttons as a user does."""

import contextlib
import html
import itertools
import json
import re
import shutil
import struct
import subprocess
import zlib
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import aiohttp
import anyio

CHROMIUM = shutil.which("chromium") or next((p for p in ("/usr/bin/chromium",) if Path(p).exists()), None)
PHONE = (390, 900)
"""A phone's CSS viewport (iPhone 12 to 15), in pixels."""


def _run(page: Path, profile: Path, *args: str, size: tuple[int, int] = PHONE) -> str:
    assert CHROMIUM is not None, "no chromium binary"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
               "--disable-background-networking", "--disable-component-update", "--disable-sync",
               "--hide-scrollbars", f"--user-data-dir={profile}", f"--window-size={size[0]},{size[1]}", *args,
               page.as_uri()]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"chromium exited {done.returncode}: {done.stderr[-2000:]}")
    return done.stdout


def dump_dom(document: str, workdir: Path) -> str:
    """The DOM after the page loaded, serialized by the browser."""
    page = workdir / "page.html"
    page.write_text(document, encoding="utf-8")
    return _run(page, workdir / "profile", "--dump-dom")


def layout_width(document: str, workdir: Path, width: int = PHONE[0]) -> tuple[int, int]:
    """(scrollWidth, innerWidth) of `document` shown `width` CSS pixels wide: wider content means sideways
    scrolling on a phone. Measured inside an iframe of that width (headless windows are at least 500 wide)."""
    probe = ('<script>parent.document.body.setAttribute("data-scroll", document.documentElement.scrollWidth);'
             'parent.document.body.setAttribute("data-inner", window.innerWidth);</script>')
    framed = document.replace("</body>", probe + "</body>") if "</body>" in document else document + probe
    harness = (f'<!doctype html><html><body style="margin:0"><iframe style="border:0;width:{width}px;height:900px" '
               f'srcdoc="{html.escape(framed, quote=True)}"></iframe></body></html>')
    dom = dump_dom(harness, workdir)
    found = dict(re.findall(r'data-(scroll|inner)="(\d+)"', dom))
    return int(found["scroll"]), int(found["inner"])


def screenshot(document: str, path: Path, workdir: Path, size: tuple[int, int] = PHONE) -> bytes:
    page = workdir / "shot.html"
    page.write_text(document, encoding="utf-8")
    _run(page, workdir / "profile", f"--screenshot={path}", size=size)
    return path.read_bytes()


def ink(png: bytes) -> float:
    """The share of an image's pixels that differ from its first (background) pixel: 0 for a blank page."""
    width, height = struct.unpack(">II", png[16:24])
    depth, color = png[24], png[25]
    assert depth == 8 and color in (2, 6), "8-bit RGB or RGBA"
    channels = 3 if color == 2 else 4
    data, at = b"", 8
    while at < len(png):
        length, kind = struct.unpack(">I4s", png[at:at + 8])
        if kind == b"IDAT":
            data += png[at + 8:at + 8 + length]
        at += 12 + length
    raw, stride = zlib.decompress(data), width * channels
    rows, previous = [], bytearray(stride)
    for y in range(height):
        kind, line = raw[y * (stride + 1)], bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for x in range(stride):
            left = line[x - channels] if x >= channels else 0
            up, corner = previous[x], previous[x - channels] if x >= channels else 0
            if kind == 1:
                line[x] = (line[x] + left) & 255
            elif kind == 2:
                line[x] = (line[x] + up) & 255
            elif kind == 3:
                line[x] = (line[x] + (left + up) // 2) & 255
            elif kind == 4:
                p = left + up - corner
                pa, pb, pc = abs(p - left), abs(p - up), abs(p - corner)
                line[x] = (line[x] + (left if pa <= pb and pa <= pc else up if pb <= pc else corner)) & 255
        rows.append(bytes(line))
        previous = line
    background = rows[0][:channels]
    pixels = [row[i:i + channels] for row in rows[::4] for i in range(0, stride, channels * 4)]
    return sum(p != background for p in pixels) / len(pixels)


class Page(HTMLParser):
    """A rendered DOM's visible text and links."""

    def __init__(self, dom: str):
        super().__init__()
        self.text: list[str] = []
        self.links: list[tuple[str, str]] = []
        """(text, href) of every link, in order."""
        self._href: str | None = None
        self.feed(dom)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._href = dict(attrs).get("href") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._href = None

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())
            if self._href is not None:
                self.links.append((data.strip(), self._href))


HEADLESS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync"]


class Browser:
    """One headless Chromium tab over the DevTools protocol (a WebSocket, through aiohttp): open a page, click an
    element with the mouse at its place on the screen, read the page the browser ends up on."""

    def __init__(self, socket: aiohttp.ClientWebSocketResponse):
        self._socket = socket
        self._ids = itertools.count(1)
        self._loads = 0

    async def _call(self, method: str, **params: Any) -> dict:
        call = next(self._ids)
        await self._socket.send_json({"id": call, "method": method, "params": params})
        while True:
            message = json.loads((await self._socket.receive(timeout=30)).data)
            if message.get("method") == "Page.loadEventFired":
                self._loads += 1
            if message.get("id") == call:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message.get("result", {})

    async def _until_loaded(self, loads: int) -> None:
        """Read events until the page has loaded `loads` times in all."""
        with anyio.fail_after(30):
            while self._loads < loads:
                message = json.loads((await self._socket.receive()).data)
                if message.get("method") == "Page.loadEventFired":
                    self._loads += 1

    async def evaluate(self, expression: str) -> Any:
        result = await self._call("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def open(self, url: str) -> None:
        loads = self._loads + 1
        await self._call("Page.navigate", url=url)
        await self._until_loaded(loads)

    async def click(self, selector: str) -> None:
        """Press and release the left mouse button on the middle of the element `selector` finds, and wait for the
        page that brings (a form's submit: its POST, the redirect, the page after)."""
        box = await self.evaluate(f"(() => {{ const e = document.querySelector({json.dumps(selector)}); "
                                  "e.scrollIntoView(); const r = e.getBoundingClientRect(); "
                                  "return [r.x + r.width / 2, r.y + r.height / 2]; })()")
        loads = self._loads + 1
        for kind in ("mousePressed", "mouseReleased"):
            await self._call("Input.dispatchMouseEvent", type=kind, x=box[0], y=box[1], button="left", clickCount=1)
        await self._until_loaded(loads)

    async def dom(self) -> str:
        return str(await self.evaluate("document.documentElement.outerHTML"))

    async def location(self) -> str:
        return str(await self.evaluate("location.href"))


@contextlib.asynccontextmanager
async def browser(profile: Path) -> AsyncIterator[Browser]:
    """Chromium with its DevTools on a free loopback port (it prints the port), and a tab driven through them."""
    assert CHROMIUM is not None, "no chromium binary"
    command = [CHROMIUM, *HEADLESS, f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
               "--remote-debugging-port=0", "about:blank"]
    profile.mkdir(parents=True, exist_ok=True)
    log = profile / "chromium.log"  # a file, not a pipe: nothing reads Chromium's chatter after the port
    with log.open("wb") as output:
        process = await anyio.open_process(command, stdout=subprocess.DEVNULL, stderr=output)
    try:
        with anyio.fail_after(60):
            while not (found := re.search(rb"DevTools listening on ws://127.0.0.1:(\d+)/", log.read_bytes())):
                if process.returncode is not None:
                    raise RuntimeError(f"chromium exited {process.returncode}: {log.read_text()[-2000:]}")
                await anyio.sleep(0.05)
        port = int(found[1])
        async with aiohttp.ClientSession() as session:
            async with session.get(f"http://127.0.0.1:{port}/json/list") as answer:
                tabs = [t for t in await answer.json(content_type=None) if t.get("type") == "page"]
            async with session.ws_connect(tabs[0]["webSocketDebuggerUrl"], max_msg_size=0) as socket:
                tab = Browser(socket)
                await tab._call("Page.enable")
                yield tab
    finally:
        process.terminate()
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            await process.wait()
