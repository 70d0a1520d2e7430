"""The listing decision: cover, order, ties, duplicates, missing rooms, the preset's verdicts."""

from __future__ import annotations

import pytest

from photoscore.review.decision import NEW_ROOM_BONUS, decide
from photoscore.review.duplicates import DuplicateGroup, DuplicatePair
from photoscore.review.photo import CheckResult
from photoscore.review.presets import get_preset
from photoscore.review.results import PhotoReview
from photoscore.scoring.results import ScoreResult

DARK = CheckResult("dark", 0.2, 0.32, "fail", "too dark: turn the lights on and retake")


def photo(index: int, score: float | None, room: str = "living_room", *failed: CheckResult) -> PhotoReview:
    """A reviewed photo with a score (None: it could not be read), a room and failed checks."""
    result = (
        ScoreResult(f"p{index}", f"L/p{index}.jpg", error="truncated or corrupt image data")
        if score is None
        else ScoreResult(
            f"p{index}", f"L/p{index}.jpg", mean_score_prediction=score, std_score_prediction=1.0
        )
    )
    return PhotoReview(index, result, size=(1600, 1200), room=room, room_probability=0.9, checks=list(failed))


def order(listing) -> list[int]:
    return [p.index for p in listing.photos]


def test_a_bathroom_never_becomes_the_cover_even_when_it_scores_best():
    photos = [photo(0, 7.9, "bathroom"), photo(1, 7.1, "bedroom"), photo(2, 7.4, "kitchen")]
    listing = decide("L", photos, get_preset("airbnb"))
    assert listing.cover is photos[2]
    assert photos[2].cover and photos[2].position == 1
    assert not photos[0].cover


def test_the_cover_passes_every_check_and_a_stand_in_is_explained():
    photos = [photo(0, 8.0, "living_room", DARK), photo(1, 6.0, "bedroom")]
    assert decide("L", photos, get_preset("none")).cover is photos[1]
    alone = [photo(0, 8.0, "living_room", DARK), photo(1, 7.0, "bathroom")]
    listing = decide("L", alone, get_preset("none"))
    assert listing.cover is alone[0]
    assert "passes every check" in listing.cover_note
    assert listing.verdicts["cover"] == "fail"


def test_zillow_puts_the_exterior_first():
    photos = [photo(0, 8.0, "living_room"), photo(1, 6.5, "exterior"), photo(2, 7.0, "kitchen")]
    assert decide("L", photos, get_preset("zillow")).cover is photos[1]
    assert decide("L", photos, get_preset("airbnb")).cover is photos[0]


def test_the_order_prefers_a_room_not_yet_shown_then_failures_duplicates_and_errors():
    photos = [
        photo(0, 8.0, "living_room"),
        photo(1, 7.9, "living_room"),
        photo(2, 7.9 - NEW_ROOM_BONUS + 0.1, "bedroom"),
        photo(3, 9.0, "kitchen", DARK),
        photo(4, 8.0, "living_room"),
        photo(5, None),
    ]
    copies = [DuplicateGroup(keep=0, others=(4,), pairs=(DuplicatePair(0, 4, "exact", 0, 1.0),))]
    listing = decide("L", photos, get_preset("none"), copies)
    assert order(listing) == [0, 2, 1, 3, 4, 5]
    assert [p.position for p in listing.photos] == [1, 2, 3, 4, 5, None]
    assert photos[4].duplicate_of == 0
    assert "the same shot as p0.jpg, which is kept: drop this copy" in photos[4].reasons
    assert listing.acceptable_photos == 3


def test_other_scenes_get_no_new_room_bonus():
    photos = [photo(0, 8.0, "living_room"), photo(1, 7.8, "living_room"), photo(2, 7.6, "other")]
    assert order(decide("L", photos, get_preset("none"))) == [0, 1, 2]


def test_scores_within_the_band_are_tied_and_others_not():
    photos = [photo(0, 7.00, "bedroom"), photo(1, 7.08, "kitchen"), photo(2, 7.50, "living_room")]
    listing = decide("L", photos, get_preset("none"), tie_band=0.15)
    assert photos[0].tied_with == [1] and photos[1].tied_with == [0]
    assert photos[2].tied_with == []
    assert listing.tie_band == 0.15


@pytest.mark.parametrize(
    ("preset", "count_verdict", "missing"),
    [
        ("none", "pass", []),
        ("airbnb", "fail", ["bathroom"]),  # 5 photos needed; living room, bedroom, bathroom
        ("vrbo", "fail", ["exterior", "bathroom"]),
        ("zillow", "pass", ["exterior"]),
    ],
)
def test_each_preset_judges_the_photo_count_and_the_rooms(preset, count_verdict, missing):
    photos = [photo(0, 7.0, "living_room"), photo(1, 6.0, "bedroom"), photo(2, 6.5, "kitchen")]
    listing = decide("L", photos, get_preset(preset))
    assert listing.verdicts["photo_count"] == count_verdict
    assert listing.missing_rooms == missing
    assert listing.verdicts["rooms"] == ("fail" if missing else "pass")
