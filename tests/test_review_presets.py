"""Platform presets: the bundled data, its sources, and a platform's own file."""

from __future__ import annotations

import json

import pytest

from photoscore.review.presets import PresetError, get_preset, load_preset_file, preset_names


def test_every_bundled_preset_loads_and_names_the_source_of_its_numbers():
    assert preset_names()[0] == "none"
    assert {"airbnb", "vrbo", "booking", "expedia", "zillow"} <= set(preset_names())
    for name in preset_names():
        preset = get_preset(name)
        assert "bathroom" not in preset.cover_rooms
        numbers = {
            "min_size": preset.min_size,
            "min_long_edge": preset.min_long_edge,
            "min_photos": preset.min_photos,
        }
        for key, value in numbers.items():
            if name != "none" and value:
                assert key in preset.sources, f"{name}.{key} has no source"


def test_platform_numbers_match_their_rules():
    assert get_preset("vrbo").min_size == (1024, 683)
    assert get_preset("expedia").min_long_edge == 2880
    assert get_preset("zillow").min_size == (331, 221)
    assert get_preset("zillow").cover_first == "exterior"


def test_a_preset_file_gives_a_platform_its_own_rules(tmp_path):
    path = tmp_path / "mls.json"
    path.write_text(json.dumps({"min_size": [1024, 768], "min_photos": 10, "required_rooms": ["exterior"]}))
    preset = load_preset_file(path)
    assert (preset.name, preset.min_size, preset.min_photos) == ("mls", (1024, 768), 10)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "cannot read a preset"),
        ('{"required_rooms": ["garage"]}', "unknown room 'garage'"),
        ('{"min_photoz": 3}', "min_photoz"),
        ("[1, 2]", "one JSON object"),
    ],
)
def test_a_bad_preset_file_is_refused_with_the_reason(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(PresetError, match=message) as caught:
        load_preset_file(path)
    assert str(path) in str(caught.value)


def test_an_unknown_preset_name_lists_the_known_ones():
    with pytest.raises(PresetError, match="airbnb"):
        get_preset("craigslist")
