"""The web page in headless Chromium (Debian's package, driven by Playwright): upload, gallery, screenshot."""

from __future__ import annotations

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")

from pathlib import Path

from playwright.sync_api import expect, sync_playwright
from server_helpers import REPO, running_server

from photoscore.scoring.engine import Scorer
from photoscore.server.settings import ServerSettings

from conftest import write_colour_model

CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = REPO / "test-artifacts"
# Headless as root, and nothing fetched from outside: this machine's network is closed.
LAUNCH_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install chromium"
)


def test_page_shows_photos_best_first_with_cover_and_flag(tmp_path, photo_dir):
    model = write_colour_model(tmp_path / "colour.onnx")
    photos = sorted(photo_dir.glob("*.jpg"))[:3]
    means = {Path(r.path).name: r.mean_score_prediction for r in Scorer([model]).score(photos)}
    best_first = sorted(means, key=means.__getitem__, reverse=True)
    low, middle = sorted(means.values())[:2]
    settings = ServerSettings(models=[str(model)], flag_below=(low + middle) / 2)
    with running_server(settings) as url, sync_playwright() as driver:
        browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 760})
        page.goto(url)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "photos"  # the picker comes first by keyboard
        page.get_by_label("Photos of the listing").set_input_files(photos)
        items = page.locator("#gallery li")
        expect(items).to_have_count(3)
        expect(page.locator("#status")).to_contain_text("3 photos ranked")
        shown = items.evaluate_all(
            """items => items.map(li => ({
                name: li.querySelector('.name').textContent, score: Number(li.dataset.score),
                cover: li.classList.contains('cover'), flagged: li.classList.contains('flagged'),
                alt: li.querySelector('img').alt, caption: li.querySelector('figcaption').innerText}))"""
        )
        page.wait_for_function("[...document.images].every(img => img.complete && img.naturalWidth > 0)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "server-page.png"), full_page=True)
        browser.close()
    assert [s["name"] for s in shown] == best_first
    assert [s["score"] for s in shown] == sorted((s["score"] for s in shown), reverse=True)
    assert [s["cover"] for s in shown] == [True, False, False]
    assert [s["flagged"] for s in shown] == [False, False, True]
    assert all(s["name"] in s["alt"] for s in shown)
    assert "Suggested cover" in shown[0]["caption"] and "Weak" in shown[2]["caption"]
    assert all("Score" in s["caption"] and "/ 100" in s["caption"] for s in shown)
