"""NimaNet: an ImageNet backbone whose top is replaced by dropout + a 10-way softmax over scores 1..10."""

from __future__ import annotations

import torch
from torch import nn

from photoscore.preprocess import Preprocessing
from photoscore.training.backbones import create_backbone, get_backbone_spec

NUM_BUCKETS = 10


class NimaNet(nn.Module):
    """Backbone (global-average-pooled features) -> Dropout -> Linear(features, 10).

    ``forward`` returns logits; ``distribution`` the softmax over score buckets 1..10.
    """

    def __init__(self, backbone: nn.Module, backbone_name: str, preprocessing: Preprocessing, dropout: float):
        super().__init__()
        self.backbone = backbone
        self.backbone_name = backbone_name
        self.preprocessing = preprocessing
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(backbone.num_features, NUM_BUCKETS)

    @classmethod
    def build(cls, backbone: str, weights: str = "auto", dropout: float = 0.75) -> NimaNet:
        """A NimaNet on a registered backbone (or any timm name) with ImageNet weights from ``weights``."""
        module, preprocessing = create_backbone(backbone, weights=weights)
        return cls(module, get_backbone_spec(backbone).name, preprocessing, dropout)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.head(self.dropout(self.backbone(images)))

    def distribution(self, images: torch.Tensor) -> torch.Tensor:
        """Probabilities over score buckets 1..10, shape (N, 10)."""
        return torch.softmax(self(images), dim=-1)

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Train the head only (phase 1) or all layers (phase 2)."""
        for parameter in self.backbone.parameters():
            parameter.requires_grad = not frozen


def mean_score(distribution: torch.Tensor) -> torch.Tensor:
    """Mean score sum_i i * p_i over buckets 1..10, for (N, 10) probabilities."""
    buckets = torch.arange(1, NUM_BUCKETS + 1, dtype=distribution.dtype, device=distribution.device)
    return distribution @ buckets


def std_score(distribution: torch.Tensor) -> torch.Tensor:
    """Standard deviation of the score under each (N, 10) distribution."""
    buckets = torch.arange(1, NUM_BUCKETS + 1, dtype=distribution.dtype, device=distribution.device)
    spread = (buckets - mean_score(distribution)[:, None]) ** 2
    return torch.sqrt((distribution * spread).sum(dim=-1))
