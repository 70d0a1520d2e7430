"""Training configs: the original project's JSON as it is, and helpful errors."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from photoscore.training.config import ConfigError, TrainConfig, load_config

REPO = Path(__file__).parents[1]
REPO_CONFIGS = sorted([*(REPO / "configs").glob("*.json"), *(REPO / "recipes").glob("*/config*.json")])

# The original project's MobileNet config, verbatim.
ORIGINAL = """{
  "train_env": "TID2013",
  "docker_image": "nima-cpu",
  "base_model_name": "MobileNet",
  "existing_weights": null,
  "n_classes": 10,
  "batch_size": 96,
  "epochs_train_dense": 5,
  "learning_rate_dense": 0.001,
  "decay_dense": 0,
  "epochs_train_all": 9,
  "learning_rate_all": 0.00003,
  "decay_all": 0.000023,
  "l2_reg": null,
  "dropout_rate": 0.75,
  "multiprocessing_data_load": false,
  "num_workers_data_load": 1,
  "img_format": "jpg"
}
"""


def test_original_config_is_accepted_with_a_note(tmp_path, caplog):
    path = tmp_path / "config_technical_cpu.json"
    path.write_text(ORIGINAL)
    with caplog.at_level(logging.INFO, logger="photoscore"):
        config = load_config(path)
    assert config.base_model_name == "MobileNet"
    assert (config.batch_size, config.epochs_train_dense, config.epochs_train_all) == (96, 5, 9)
    assert config.learning_rate_all == 3e-5 and config.decay_all == 2.3e-5 and config.dropout_rate == 0.75
    assert config.img_format == "jpg"
    notes = [r.getMessage() for r in caplog.records]
    assert any("train_env, docker_image, l2_reg" in n for n in notes)


def test_typo_is_rejected_with_the_valid_keys(tmp_path):
    raw = json.loads(ORIGINAL)
    raw["learning_rate_dence"] = raw.pop("learning_rate_dense")
    path = tmp_path / "typo.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert "typo.json" in message
    assert "unknown key 'learning_rate_dence' (did you mean 'learning_rate_dense'?)" in message
    assert "Valid keys: base_model_name" in message


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "expected a JSON object"),
        ('{"batch_size": 0}', "batch_size: Input should be greater than or equal to 1"),
        ('{"n_classes": 5}', "n_classes"),
        ('{"image_size": 224, "crop_from_size": 200}', "crop_from_size 200 is smaller than image_size 224"),
    ],
)
def test_bad_configs_name_the_problem(tmp_path, text, expected):
    path = tmp_path / "bad.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match=expected):
        load_config(path)


def test_missing_config_file(tmp_path):
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.json")


@pytest.mark.parametrize("path", REPO_CONFIGS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_shipped_configs_load(path):
    assert isinstance(load_config(path), TrainConfig)


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("learning_rate_dense", "Infinity", "learning_rate_dense: Input should be a finite number"),
        ("learning_rate_all", "NaN", "learning_rate_all: Input should be a finite number"),
        ("image_size", "60000", "image_size: Input should be less than or equal to 2048"),
        ("train_resize_ratio", "1e6", "train_resize_ratio: Input should be less than or equal to 4"),
    ],
)
def test_absurd_numbers_are_refused_when_the_config_is_read(tmp_path, key, value, message):
    """These passed validation and failed later with a NaN loss or a MemoryError traceback."""
    path = tmp_path / "config.json"
    path.write_text(f'{{"{key}": {value}}}')
    with pytest.raises(ConfigError, match=message):
        load_config(path)
