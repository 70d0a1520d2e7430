"""POST /v1/review over real HTTP: uvicorn on 127.0.0.1, the bundled default model and room model, real
photos and variants made from them (a half-size copy, a darkened copy, a corrupt file)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

pytest.importorskip("fastapi")
pytest.importorskip("httpx")

import httpx
from PIL import Image
from server_helpers import REPO, running_server

from photoscore.review import rooms
from photoscore.review.presets import get_preset, preset_names
from photoscore.review.reviewer import Reviewer
from photoscore.review.rooms import ROOMS, RoomMap
from photoscore.scoring.engine import Scorer
from photoscore.scoring.registry import default_model
from photoscore.server.settings import ServerSettings

EXAMPLES = REPO / "examples"
LISTING_KEYS = {
    "listing",
    "preset",
    "photos",
    "acceptable_photos",
    "min_photos",
    "cover",
    "cover_note",
    "order",
    "rooms_shown",
    "missing_rooms",
    "duplicates",
    "tie_band",
    "verdicts",
    "cover_index",
}
PHOTO_KEYS = {
    "index",
    "image_id",
    "path",
    "mean_score_prediction",
    "std_score_prediction",
    "distribution",
    "normalized_score",
    "rank",
    "group",
    "position",
    "cover",
    "room",
    "room_probability",
    "width",
    "height",
    "checks",
    "failed_checks",
    "reasons",
    "tied_with",
    "duplicate_of",
    "phash",
    "error",
}


@pytest.fixture(scope="module")
def server() -> str:
    with running_server(ServerSettings(models=[str(default_model())], max_wait_ms=20)) as url:
        yield url


@pytest.fixture(scope="module")
def photos(photo_dir: Path) -> dict[str, Path]:
    """scikit-image's real photos by name, and the repository's darkened coffee photo."""
    found = {p.stem: p for p in photo_dir.glob("*.jpg")}
    found["coffee-dark"] = EXAMPLES / "coffee-dark.jpg"
    return found


def post(url: str, paths: list[Path], names: list[str] | None = None, **params: str) -> httpx.Response:
    """/v1/review of the files, uploaded under ``names`` (their own names by default)."""
    names = names or [p.name for p in paths]
    files = [("photos", (n, p.read_bytes(), "image/jpeg")) for n, p in zip(names, paths, strict=True)]
    return httpx.post(f"{url}/v1/review", files=files, params=params, timeout=120)


def broken_file(folder: Path, name: str = "broken.jpg") -> Path:
    path = folder / name
    path.write_bytes(b"\xff\xd8\xff\xe0 truncated: not a photo")
    return path


def test_review_answers_the_listing_and_photos_in_the_order_to_show(server, photos, tmp_path):
    sent = [photos["rocket"], photos["coffee-dark"], photos["chelsea"], photos["astronaut"]]
    response = post(server, sent, listing_id="L7")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"scored", "failed", "listing", "photos"}
    assert (body["scored"], body["failed"]) == (4, 0)
    listing, shown = body["listing"], body["photos"]
    assert set(listing) == LISTING_KEYS
    assert all(set(p) == PHOTO_KEYS for p in shown)
    assert (listing["listing"], listing["preset"], listing["photos"]) == ("L7", "none", 4)
    assert sorted(p["index"] for p in shown) == [0, 1, 2, 3]
    assert all(p["path"] == sent[p["index"]].name for p in shown)
    # The order to show: positions 1..n, the listing's order, the cover first.
    assert [p["position"] for p in shown] == [1, 2, 3, 4]
    assert listing["order"] == [p["path"] for p in shown]
    assert listing["cover"] == shown[0]["path"] and listing["cover_index"] == shown[0]["index"]
    assert [p["cover"] for p in shown] == [True, False, False, False]
    # Photos that pass every check come before those that fail one.
    passing = [not p["failed_checks"] for p in shown]
    assert passing == sorted(passing, reverse=True)
    for photo in shown:
        assert photo["room"] in ROOMS
        assert 0 < photo["room_probability"] <= 1
        assert 1 <= photo["mean_score_prediction"] <= 10 and 0 <= photo["normalized_score"] <= 1
        assert (photo["width"], photo["height"]) == Image.open(sent[photo["index"]]).size
        assert photo["failed_checks"] == [n for n, c in photo["checks"].items() if c["verdict"] == "fail"]
        assert len(photo["reasons"]) >= len(photo["failed_checks"])
        assert len(photo["phash"]) == 16 and photo["error"] is None

    # The server answers what the Python function answers for the same files.
    reviewer = Reviewer(Scorer([default_model()]), get_preset("none"))
    (direct,) = reviewer.review(sent, group_by="none")
    assert [Path(p.result.path).name for p in direct.photos] == [p["path"] for p in shown]
    for mine, theirs in zip(direct.photos, shown, strict=True):
        assert (mine.room, mine.reasons) == (theirs["room"], theirs["reasons"])
        assert mine.score == pytest.approx(theirs["mean_score_prediction"], abs=1e-5)


def test_a_darkened_photo_fails_with_its_reason_and_follows_the_photos_that_pass(server, photos):
    sent = [photos["coffee-dark"], photos["chelsea"], photos["astronaut"]]
    body = post(server, sent).json()
    dark = next(p for p in body["photos"] if p["path"] == "coffee-dark.jpg")
    check = dark["checks"]["dark"]
    assert check["verdict"] == "fail" and check["value"] < check["threshold"]
    assert "dark" in dark["failed_checks"]
    assert any("brightness" in reason for reason in dark["reasons"])
    assert not dark["cover"] and body["listing"]["cover"] != "coffee-dark.jpg"
    assert body["listing"]["acceptable_photos"] <= 2
    passing = [p["position"] for p in body["photos"] if not p["failed_checks"]]
    assert all(position < dark["position"] for position in passing)


def test_a_duplicate_pair_keeps_the_larger_copy(server, photos, tmp_path):
    half = tmp_path / "coffee-half.jpg"
    original = Image.open(photos["coffee"])
    original.resize((original.width // 2, original.height // 2), Image.Resampling.LANCZOS).save(
        half, quality=90
    )
    same = shutil.copyfile(photos["chelsea"], tmp_path / "chelsea-again.jpg")
    sent = [half, photos["chelsea"], photos["coffee"], same, photos["rocket"]]
    body = post(server, sent).json()
    assert body["scored"] == 5
    listing = body["listing"]
    groups = {g["keep"]: g for g in listing["duplicates"]}
    assert set(groups) == {"coffee.jpg", "chelsea.jpg"}
    # The half-size copy came first, yet the larger one is kept; the exact copy keeps the first given.
    assert groups["coffee.jpg"]["copies"] == ["coffee-half.jpg"] and not groups["coffee.jpg"]["exact"]
    assert groups["chelsea.jpg"]["copies"] == ["chelsea-again.jpg"] and groups["chelsea.jpg"]["exact"]
    by_name = {p["path"]: p for p in body["photos"]}
    assert by_name["coffee-half.jpg"]["duplicate_of"] == "coffee.jpg"
    assert by_name["chelsea-again.jpg"]["duplicate_of"] == "chelsea.jpg"
    assert by_name["coffee.jpg"]["duplicate_of"] is None and by_name["chelsea.jpg"]["duplicate_of"] is None
    assert any("coffee.jpg" in reason for reason in by_name["coffee-half.jpg"]["reasons"])
    assert any("chelsea.jpg" in reason for reason in by_name["chelsea-again.jpg"]["reasons"])
    # Duplicates go last, and neither is the cover nor counted as acceptable.
    assert {p["path"] for p in body["photos"][-2:]} == {"chelsea-again.jpg", "coffee-half.jpg"}
    assert listing["cover"] not in ("coffee-half.jpg", "chelsea-again.jpg")
    assert listing["acceptable_photos"] <= 3
    # Duplicates are never tied with anything.
    assert not by_name["coffee-half.jpg"]["tied_with"] and not by_name["chelsea-again.jpg"]["tied_with"]


@pytest.fixture(scope="module")
def portrait(photos: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """coffee.jpg (600x400) turned upright: 400x600, portrait."""
    path = tmp_path_factory.mktemp("portrait") / "portrait.jpg"
    Image.open(photos["coffee"]).rotate(90, expand=True).save(path, quality=92)
    return path


@pytest.mark.parametrize("preset", preset_names())
def test_each_preset_is_accepted_and_applied(server, photos, portrait, preset):
    rules = get_preset(preset)
    response = post(server, [photos["chelsea"], portrait], preset=preset)
    assert response.status_code == 200
    listing = response.json()["listing"]
    assert listing["preset"] == preset and listing["min_photos"] == rules.min_photos
    assert set(listing["missing_rooms"]) <= set(rules.required_rooms)
    assert set(rules.required_rooms) - set(listing["missing_rooms"]) <= set(listing["rooms_shown"])
    assert listing["verdicts"]["rooms"] == ("fail" if listing["missing_rooms"] else "pass")
    assert listing["verdicts"]["photo_count"] == (
        "pass" if listing["acceptable_photos"] >= rules.min_photos else "fail"
    )
    by_name = {p["path"]: p for p in response.json()["photos"]}
    size = by_name["chelsea.jpg"]["checks"]["size"]  # 451x300: under every platform's minimum but Zillow's
    too_small = bool(rules.min_long_edge) or (rules.min_size is not None and rules.min_size[0] > 451)
    assert size["verdict"] == ("fail" if too_small else "pass")
    upright = by_name["portrait.jpg"]["checks"]["orientation"]
    assert upright["verdict"] == ("fail" if rules.orientation == "landscape" else "pass")
    assert by_name["chelsea.jpg"]["checks"]["orientation"]["verdict"] == "pass"


def test_an_unknown_preset_is_422_naming_the_presets(server, photos):
    response = post(server, [photos["chelsea"]], preset="craigslist")
    assert response.status_code == 422
    error = response.json()["error"]
    assert "craigslist" in error and all(name in error for name in preset_names())


def test_a_corrupt_upload_keeps_its_error_while_the_others_are_reviewed(server, photos, tmp_path):
    sent = [photos["chelsea"], broken_file(tmp_path), photos["astronaut"]]
    response = post(server, sent)
    assert response.status_code == 200
    body = response.json()
    assert (body["scored"], body["failed"]) == (2, 1)
    broken = body["photos"][-1]
    assert broken["path"] == "broken.jpg" and broken["index"] == 1 and broken["error"]
    assert broken["position"] is None and broken["room"] is None and not broken["cover"]
    assert broken["mean_score_prediction"] is None and broken["reasons"] == []
    assert [p["position"] for p in body["photos"][:2]] == [1, 2]
    assert "broken.jpg" not in body["listing"]["order"] and body["listing"]["cover_index"] in (0, 2)


def test_nothing_readable_is_400_with_each_error(server, tmp_path):
    sent = [broken_file(tmp_path, "a.jpg"), broken_file(tmp_path, "b.jpg")]
    response = post(server, sent)
    assert response.status_code == 400
    body = response.json()
    assert body["error"] == "no photo could be scored"
    assert (body["scored"], body["failed"]) == (0, 2)
    assert [p["path"] for p in body["photos"]] == ["a.jpg", "b.jpg"] and all(
        p["error"] for p in body["photos"]
    )
    assert body["listing"]["cover"] is None and body["listing"]["order"] == []


def test_no_photos_is_400(server):
    response = httpx.post(f"{server}/v1/review", timeout=30)
    assert response.status_code == 400 and "no photos" in response.json()["error"]


def relabelled_room_map() -> RoomMap:
    """The bundled room map with living room and bathroom swapped: ImageNet classes and weights."""
    data = json.loads((Path(rooms.__file__).parent / "data" / "rooms.json").read_text(encoding="utf-8"))
    swap = {"living_room": "bathroom", "bathroom": "living_room"}
    for entry in data["classes"]:
        entry["room"] = swap.get(entry["room"], entry["room"])
    data["weights"] = {swap.get(room, room): weight for room, weight in data.get("weights", {}).items()}
    return RoomMap.from_dict(data)


def test_a_bathroom_that_scores_best_is_not_the_cover(livec_dir, tmp_path, monkeypatch):
    # LIVE holds no photo of a whole bathroom that the room model recognises, so the room model is told
    # that living rooms are bathrooms: the real living room photo, which scores best of these real
    # photos with the bundled model, is then a bathroom to the review.
    monkeypatch.setattr(RoomMap, "load", classmethod(lambda cls, path=None: relabelled_room_map()))
    sources = {"bathroom.jpg": "1086.jpg", "kitchen.webp": "366.webp", "bedroom.jpg": "686.jpg"}
    sent = [shutil.copyfile(livec_dir / "images" / s, tmp_path / n) for n, s in sources.items()]
    with running_server(ServerSettings(models=[str(default_model())])) as url:
        body = post(url, sent).json()
    by_name = {p["path"]: p for p in body["photos"]}
    assert by_name["bathroom.jpg"]["room"] == "bathroom"
    assert max(by_name.values(), key=lambda p: p["mean_score_prediction"])["path"] == "bathroom.jpg"
    cover = body["listing"]["cover"]
    assert cover is not None and cover != "bathroom.jpg" and not by_name["bathroom.jpg"]["cover"]
    assert by_name[cover]["room"] != "bathroom" and body["photos"][0]["path"] == cover
