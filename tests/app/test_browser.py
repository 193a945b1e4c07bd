"""The page in a real browser: Playwright driving Debian's Chromium against ``inpaintkit serve`` on localhost
with the built-in face model. Open an image, paint a stroke, pick a method, run, download, check the file.

Needs ``apt-get install -y chromium`` (CI installs it); skipped where there is no Chromium."""
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytestmark = pytest.mark.browser
playwright_sync = pytest.importorskip("playwright.sync_api")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SCREENSHOT = os.environ.get("INPAINTKIT_SCREENSHOT")  # also write the finished page here (the README's picture)


@pytest.fixture(scope="module")
def server():
    import uvicorn

    from inpaintkit.app.server.routes import create_app
    from inpaintkit.app.server.session import Session

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = uvicorn.Config(create_app(Session(["faces-32"], "faces-32", device="cpu", threads=None)),
                            host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 30
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    server.should_exit = True
    thread.join(10)


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium (apt-get install -y chromium)")
def test_paint_run_download(server, tmp_path):
    from inpaintkit.models import load_model
    from inpaintkit.sampling import sample
    from inpaintkit.core.images import to_pil
    import torch

    face = sample(load_model("faces-32"), 1, 25, torch.Generator().manual_seed(1), show_progress=False)
    image = to_pil(face).resize((160, 160), Image.BICUBIC)  # any size: the crop-to-mask path does the rest
    image.save(tmp_path / "face.png")
    with playwright_sync.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
            "--disable-sync", "--no-first-run"])
        page = browser.new_page(viewport={"width": 1200, "height": 800}, accept_downloads=True)
        page.goto(server)
        page.wait_for_selector("#method option[value='combine-noisy']", state="attached")
        page.set_input_files("#image-file", str(tmp_path / "face.png"))
        page.wait_for_function("document.getElementById('run').disabled === false")
        box = page.locator("#mask").bounding_box()
        x0, y0 = box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.45
        page.mouse.move(x0, y0)
        page.mouse.down()
        for k in range(1, 11):
            page.mouse.move(x0 + k * box["width"] * 0.04, y0 + k * box["height"] * 0.01)
        page.mouse.up()
        page.select_option("#method", "combine-noisy")
        page.fill("[data-option='steps']", "20")
        page.click("#run")
        page.wait_for_selector("#download:not([hidden])", timeout=120_000)
        assert "done" in page.text_content("#status")
        with page.expect_download() as download:
            page.click("#download")
        path = tmp_path / "result.png"
        download.value.save_as(path)
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        if SCREENSHOT:
            page.screenshot(path=SCREENSHOT, full_page=True)
        browser.close()
    result = np.asarray(Image.open(path).convert("RGB")).astype(int)
    original = np.asarray(image).astype(int)
    assert result.shape == original.shape
    changed = (result != original).any(-1)
    ys, xs = np.nonzero(changed)
    stroke_box = (int(0.3 * 160) - 20, int(0.45 * 160) - 20, int(0.7 * 160) + 20, int(0.55 * 160) + 20)
    assert changed.sum() > 100  # the stroke was filled
    assert xs.min() >= stroke_box[0] and ys.min() >= stroke_box[1] and xs.max() <= stroke_box[2] \
        and ys.max() <= stroke_box[3]  # and nothing outside it changed
    assert Path(tmp_path / "page.png").stat().st_size > 10_000
