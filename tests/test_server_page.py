"""The listing review page in headless Chromium (Debian's package, driven by Playwright): real photos
uploaded as a user would, the listing's facts and the gallery checked against /v1/review, a screenshot."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("playwright")

import httpx
from PIL import Image, ImageEnhance
from playwright.sync_api import Page, expect, sync_playwright
from server_helpers import REPO, running_server

from photoscore.review.presets import preset_names
from photoscore.review.reviewer import DEFAULT_TIE_BAND
from photoscore.scoring.engine import Scorer
from photoscore.scoring.registry import default_model
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
# Real LIVE In the Wild photos of rooms (those tests/test_review_rooms.py checks the room model on), by
# the name a host would give them. LIVE holds no photo of a whole bathroom, so the bathroom cover rule is
# checked through the API (tests/test_server_review.py) and the decision (tests/test_review_decision.py).
ROOM_PHOTOS = {
    "living-room.jpg": "1086.jpg",
    "kitchen.webp": "366.webp",
    "bedroom.jpg": "686.jpg",
}
# What a user reads on each card.
CARDS_JS = """items => items.map(li => ({
    name: li.querySelector('.name').textContent,
    position: li.querySelector('.position').textContent,
    room: li.querySelector('.room')?.textContent ?? null,
    score: li.dataset.score === undefined ? null : Number(li.dataset.score),
    cover: li.classList.contains('cover'),
    tags: [...li.querySelectorAll('.tag')].map(t => t.textContent),
    reasons: [...li.querySelectorAll('.reasons li')].map(r => r.textContent),
    error: li.querySelector('.error')?.textContent ?? null,
    alt: li.querySelector('img').alt,
    caption: li.querySelector('figcaption').innerText}))"""

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium: apt-get install chromium"
)


@pytest.fixture
def listing_photos(tmp_path: Path, livec_dir: Path) -> list[Path]:
    """Three room photos, a darkened photo of a dining room and a second copy of the kitchen, in upload order."""
    folder = tmp_path / "listing"
    folder.mkdir()
    photos = [
        shutil.copyfile(livec_dir / "images" / source, folder / name) for name, source in ROOM_PHOTOS.items()
    ]
    dining = Image.open(livec_dir / "images" / "845.jpg").convert("RGB")
    ImageEnhance.Brightness(dining).enhance(0.12).save(folder / "dining-dark.jpg", quality=92)
    copy = shutil.copyfile(folder / "kitchen.webp", folder / "kitchen-copy.webp")
    return [*photos, folder / "dining-dark.jpg", copy]


def open_page(driver, url: str) -> tuple[object, Page]:
    browser = driver.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
    page = browser.new_page(viewport={"width": 1100, "height": 760})
    page.goto(url)
    return browser, page


def reviewed(url: str, photos: list[Path], preset: str) -> dict:
    """What /v1/review answers for the same upload, to check the page against."""
    files = [("photos", (p.name, p.read_bytes(), "application/octet-stream")) for p in photos]
    response = httpx.post(f"{url}/v1/review", files=files, params={"preset": preset}, timeout=120)
    assert response.status_code == 200
    return response.json()


def room_text(photo: dict) -> str:
    room = photo["room"].replace("_", " ")
    return f"Room: {room[0].upper()}{room[1:]} ({round(photo['room_probability'] * 100)}%)"


def test_page_reviews_a_listing_rooms_reasons_duplicates_cover(listing_photos):
    names = [p.name for p in listing_photos]
    count = len(names)
    settings = ServerSettings(models=[str(default_model())])
    with running_server(settings) as url, sync_playwright() as driver:
        browser, page = open_page(driver, url)
        page.keyboard.press("Tab")
        assert page.evaluate("document.activeElement.id") == "photos"  # the picker comes first by keyboard
        preset = page.get_by_label("Platform rules")
        assert preset.input_value() == "none"
        assert preset.locator("option").evaluate_all("os => os.map(o => o.value)") == preset_names()
        assert "review" in page.title() and "Review a listing" in page.locator("h1").inner_text()

        page.get_by_label("Photos of the listing").set_input_files(listing_photos)
        items = page.locator("#gallery > li")
        expect(page.locator("#status")).to_contain_text(f"{count} photos reviewed.")
        expect(items).to_have_count(count)
        plain = items.evaluate_all(CARDS_JS)
        plain_facts = page.locator("#facts").inner_text()
        expected_plain = reviewed(url, listing_photos, "none")

        preset.select_option("zillow")
        expect(page.locator("#status")).to_contain_text(f"{count} photos reviewed for Zillow.")
        zillow = items.evaluate_all(CARDS_JS)
        facts = {li.get_attribute("data-fact"): li.inner_text() for li in page.locator("#facts li").all()}
        expected = reviewed(url, listing_photos, "zillow")
        page.wait_for_function("[...document.images].every(img => img.complete && img.naturalWidth > 0)")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "server-page.png"), full_page=True)
        browser.close()

    by_name = {p["path"]: p for p in expected["photos"]}
    # The API's own findings that this listing is built to show.
    rooms = {"living-room.jpg": "living_room", "kitchen.webp": "kitchen", "bedroom.jpg": "bedroom"}
    assert {name: by_name[name]["room"] for name in rooms} == rooms
    assert by_name["dining-dark.jpg"]["failed_checks"] and by_name["dining-dark.jpg"]["reasons"]
    assert "dark" in by_name["dining-dark.jpg"]["failed_checks"]
    assert by_name["kitchen-copy.webp"]["duplicate_of"] == "kitchen.webp"
    assert expected["listing"]["missing_rooms"] == ["exterior"]

    for shown, answer in ((plain, expected_plain), (zillow, expected)):
        # Photos in the order to show them, each with its position, room and score.
        assert [s["name"] for s in shown] == [p["path"] for p in answer["photos"]]
        assert [s["position"] for s in shown] == [f"#{i}" for i in range(1, count + 1)]
        assert sorted(s["name"] for s in shown) == sorted(names)
        for card, photo in zip(shown, answer["photos"], strict=True):
            assert card["room"] == room_text(photo)
            assert card["reasons"] == [r[0].upper() + r[1:] for r in photo["reasons"]]
            assert card["score"] == pytest.approx(photo["mean_score_prediction"], abs=1e-3)
            assert f"{photo['mean_score_prediction']:.2f} / 10" in card["caption"]
            assert card["name"] in card["alt"]
        # The cover comes first and is marked; no other photo is.
        assert [s["cover"] for s in shown] == [True] + [False] * (count - 1)
        assert shown[0]["name"] == answer["listing"]["cover"] and "Cover" in shown[0]["tags"]
        assert all("Cover" not in s["tags"] for s in shown[1:])
        # The darkened photo says what to do, on its card; the second copy of the kitchen is marked.
        dark = next(s for s in shown if s["name"] == "dining-dark.jpg")
        assert dark["reasons"] and "To fix" in dark["caption"]
        assert all(reason in dark["caption"] for reason in dark["reasons"])
        copy = next(s for s in shown if s["name"] == "kitchen-copy.webp")
        assert "Duplicate of kitchen.webp" in copy["tags"]
        assert shown[-1]["name"] == "kitchen-copy.webp"  # duplicates go last
        kept = next(s for s in shown if s["name"] == "kitchen.webp")
        assert "Kept over kitchen-copy.webp" in kept["tags"]
        # Ties, where the models cannot tell two photos apart, are marked on both.
        for card, photo in zip(shown, answer["photos"], strict=True):
            tie = [t for t in card["tags"] if t.startswith("Tied with")]
            assert bool(tie) == bool(photo["tied_with"])
            assert all(other in tie[0] for other in photo["tied_with"])

    assert "keep kitchen.webp, drop kitchen-copy.webp" in plain_facts
    assert "no minimum" in plain_facts
    # Zillow: an exterior is required (missing), first as cover (none, so the cover says why).
    assert "Missing: exterior" in facts["rooms"] and facts["rooms"].startswith("To fix")
    acceptable, minimum = expected["listing"]["acceptable_photos"], expected["listing"]["min_photos"]
    assert f"{acceptable} of {count} (Zillow asks for at least {minimum})" in facts["photo_count"]
    assert expected["listing"]["cover"] in facts["cover"]
    assert expected["listing"]["cover_note"] and expected["listing"]["cover_note"][1:] in facts["cover"]
    assert "keep kitchen.webp, drop kitchen-copy.webp (exact copy)" in facts["duplicates"]


def test_page_marks_ties_keeps_a_corrupt_photo_s_error_and_says_when_none_can_be_read(tmp_path, photo_dir):
    model = write_colour_model(tmp_path / "colour.onnx")
    photos = sorted(photo_dir.glob("*.jpg"))[:2]  # astronaut and chelsea: this model cannot tell them apart
    first, second = (r.mean_score_prediction for r in Scorer([model]).score(photos))
    assert abs(first - second) < DEFAULT_TIE_BAND
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a photo")
    with running_server(ServerSettings(models=[str(model)])) as url, sync_playwright() as driver:
        browser, page = open_page(driver, url)
        picker = page.get_by_label("Photos of the listing")
        picker.set_input_files([broken, *photos])
        expect(page.locator("#status")).to_contain_text("2 photos reviewed. ")
        expect(page.locator("#status")).to_contain_text("1 photo could not be reviewed.")
        shown = page.locator("#gallery > li").evaluate_all(CARDS_JS)
        assert [s["name"] for s in shown][-1] == "broken.jpg"
        assert [s["position"] for s in shown] == ["#1", "#2", "Not shown"]
        assert shown[-1]["error"].startswith("Not reviewed: ") and shown[-1]["room"] is None
        assert all(s["room"].startswith("Room: ") for s in shown[:2])
        assert sorted(t for s in shown for t in s["tags"] if t.startswith("Tied")) == [
            "Tied with astronaut.jpg",
            "Tied with chelsea.jpg",
        ]
        expect(page.locator("#facts [data-fact=ties]")).to_contain_text(
            f"2 photos score within {DEFAULT_TIE_BAND} points"
        )

        picker.set_input_files([broken])
        expect(page.locator("#problem")).to_have_text("no photo could be scored")
        expect(page.locator("#gallery > li")).to_have_count(1)
        browser.close()
