"""The page in a real browser: Debian's headless Chromium driven by Playwright (nothing is downloaded).

A real uvicorn server on 127.0.0.1 (a free port) serves the page over the shipped checkpoints. The test types
"a person walks forward happily", generates, waits until the 3D viewer plays (the frame advances), scrubs
with the mouse to the middle, checks the figure is drawn, saves a screenshot as a test artefact
(``test-artifacts/serve_page.png``, or ``$UNIMOTION_TEST_ARTIFACTS``), downloads the BVH through the page's
link, parses it with the project's reader and uploads it again to caption it. ``scripts/setup_web.sh`` installs Chromium and three.js; the test
skips, saying why, only when Chromium is absent.
"""

from __future__ import annotations

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from unimotion.io.bvh import read_bvh

REPO = Path(__file__).resolve().parents[2]
PROMPT = "a person walks forward happily"
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--use-angle=swiftshader", "--enable-unsafe-swiftshader",
]


def _chromium() -> str:
    for p in (os.environ.get("UNIMOTION_CHROMIUM"), shutil.which("chromium"), "/usr/bin/chromium"):
        if p and Path(p).is_file():
            return p
    pytest.skip("Chromium is not installed (scripts/setup_web.sh installs Debian's `chromium` as root; "
                "it could not here — see its output), so the browser test cannot run")


def _artifacts() -> Path:
    out = Path(os.environ.get("UNIMOTION_TEST_ARTIFACTS", REPO / "test-artifacts"))
    out.mkdir(parents=True, exist_ok=True)
    return out


@pytest.fixture(scope="module")
def server():
    """uvicorn in a thread on 127.0.0.1:<free port>; yields the base URL."""
    import uvicorn

    from unimotion.server.app import create_app, vendored_three_missing
    from unimotion.server.config import ServerConfig

    missing = vendored_three_missing()
    assert not missing, f"three.js is not vendored ({missing}): run `bash scripts/setup_web.sh`"
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(ServerConfig(preload=True)), host="127.0.0.1", port=port, log_level="warning",
                            workers=1)
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    assert srv.started, "uvicorn did not start"
    yield f"http://127.0.0.1:{port}"
    srv.should_exit = True
    thread.join(10)


@pytest.mark.slow
def test_prompt_to_3d_motion_scrub_screenshot_and_bvh_download(server, tmp_path):
    chromium = _chromium()
    from playwright import sync_api  # the [dev] extra; a missing one is a broken set-up, not a reason to skip

    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, headless=True, args=CHROMIUM_FLAGS)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 860}, accept_downloads=True)
            errors: list[str] = []
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(server + "/")
            page.wait_for_selector("body[data-ready=true]", timeout=30_000)
            assert page.evaluate("() => window.unimotion.viewerError") is None
            sync_api.expect(page.locator("#licence")).to_contain_text("non-commercial", timeout=10_000)
            sync_api.expect(page.locator("#licence")).to_contain_text("unimotion_bandaiml")

            # type the prompt, generate
            page.fill("#prompt", PROMPT)
            page.fill("#seconds", "4")
            page.fill("#seed", "0")
            page.click("#generate")
            page.wait_for_selector("#status[data-kind=ok]", timeout=90_000)
            page.evaluate("() => { document.querySelector('#status').dataset.kind = 'seen'; }")
            viewer = page.locator("#viewer")
            assert viewer.get_attribute("data-frames") == "80"

            # the viewer plays: the frame advances by itself
            page.wait_for_selector("#viewer[data-playing=true]")
            first = int(viewer.get_attribute("data-frame"))
            page.wait_for_function(f"() => document.querySelector('#viewer').dataset.frame !== '{first}'",
                                   timeout=10_000)

            # scrub with the mouse to the middle of the slider: playback pauses on that frame
            box = page.locator("#scrub").bounding_box()
            page.mouse.click(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
            page.wait_for_selector("#viewer[data-playing=false]")
            frame = int(viewer.get_attribute("data-frame"))
            assert abs(frame - 40) <= 3, frame
            assert int(page.input_value("#scrub")) == frame
            sync_api.expect(page.locator("#frame-label")).to_have_text(f"{frame + 1} / 80")
            time.sleep(0.3)
            assert int(viewer.get_attribute("data-frame")) == frame  # paused stays paused

            # the figure is drawn: the canvas holds the bone colours (blue left, red right) on the grey floor
            shot = tmp_path / "viewer.png"
            viewer.screenshot(path=str(shot))
            from PIL import Image

            px = np.asarray(Image.open(shot).convert("RGB")).astype(int)
            blue = ((px[..., 2] - px[..., 0] > 60) & (px[..., 2] > 120)).sum()
            red = ((px[..., 0] - px[..., 2] > 60) & (px[..., 0] > 120)).sum()
            assert blue > 150 and red > 150, (blue, red)
            page.screenshot(path=str(_artifacts() / "serve_page.png"))
            if os.environ.get("UNIMOTION_DOCS_SCREENSHOT"):
                page.screenshot(path=os.environ["UNIMOTION_DOCS_SCREENSHOT"])

            # download the BVH through the page's link and read it with the project's reader
            with page.expect_download(timeout=30_000) as dl:
                page.click("#dl-bvh")
            target = tmp_path / dl.value.suggested_filename
            dl.value.save_as(str(target))
            assert target.suffix == ".bvh"
            motion = read_bvh(target)
            assert motion.num_frames == 80 and motion.frame_time == pytest.approx(0.05)
            assert len(motion.names) >= 22

            # upload that BVH on the "Motion file" tab and caption it
            page.click("#tab-motion")
            page.set_input_files("#motion-file", str(target))
            page.click("#caption")
            page.wait_for_selector("#status[data-kind=ok]", timeout=60_000)
            sync_api.expect(page.locator("#result-text")).to_contain_text("Caption:")
            assert not errors, errors
        finally:
            browser.close()
