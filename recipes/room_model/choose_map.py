"""Choose the ImageNet -> room map and its numbers by measuring on the Places365 room photos (train split).

    python recipes/room_model/choose_map.py [--train /work/data/rooms/train] [--per-room 1000] \
        [--model src/photoscore/models/rooms-lite0.onnx] [--work /tmp/rooms-work] [--out rooms.json]

Nothing here is trained: the room model is the ImageNet classifier as published. The Places365 photos
(research-only) only *choose* which ImageNet classes count for which room and four numbers:

1. The ImageNet softmax of ``--per-room`` seeded photos of each room folder (cached under ``--work``).
2. The map: ``HAND_MAP`` (classes whose meaning names a room, and the exterior classes, which these indoor
   photos cannot judge) overlaid by measurement: each of the ``--top`` ImageNet classes with the most mean
   probability over the photos goes to the room folder where its mean probability is highest
   (``entrance_hall``, no room of its own, means "other"). ``NOT_ROOMS`` (names a person would not read as
   a room of a home: shops, churches, "prison") stay "other" whatever the photos say.
3. On a grid: the temperature, the prior weights of bedroom, kitchen, living room and dining room, chosen
   to maximise the mean train accuracy of the five rooms plus the worst of them; then ``min_probability``,
   the largest that costs at most ``--other-cost`` of the mean room accuracy (photos below it are "other":
   that is what keeps a cat or a rocket out of the rooms).

The map is written as JSON in the shape of ``photoscore/review/data/rooms.json``; eval accuracy is measured
separately (scripts/measure_rooms.py on the eval folders, never seen here).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
from pathlib import Path

import numpy as np

from photoscore.images import find_images, load_image
from photoscore.review.rooms import OTHER, ROOMS, RoomMap, RoomModel

FOLDERS = ("bathroom", "bedroom", "dining_room", "entrance_hall", "kitchen", "living_room")
EXPECTED = np.asarray([ROOMS.index(f) if f in ROOMS else OTHER for f in FOLDERS])
ROOM_FOLDERS = [i for i, f in enumerate(FOLDERS) if f in ROOMS]
SEED = 2026
BATCH = 32

# Hand-made: ImageNet classes whose meaning names a room or a building's outside.
HAND_MAP: dict[str, tuple[int, ...]] = {
    # bathtub, toilet seat, washbasin, shower curtain, soap dispenser, toilet tissue, medicine chest, bath
    # towel, shower cap, plunger
    "bathroom": (435, 861, 896, 794, 804, 999, 648, 434, 793, 731),
    "bedroom": (564, 750, 721, 520, 516, 431, 669),  # four-poster, quilt, pillow, crib, cradle, bassinet, net
    # refrigerator, dishwasher, microwave, stove, toaster, espresso maker, Dutch oven, frying pan, wok,
    # plate rack, Crock Pot
    "kitchen": (760, 534, 651, 827, 859, 550, 544, 567, 909, 729, 521),
    # entertainment center, home theater, fire screen, rocking chair, bookcase, television
    "living_room": (548, 598, 556, 765, 453, 851),
    "dining_room": (532, 495),  # dining table, china cabinet
    # patio, boathouse, mobile home, barn, castle, thatch, tile roof, picket fence, worm fence, greenhouse,
    # cliff dwelling, yurt, park bench, lakeside, valley, seashore. Not palace, monastery, church: on the
    # Places photos they are what grand entrance halls look like.
    "exterior": (706, 449, 660, 425, 483, 853, 858, 716, 912, 580, 500, 915, 703, 975, 979, 978),
}
NOT_ROOMS = (
    "prison", "library", "barbershop", "barber chair", "cinema", "shop", "bookstore", "grocery", "bakery",
    "confectionery", "butcher", "planetarium", "church", "monastery", "mosque", "palace", "throne", "altar",
    "vault", "turnstile", "organ", "lumbermill", "pool table", "guillotine", "stretcher", "photocopier",
    "file cabinet", "potter's wheel", "safe", "slot", "passenger car",
)  # fmt: skip


NOTES = (
    "ImageNet-1k class -> room for photoscore.review.rooms, applied to the rooms-lite0 softmax: a room's "
    "probability is the summed softmax (after the temperature) of its classes times its weight, renormalised "
    "with 'other' = every class not listed; a photo is its best room when that reaches min_probability, else "
    "'other'. Chosen by recipes/room_model/choose_map.py: a hand-made map (classes naming a room; exterior "
    "classes, fixed by hand) overlaid by the room folder with the most mean probability for the {top} classes "
    "with the most mass on {per_room} Places365 train photos per room (entrance hall -> other; shops, churches "
    "and the like vetoed by hand); temperature and weights on a grid (mean + worst room accuracy), "
    "min_probability the largest costing at most {other_cost} of it. Places365 is research-only: its photos "
    "only chose this list and these numbers; nothing is fitted on them."
)


def softmax_cache(model: RoomModel, train: Path, per_room: int, work: Path) -> tuple[np.ndarray, np.ndarray]:
    """(N, 1000) ImageNet softmax and (N,) folder index of a seeded sample, computed once per input size."""
    cache = work / f"train-{model.preprocessing.input_size[0]}-{per_room}.npz"
    if cache.is_file():
        saved = np.load(cache)
        return saved["imagenet"], saved["folders"]
    paths, folders = [], []
    for index, folder in enumerate(FOLDERS):
        found = sorted(find_images([train / folder]))
        chosen = random.Random(f"{SEED}-{folder}").sample(found, min(per_room, len(found)))
        paths += chosen
        folders += [index] * len(chosen)
    parts = []
    for start in range(0, len(paths), BATCH):
        parts.append(model.predict_images([load_image(p) for p in paths[start : start + BATCH]]).imagenet)
    imagenet, labels = np.concatenate(parts), np.asarray(folders)
    work.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(cache, imagenet=imagenet, folders=labels)
    return imagenet, labels


def choose_classes(imagenet: np.ndarray, folders: np.ndarray, names: tuple[str, ...], top: int) -> np.ndarray:
    """(1000,) room index of each ImageNet class: the hand map overlaid by each top class's best folder."""
    class_rooms = np.full(len(names), OTHER, dtype=np.intp)
    for room, indices in HAND_MAP.items():
        class_rooms[list(indices)] = ROOMS.index(room)
    mean = np.stack([imagenet[folders == f].mean(axis=0) for f in range(len(FOLDERS))], axis=1)
    exterior = set(HAND_MAP["exterior"])
    for k in np.argsort(-mean.sum(axis=1))[:top]:
        if int(k) not in exterior:
            vetoed = any(word in names[k] for word in NOT_ROOMS)
            class_rooms[k] = OTHER if vetoed else EXPECTED[mean[k].argmax()]
    return class_rooms


