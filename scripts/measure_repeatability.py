"""Measure each bundled scoring model's repeatability: how far a photo's score moves between the photo and
a re-encoded, resized copy of it. The p95 of that change is the review's tie band: two photos whose
scores differ by less are tied (their order is within the model's noise).

Usage: python scripts/measure_repeatability.py [--photos N] [--write-cards]

Photos: LIVE In the Wild (../shared/data/livec/images, real phone photos, 500x500), each first enlarged
to 1000x1000 and saved at JPEG quality 95, the way a host's photo is larger than what the model looks at
(500 px). Copies: re-encoded as JPEG at quality 85, and resized to 80% then re-encoded at quality 85.
``--write-cards`` writes the larger of the two p95s into each bundled model's card as
``metrics.repeatability_p95`` (needs the train extra for the ONNX card rewrite).
"""

from __future__ import annotations

import argparse
import io
import json
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from photoscore.scoring.engine import Scorer
from photoscore.scoring.onnx_model import OnnxNimaModel, read_card
from photoscore.scoring.registry import bundled_model_dir

REPO = Path(__file__).resolve().parents[1]
LIVEC = REPO.parent / "shared" / "data" / "livec" / "images"
ORIGINAL_SIDE = 1000
VARIANTS = {"re-encoded q85": 1.0, "resized 80% + q85": 0.8}


def copies(sources: list[Path], folder: Path) -> dict[str, list[Path]]:
    """The enlarged originals (``"original"``) and each variant's copies of them, written into ``folder``."""
    made: dict[str, list[Path]] = {name: [] for name in ("original", *VARIANTS)}
    for source in sources:
        image = Image.open(source).convert("RGB").resize((ORIGINAL_SIDE, ORIGINAL_SIDE), Image.BICUBIC)
        original = folder / f"{source.stem}.jpg"
        image.save(original, quality=95)
        made["original"].append(original)
        image = Image.open(original)
        for n, (name, scale) in enumerate(VARIANTS.items()):
            copy = image.resize((round(image.width * scale), round(image.height * scale)), Image.LANCZOS)
            buffer = io.BytesIO()
            copy.save(buffer, "JPEG", quality=85)
            path = folder / f"{source.stem}-{n}.jpg"
            path.write_bytes(buffer.getvalue())
            made[name].append(path)
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--photos", type=int, default=400)
    parser.add_argument("--write-cards", action="store_true")
    args = parser.parse_args()
    sources = sorted(LIVEC.iterdir())[: args.photos]
    models = sorted(p for p in bundled_model_dir().glob("*.onnx") if read_card(p).is_scoring_model)
    figures: dict[str, dict[str, dict[str, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        made = copies(sources, Path(tmp))
        for path in models:
            scorer = Scorer([path])
            original = np.array([r.mean_score_prediction for r in scorer.score(made["original"])])
            figures[path.stem] = {}
            for name in VARIANTS:
                paths = made[name]
                copy = np.array([r.mean_score_prediction for r in scorer.score(paths)])
                change = np.abs(copy - original)
                figures[path.stem][name] = {
                    "median": round(float(np.median(change)), 3),
                    "p95": round(float(np.percentile(change, 95)), 3),
                    "max": round(float(change.max()), 3),
                }
    print(json.dumps({"photos": len(sources), "models": figures}, indent=2))
    if args.write_cards:
        from photoscore.training.export import replace_card

        for path in models:
            card = OnnxNimaModel(path).card
            band = max(figures[path.stem][name]["p95"] for name in VARIANTS)
            replace_card(
                path, card.model_copy(update={"metrics": {**card.metrics, "repeatability_p95": band}})
            )
            print(f"{path.name}: repeatability_p95 = {band}")


if __name__ == "__main__":
    main()
