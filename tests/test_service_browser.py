"""The web console in Debian's chromium (Playwright, headless) against a real ``skyfence serve``:
the page loads without console errors, the map draws, the time slider changes the drawn
cells, a click shows a cell's rule, and a request is filed and decided through the page by two
different users."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import pytest

from _service_helpers import World, make_world, server
from skyfence.policy.store import PolicyStore

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run", "--disable-sync",
        "--disable-dev-shm-usage"]

pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian chromium missing: make test installs it")


def _map_png(page) -> bytes:
    return page.locator("#map").screenshot()


def _pixels(png: bytes):
    import numpy as np
    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _near(img, rgb, tol=40) -> int:
    import numpy as np

    return int((np.abs(img - np.array(rgb)).sum(axis=2) < tol).sum())


def test_console_in_chromium(tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    from skyfence.service.app import npm_dir

    assert npm_dir() is not None, "MapLibre GL JS missing: make setup installs it"
    world: World = make_world(tmp_path)
    with (server(world, "--scenario", str(world.scenario_file), "--rate-limit", "0")
          as (base, _), sync_playwright() as p):
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            _drive(browser, base, world)
        finally:
            browser.close()
    with PolicyStore(world.db, create=False) as st:
        req = [r for r in st.requests() if r.why == "filed in the browser"]
        assert len(req) == 1
        assert req[0].requested_by == "rita" and req[0].status == "approved"
        assert req[0].decisions[-1].decided_by == "abe"
        assert st.get_version().created_by == "abe" and st.verify().ok


def _drive(browser, base: str, world: World) -> None:
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(60_000)  # generous on a loaded machine; a pass takes ~10 s
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    requests_out: list[str] = []
    page.on("request", lambda r: requests_out.append(r.url))
    page.goto(base + "/")
    page.fill("#token", world.token("requester"))
    page.click("#sign-in")
    page.wait_for_function("() => window.skyfence && window.skyfence.ready === true",
                           timeout=90_000)
    page.wait_for_timeout(500)
    assert page.text_content("#whoami-name") == "rita (requester)"

    # the map draws: served (green) and blocked (red) cells on screen
    img0 = _pixels(_map_png(page))
    assert img0.std() > 10, "blank map"
    assert _near(img0, (0x2E, 0x9D, 0x4A), 60) > 500 or _near(img0, (114, 176, 128), 40) > 500
    counts0 = page.evaluate("() => window.skyfence.drawnCounts()")
    assert counts0["served"] > 50 and counts0["blocked"] > 0, counts0

    # moving the slider to 00:10 (step 2): the Moldova curfew turns its cells red
    page.locator("#time").fill("2")
    page.wait_for_function("() => document.getElementById('time-label').textContent"
                           ".includes('(3/7)')")
    page.wait_for_function("() => window.skyfence.drawnCounts().blocked > "
                           f"{counts0['blocked'] + 50}", timeout=10_000)
    counts2 = page.evaluate("() => window.skyfence.drawnCounts()")
    img2 = _pixels(_map_png(page))
    assert counts2 != counts0 and counts2["served"] < counts0["served"]
    assert (abs(img2 - img0).sum(axis=2) > 60).sum() > 2000, "the drawn cells did not change"

    # clicking a Crimea cell shows its rule
    idx = page.evaluate("""() => {
        const f = window.skyfence.state.map.querySourceFeatures('cells')
            .find(x => x.properties.region === 'Crimea');
        return f ? f.properties.i : null; }""")
    assert idx is not None
    xy = page.evaluate(f"() => window.skyfence.pointPixel({idx})")
    box = page.locator("#map").bounding_box()
    page.mouse.click(box["x"] + xy["x"], box["y"] + xy["y"])
    page.wait_for_selector("#point-detail")
    page.wait_for_function("() => document.getElementById('point-detail').textContent"
                           ".includes('crimea-off')")
    detail = page.text_content("#point-detail")
    assert "not activated (test)" in detail and "satellites in view" in detail

    # rita files a request through the form
    page.click("#tabs button[data-tab=requests]")
    page.fill("#req-region", "Crimea")
    page.select_option("#req-action", "on")
    page.fill("#req-why", "filed in the browser")
    page.click("#req-submit")
    page.wait_for_selector(".req[data-status=pending]")
    box_sel = ".req[data-status=pending]"
    assert "by rita" in page.text_content(box_sel)
    assert page.locator(f"{box_sel} .approve").count() == 0, "a requester cannot decide"

    # abe (approver) signs in and approves it
    page.click("#sign-out")
    page.fill("#token", world.token("approver"))
    page.click("#sign-in")
    page.wait_for_function("() => document.getElementById('whoami-name').textContent"
                           ".startsWith('abe')")
    page.click("#tabs button[data-tab=requests]")
    page.wait_for_selector(f"{box_sel} .approve")
    page.fill(f"{box_sel} .decide-reason", "approved in the browser")
    page.click(f"{box_sel} .approve")
    page.wait_for_selector(".req[data-status=approved]")
    assert "approved by abe" in page.text_content(".req[data-status=approved]")
    page.wait_for_function("() => document.getElementById('counts').textContent"
                           ".includes('default v2')")
    # the API docs render offline too (Swagger UI from the npm cache)
    page.goto(base + "/docs")
    page.wait_for_selector(".opblock-summary-path", timeout=60_000)
    assert page.locator(".opblock").count() >= 25
    assert not errors, errors
    assert all(u.startswith(base) or u.startswith("blob:") or u.startswith("data:")
               for u in requests_out), "the page reached outside the server"


def test_chromium_is_debians() -> None:
    assert shutil.which("chromium") == CHROMIUM or Path(CHROMIUM).is_file()
