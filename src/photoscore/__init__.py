"""photoscore: NIMA photo quality scoring, training and listing ranking.

The public Python API is importable from here (``from photoscore import Scorer``); each name loads its
module on first use, so ``import photoscore`` stays light. ``photoscore.batch.score_dataset`` (Ray Data)
needs the ``[ray]`` extra.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from photoscore.images import ImageError, find_images
    from photoscore.scoring.engine import Scorer
    from photoscore.scoring.listing import Ranking, read_manifest
    from photoscore.scoring.normalize import Normalizer
    from photoscore.scoring.registry import default_model
    from photoscore.scoring.results import ScoreResult

__version__ = "0.1.0"

_PUBLIC = {
    "ImageError": "photoscore.images",
    "Normalizer": "photoscore.scoring.normalize",
    "Ranking": "photoscore.scoring.listing",
    "ScoreResult": "photoscore.scoring.results",
    "Scorer": "photoscore.scoring.engine",
    "default_model": "photoscore.scoring.registry",
    "find_images": "photoscore.images",
    "read_manifest": "photoscore.scoring.listing",
}
__all__ = [
    "ImageError",
    "Normalizer",
    "Ranking",
    "ScoreResult",
    "Scorer",
    "__version__",
    "default_model",
    "find_images",
    "read_manifest",
]


def __getattr__(name: str) -> object:
    """Load a public name's module on first use."""
    if name not in _PUBLIC:
        raise AttributeError(f"module 'photoscore' has no attribute {name!r}")
    return getattr(import_module(_PUBLIC[name]), name)
