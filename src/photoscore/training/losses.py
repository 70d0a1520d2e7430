"""Earth Mover's Distance loss for NIMA training (same definition as ``photoscore.metrics.emd``)."""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn

Reduction = Literal["none", "mean", "sum"]


def emd_loss(
    y_true: torch.Tensor, y_pred: torch.Tensor, r: float = 2, reduction: Reduction = "mean"
) -> torch.Tensor:
    """EMD per sample ``(mean_k |CDF_true - CDF_pred|^r)^(1/r)``, reduced over the batch.

    ``y_true`` (labels or vote counts) and ``y_pred`` (e.g. softmax output) have shape (N, K) or (K,) and
    are normalised to sum 1 along the last axis; labels must be non-negative with a positive sum (not
    checked here, to avoid a device sync). The root is taken through ``torch.linalg.vector_norm``, whose
    gradient is defined as 0 where the distance is 0, so identical distributions give finite gradients.
    ``reduction="none"`` returns shape (N,).
    """
    if r < 1:
        raise ValueError(f"r must be >= 1, got {r}")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"reduction must be 'none', 'mean' or 'sum', got {reduction!r}")
    if y_true.shape != y_pred.shape or y_pred.ndim not in (1, 2):
        raise ValueError(
            f"expected equal shapes (N, K) or (K,), got {tuple(y_true.shape)} and {tuple(y_pred.shape)}"
        )
    y_true = torch.atleast_2d(y_true.to(y_pred.dtype))
    y_pred = torch.atleast_2d(y_pred)
    cdf_true = torch.cumsum(y_true / y_true.sum(dim=-1, keepdim=True), dim=-1)
    cdf_pred = torch.cumsum(y_pred / y_pred.sum(dim=-1, keepdim=True), dim=-1)
    n_buckets = y_pred.shape[-1]
    per_sample = torch.linalg.vector_norm(cdf_true - cdf_pred, ord=r, dim=-1) / n_buckets ** (1.0 / r)
    if reduction == "mean":
        return per_sample.mean()
    if reduction == "sum":
        return per_sample.sum()
    return per_sample


class EMDLoss(nn.Module):
    """``nn.Module`` wrapper of :func:`emd_loss`; called as ``loss(y_true, y_pred)``."""

    def __init__(self, r: float = 2, reduction: Reduction = "mean") -> None:
        super().__init__()
        self.r = r
        self.reduction = reduction

    def forward(self, y_true: torch.Tensor, y_pred: torch.Tensor) -> torch.Tensor:
        return emd_loss(y_true, y_pred, r=self.r, reduction=self.reduction)

    def extra_repr(self) -> str:
        return f"r={self.r}, reduction={self.reduction!r}"