def accuracy(decided: np.ndarray, folders: np.ndarray) -> np.ndarray:
    """Each folder's share of photos decided as its expected room."""
    return np.asarray([(decided[folders == f] == EXPECTED[f]).mean() for f in range(len(FOLDERS))])


def choose_numbers(
    class_rooms: np.ndarray, imagenet: np.ndarray, folders: np.ndarray, other_cost: float
) -> RoomMap:
    """Temperature and priors on a grid (mean + worst room accuracy), then the minimum probability."""
    best: tuple[float, RoomMap] | None = None
    for temperature in (0.5, 0.75, 1.0, 1.5, 2.0):
        rooms = RoomMap(class_rooms, temperature, min_probability=0.0).room_probabilities(imagenet)
        for bed, kitchen, living, dining in itertools.product(
            (0.6, 0.8, 1.0, 1.25),
            (0.6, 0.8, 1.0, 1.25, 1.6),
            (1.0, 1.25, 1.6, 2.0, 2.5, 3.0),
            (0.6, 0.8, 1.0, 1.25, 1.6),
        ):
            weights = (1.0, bed, kitchen, living, dining, 1.0)
            decided = (rooms[:, :OTHER] * weights).argmax(axis=1)
            room_accuracy = accuracy(decided, folders)[ROOM_FOLDERS]
            objective = room_accuracy.mean() + room_accuracy.min()
            if best is None or objective > best[0]:
                best = (objective, RoomMap(class_rooms, temperature, weights, 0.0))
    assert best is not None
    chosen = best[1]
    floor = (
        accuracy(chosen.decide(chosen.room_probabilities(imagenet)), folders)[ROOM_FOLDERS].mean()
        - other_cost
    )
    for threshold in (0.3, 0.25, 0.2, 0.15, 0.1, 0.05):
        trial = RoomMap(class_rooms, chosen.temperature, chosen.weights, threshold)
        if accuracy(trial.decide(trial.room_probabilities(imagenet)), folders)[ROOM_FOLDERS].mean() >= floor:
            return trial
    return chosen


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--train", type=Path, default=Path("/work/data/rooms/train"))
    parser.add_argument("--per-room", type=int, default=1000)
    parser.add_argument("--model", type=Path, help="room model file [the bundled rooms-lite0]")
    parser.add_argument("--work", type=Path, default=Path("/tmp/rooms-work"))
    parser.add_argument("--top", type=int, default=30, help="ImageNet classes placed by measurement")
    parser.add_argument("--other-cost", type=float, default=0.05, help="room accuracy the threshold may cost")
    parser.add_argument("--out", type=Path, help="write the chosen map here")
    args = parser.parse_args()

    model = RoomModel(args.model)
    names = model.card.classes or ()
    imagenet, folders = softmax_cache(model, args.train, args.per_room, args.work)
    chosen = choose_numbers(
        choose_classes(imagenet, folders, names, args.top), imagenet, folders, args.other_cost
    )
    train_accuracy = accuracy(chosen.decide(chosen.room_probabilities(imagenet)), folders)
    print("train accuracy:", dict(zip(FOLDERS, np.round(train_accuracy, 3).tolist(), strict=True)))
    print(
        f"temperature {chosen.temperature}, weights {chosen.weights}, min_probability {chosen.min_probability}"
    )
    for room in ROOMS[:OTHER]:
        mapped = [names[k].split(",")[0] for k in np.flatnonzero(chosen.class_rooms == ROOMS.index(room))]
        print(f"{room}: {'; '.join(mapped)}")
    if args.out:
        data = {
            "notes": NOTES.format(per_room=args.per_room, top=args.top, other_cost=args.other_cost),
            "temperature": chosen.temperature,
            "weights": dict(zip(ROOMS[:OTHER], chosen.weights, strict=True)),
            "min_probability": chosen.min_probability,
            "classes": [
                {"index": int(k), "name": names[k], "room": ROOMS[r]}
                for k, r in enumerate(chosen.class_rooms)
                if r != OTHER
            ],
        }
        args.out.write_text(json.dumps(data, indent=1) + "\n")


if __name__ == "__main__":
    main()
