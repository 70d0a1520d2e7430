"""Measure the room model: accuracy per room and the confusion matrix on labelled room photos, and its speed.

    .venv/bin/python scripts/measure_rooms.py [--data /work/data/rooms/eval] [--model FILE] [--map FILE]
        [--speed] [--json OUT]

``--data`` holds one folder per room (``bathroom/``, ``bedroom/``, ``dining_room/``, ``kitchen/``,
``living_room/``, and ``entrance_hall/``, which has no room of its own and is expected as ``other``): the
eval photos of GitHub SilviuBR24/room-classification (Places365, research-only: measure with them, never
commit them). ``--speed`` times the room model against the default scoring model on the same photos (model
only, batch 32, interleaved runs, medians), as a ratio in one process.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from photoscore.images import find_images, load_image
from photoscore.review.rooms import ROOMS, RoomMap, RoomModel
from photoscore.scoring.onnx_model import OnnxNimaModel
from photoscore.scoring.registry import default_model

EXPECTED = {"entrance_hall": "other"}  # folder -> room it should come out as (else the folder's name)
BATCH = 32


def imagenet_softmax(model: RoomModel, paths: list[Path]) -> np.ndarray:
    """(N, 1000) ImageNet softmax of the photos, in batches."""
    size = model.preprocessing.decode_size
    parts = []
    for start in range(0, len(paths), BATCH):
        images = [load_image(p, min_size=(size[1], size[0])) for p in paths[start : start + BATCH]]
        parts.append(model.predict_images(images).imagenet)
    return np.concatenate(parts)


def confusion(truth: list[str], rooms: list[str], folders: list[str]) -> dict[str, dict[str, int]]:
    """Folder -> room -> count."""
    table = {folder: dict.fromkeys(ROOMS, 0) for folder in folders}
    for folder, room in zip(truth, rooms, strict=True):
        table[folder][room] += 1
    return table


def print_table(table: dict[str, dict[str, int]]) -> dict[str, float]:
    """Print the confusion matrix with each folder's accuracy; returns the accuracies."""
    width = max(map(len, ROOMS)) + 1
    print(f"{'true / predicted':<16}" + "".join(f"{r:>{width}}" for r in ROOMS) + f"{'accuracy':>10}")
    accuracy = {}
    for folder, counts in table.items():
        expected = EXPECTED.get(folder, folder)
        accuracy[folder] = counts[expected] / max(1, sum(counts.values()))
        cells = "".join(f"{counts[r]:>{width}}" for r in ROOMS)
        print(f"{folder:<16}{cells}{accuracy[folder]:>9.1%}")
    return accuracy


def model_speed(models: list[RoomModel], photos: list[Path], repeats: int) -> dict[str, float]:
    """Milliseconds per photo (batch 32, medians of interleaved runs) of room models and the default scoring
    model, and each room model's time as a share of the scoring model's."""
    scorer = OnnxNimaModel(default_model())
    images = [load_image(p) for p in (photos * BATCH)[:BATCH]]
    inputs = {
        f"room {m.path.name} {m.preprocessing.input_size[0]}px": (m.predict, m.preprocessing) for m in models
    } | {f"score {scorer.name}": (scorer.predict, scorer.card.preprocessing)}
    batches = {name: np.stack([prep.to_array(i) for i in images]) for name, (_, prep) in inputs.items()}
    times: dict[str, list[float]] = {name: [] for name in inputs}
    for run in range(repeats + 1):
        for name, (predict, _) in inputs.items():
            start = time.perf_counter()
            predict(batches[name])
            if run:  # the first run warms up
                times[name].append((time.perf_counter() - start) * 1000 / BATCH)
    speed = {f"{name} ms/photo": statistics.median(t) for name, t in times.items()}
    score_ms = speed[f"score {scorer.name} ms/photo"]
    for name in list(speed):
        if name.startswith("room"):
            speed[name.replace("ms/photo", "/ score time")] = speed[name] / score_ms
    return speed


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--data", type=Path, default=Path("/work/data/rooms/eval"))
    parser.add_argument("--model", type=Path, help="room model file [the bundled rooms-lite0]")
    parser.add_argument("--map", type=Path, help="room map JSON [the bundled review/data/rooms.json]")
    parser.add_argument(
        "--speed", action="store_true", help="also time the room vs the default scoring model"
    )
    parser.add_argument("--compare", type=Path, nargs="*", default=[], help="other room model files to time")
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path, help="write the figures here")
    args = parser.parse_args()

    model = RoomModel(args.model, room_map=RoomMap.load(args.map) if args.map else None)
    folders = sorted(p.name for p in args.data.iterdir() if p.is_dir())
    paths, truth = [], []
    for folder in folders:
        found = list(find_images([args.data / folder]))
        paths += found
        truth += [folder] * len(found)
    started = time.perf_counter()
    imagenet = imagenet_softmax(model, paths)
    print(
        f"{len(paths)} photos in {time.perf_counter() - started:.1f} s, input {model.preprocessing.input_size}"
    )
    rooms = model.room_map.room_probabilities(imagenet)
    table = confusion(truth, [ROOMS[b] for b in model.room_map.decide(rooms)], folders)
    accuracy = print_table(table)
    figures: dict[str, object] = {"model": str(model.path), "accuracy": accuracy, "confusion": table}
    if args.speed:
        others = [RoomModel(path) for path in args.compare]
        figures["speed"] = speed = model_speed([model, *others], paths[:BATCH], args.repeats)
        print("\n".join(f"{k}: {v:.3f}" for k, v in speed.items()))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=1))


if __name__ == "__main__":
    main()
