"""Tests for photoscore.training.losses."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from photoscore.metrics import emd  # noqa: E402
from photoscore.training.losses import EMDLoss, emd_loss  # noqa: E402


def _random_batch(n: int = 8, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    counts = torch.randint(0, 40, (n, 10), generator=gen).to(torch.float64) + 0.5
    pred = torch.softmax(torch.randn(n, 10, generator=gen, dtype=torch.float64), dim=-1)
    return counts, pred


def test_by_hand() -> None:
    on_1 = torch.tensor([1.0] + [0.0] * 9, dtype=torch.float64)
    on_10 = torch.tensor([0.0] * 9 + [1.0], dtype=torch.float64)
    assert emd_loss(on_1, on_10, r=1).item() == pytest.approx(0.9)
    assert emd_loss(on_1, on_10, r=2).item() == pytest.approx(math.sqrt(0.9))


@pytest.mark.parametrize("r", [1, 2])
def test_matches_numpy_metric(r: int) -> None:
    counts, pred = _random_batch()
    expected = emd(counts.numpy(), pred.numpy(), r=r)
    per_sample = emd_loss(counts, pred, r=r, reduction="none")
    assert per_sample.shape == (8,)
    np.testing.assert_allclose(per_sample.numpy(), expected, rtol=0, atol=1e-6)
    assert emd_loss(counts, pred, r=r).item() == pytest.approx(expected.mean(), abs=1e-6)


def test_reductions() -> None:
    counts, pred = _random_batch()
    per_sample = emd_loss(counts, pred, reduction="none")
    assert torch.allclose(emd_loss(counts, pred, reduction="mean"), per_sample.mean())
    assert torch.allclose(emd_loss(counts, pred, reduction="sum"), per_sample.sum())
    assert emd_loss(counts, pred).ndim == 0


def test_counts_equal_normalised_labels() -> None:
    counts, pred = _random_batch()
    probs = counts / counts.sum(dim=1, keepdim=True)
    assert torch.allclose(emd_loss(counts, pred, reduction="none"), emd_loss(probs, pred, reduction="none"))
    int_counts = torch.tensor([[0, 1, 5, 17, 38, 36, 15, 6, 5, 1]])
    assert torch.allclose(emd_loss(int_counts, pred[:1]), emd_loss(int_counts.double(), pred[:1]))


@pytest.mark.parametrize("r", [1, 2])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_finite_for_identical(r: int, dtype: torch.dtype) -> None:
    logits = torch.randn(4, 10, dtype=dtype, requires_grad=True)
    pred = torch.softmax(logits, dim=-1)
    loss = emd_loss(pred.detach(), pred, r=r)
    loss.backward()
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert torch.isfinite(logits.grad).all()


@pytest.mark.parametrize("r", [1, 2])
def test_gradcheck(r: int) -> None:
    counts, _ = _random_batch(n=3, seed=1)
    logits = torch.randn(3, 10, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(
        lambda z: emd_loss(counts, torch.softmax(z, dim=-1), r=r, reduction="none"), (logits,)
    )


def test_module_wrapper() -> None:
    counts, pred = _random_batch()
    assert torch.equal(EMDLoss()(counts, pred), emd_loss(counts, pred))
    assert torch.equal(
        EMDLoss(r=1, reduction="sum")(counts, pred), emd_loss(counts, pred, r=1, reduction="sum")
    )
    assert "r=1" in repr(EMDLoss(r=1))


def test_single_distribution() -> None:
    counts, pred = _random_batch(n=1)
    assert torch.allclose(
        emd_loss(counts[0], pred[0], reduction="none"), emd_loss(counts, pred, reduction="none")
    )


def test_rejects_bad_arguments() -> None:
    counts, pred = _random_batch()
    with pytest.raises(ValueError, match="reduction"):
        emd_loss(counts, pred, reduction="max")
    with pytest.raises(ValueError, match="shapes"):
        emd_loss(counts, pred[:4])
    with pytest.raises(ValueError, match="r must be"):
        emd_loss(counts, pred, r=0.5)
