"""Open a skyfence viewer folder in Debian's chromium (shared by the viewer page tests).

`open_viewer` serves the folder on 127.0.0.1, loads it headless and waits until the page
reports ready (or an error); it records console errors, page errors and any request that
leaves 127.0.0.1 so the test can assert on them after the browser is closed.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]


@dataclass
class ViewerPage:
    """The loaded page, its ``window.skyfence`` state once ready, and what went wrong."""

    page: Any = None
    state: dict[str, Any] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    outside: list[str] = field(default_factory=list)


@contextmanager
def open_viewer(folder: Path, *, ready_timeout_ms: int, polling_ms: int) -> Iterator[ViewerPage]:
    """Serve ``folder``, load it in chromium and yield once ``window.skyfence`` is settled.

    A missing chromium fails the test (``make test`` installs it); the server is shut down
    and the browser closed on the way out, whatever happens inside the block.
    """
    if shutil.which("chromium") is None and not Path(CHROMIUM).exists():
        pytest.fail("Debian chromium is missing: `make browser` (apt-get install chromium "
                    "chromium-driver)")
    from playwright.sync_api import sync_playwright

    from skyfence.interop.viewer import start_server

    server, url = start_server(folder)
    view = ViewerPage()
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True,
                                         args=CHROMIUM_ARGS)
            try:
                # A small viewport: the software renderer draws ~4x fewer pixels per frame.
                page = browser.new_page(viewport={"width": 480, "height": 320})
                page.on("console",
                        lambda m: view.errors.append(m.text) if m.type == "error" else None)
                page.on("pageerror", lambda e: view.errors.append(str(e)))
                page.on("request", lambda q: view.outside.append(q.url) if not q.url.startswith(
                    ("http://127.0.0.1", "data:", "blob:")) else None)
                page.goto(url)
                page.wait_for_function("window.skyfence && (window.skyfence.ready || "
                                       "window.skyfence.errors.length > 0)",
                                       timeout=ready_timeout_ms, polling=polling_ms)
                view.page = page
                view.state = page.evaluate("window.skyfence")
                yield view
            finally:
                browser.close()
    finally:
        server.shutdown()
