"""NimaNet: an ImageNet backbone whose top is replaced by dropout + a 10-way softmax over scores 1..10."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

from photoscore.preprocess import Preprocessing
from photoscore.training.backbones import create_backbone, get_backbone_spec

NUM_BUCKETS = 10


FeatureLevels = Literal["last", "all"]


class NimaNet(nn.Module):
    """Backbone (global-average-pooled features) -> Dropout -> Linear(features, 10).

    ``feature_levels="last"`` is NIMA as published: the pooled output of the last layer.
    ``"all"`` also pools every stage of the backbone (low-level stages see blur, noise and exposure that
    the last layer abstracts away) and concatenates them, standardised by a BatchNorm without affine
    parameters, since the stages' scales differ by orders of magnitude.
    ``forward`` returns logits; ``distribution`` the softmax over score buckets 1..10.
    """

    def __init__(
        self,
        backbone: nn.Module,
        backbone_name: str,
        preprocessing: Preprocessing,
        dropout: float,
        feature_levels: FeatureLevels = "last",
    ):
        super().__init__()
        self.backbone = backbone
        self.backbone_name = backbone_name
        self.preprocessing = preprocessing
        self.feature_levels = feature_levels
        size = self._feature_size()
        self.feature_norm = nn.BatchNorm1d(size, affine=False) if feature_levels == "all" else nn.Identity()
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(size, NUM_BUCKETS)

    @classmethod
    def build(
        cls,
        backbone: str,
        weights: str = "auto",
        dropout: float = 0.75,
        feature_levels: FeatureLevels = "last",
    ) -> NimaNet:
        """A NimaNet on a registered backbone (or any timm name) with ImageNet weights from ``weights``."""
        module, preprocessing = create_backbone(backbone, weights=weights)
        return cls(module, get_backbone_spec(backbone).name, preprocessing, dropout, feature_levels)

    def _feature_size(self) -> int:
        if self.feature_levels == "last":
            return self.backbone.num_features
        if not hasattr(self.backbone, "forward_intermediates"):
            raise ValueError(f"{self.backbone_name}: timm offers no stage outputs, use feature_levels='last'")
        return sum(info["num_chs"] for info in self.backbone.feature_info) + self.backbone.num_features

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """Pooled features (N, F) of the frozen-able part; what phase 1 caches."""
        if self.feature_levels == "last":
            return self.backbone(images)
        final, stages = self.backbone.forward_intermediates(images)
        pooled = [stage.mean(dim=(2, 3)) for stage in stages]
        return torch.cat([*pooled, self.backbone.forward_head(final)], dim=1)

    def logits(self, features: torch.Tensor) -> torch.Tensor:
        """Scores' logits from pooled features: (standardise) -> dropout -> linear."""
        return self.head(self.dropout(self.feature_norm(features)))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.logits(self.features(images))

    def distribution(self, images: torch.Tensor) -> torch.Tensor:
        """Probabilities over score buckets 1..10, shape (N, 10)."""
        return torch.softmax(self(images), dim=-1)

    def freeze_backbone(self, frozen: bool = True) -> None:
        """Train the head only (phase 1) or all layers (phase 2)."""
        for parameter in self.backbone.parameters():
            parameter.requires_grad = not frozen

    def keep_batchnorm_statistics(self) -> None:
        """Put the backbone's BatchNorm layers in eval mode: their running statistics stay as they are while
        their weights still train. Call after ``train()``."""
        for module in self.backbone.modules():
            if isinstance(module, nn.modules.batchnorm._BatchNorm):
                module.eval()


def mean_score(distribution: torch.Tensor) -> torch.Tensor:
    """Mean score sum_i i * p_i over buckets 1..10, for (N, 10) probabilities."""
    buckets = torch.arange(1, NUM_BUCKETS + 1, dtype=distribution.dtype, device=distribution.device)
    return distribution @ buckets


def std_score(distribution: torch.Tensor) -> torch.Tensor:
    """Standard deviation of the score under each (N, 10) distribution."""
    buckets = torch.arange(1, NUM_BUCKETS + 1, dtype=distribution.dtype, device=distribution.device)
    spread = (buckets - mean_score(distribution)[:, None]) ** 2
    return torch.sqrt((distribution * spread).sum(dim=-1))
