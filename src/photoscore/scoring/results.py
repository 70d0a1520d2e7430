"""What scoring a photo gives: one result per photo, each model's opinion, the written precision."""

from __future__ import annotations

from dataclasses import dataclass, field

# Scores are written with this many decimals, and compared at it when normalising and ranking.
DECIMALS = 6


@dataclass
class ModelScore:
    """One model's opinion of one photo."""

    mean: float
    std: float
    distribution: list[float] | None = None


@dataclass
class ScoreResult:
    """The scores of one photo, or the reason it could not be scored."""

    image_id: str
    path: str
    mean_score_prediction: float | None = None
    std_score_prediction: float | None = None
    distribution: list[float] | None = None
    models: dict[str, ModelScore] = field(default_factory=dict)
    error: str | None = None
    normalized_score: float | None = None
    rank: int | None = None
    group: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None
