"""Inception Score (Salimans et al. 2016) of class probabilities, and protocols.

IS = exp(E_x KL(p(y|x) || p(y))), where p(y) is the mean of p(y|x) over the
split. It is computed in float64 with `xlogy` (0 log 0 = 0). One-hot
predictions spread evenly over K classes give K; identical predictions give 1.

Video IS uses a video classifier (`dvdgan_tf.metrics.classifier`), e.g. the
UCF-101 C3D (paper Table 2) or a Kinetics-600 I3D (paper Table 1). Two
protocols are in use for UCF-101 (docs/DESIGN.md M2); they differ in the
resize (set on the classifier, `classifier.Preprocessing`) and in the sample
count:

- TGAN v1: about 10,000 samples, one split, frames bicubic-resized to
  128x128 and centre-cropped to 112x112 (`TGAN_PROTOCOL`);
- TGANv2: 2,048 samples per run, 10 runs, mean +/- std over runs, frames
  bilinear-resized straight to 112x112 (`TGANV2_PROTOCOL`). Ten runs of 2,048
  independent samples are computed here as 10 disjoint splits of 20,480
  samples, which is the same estimator.

The paper does not say which script it used (docs/DESIGN.md M2); the
protocol is therefore written into the metric name.
"""

from __future__ import annotations

import dataclasses
import re

import numpy as np
import scipy.special

# Rows of `probabilities` must sum to 1 within this tolerance.
_PROBABILITY_SUM_TOLERANCE = 1e-3


@dataclasses.dataclass(frozen=True)
class InceptionScoreProtocol:
    """How many samples an IS uses and how they are split.

    Attributes:
        num_samples_per_split: samples in each split (run).
        num_splits: splits (runs); the reported std is across splits.
    """

    num_samples_per_split: int
    num_splits: int = 1

    def __post_init__(self):
        if self.num_samples_per_split < 2 or self.num_splits < 1:
            raise ValueError(
                "Expected num_samples_per_split >= 2 and num_splits >= 1; "
                f"received: num_samples_per_split={self.num_samples_per_split}"
                f", num_splits={self.num_splits}"
            )

    @property
    def num_samples(self) -> int:
        return self.num_samples_per_split * self.num_splits

    @property
    def name(self) -> str:
        """E.g. "is2048x10" (TGANv2) or "is10000" (TGAN v1)."""
        if self.num_splits == 1:
            return f"is{self.num_samples_per_split}"
        return f"is{self.num_samples_per_split}x{self.num_splits}"


TGAN_PROTOCOL = InceptionScoreProtocol(num_samples_per_split=10000)
TGANV2_PROTOCOL = InceptionScoreProtocol(
    num_samples_per_split=2048, num_splits=10
)
PROTOCOL_PRESETS = {"tganv2": TGANV2_PROTOCOL, "tgan": TGAN_PROTOCOL}


def protocol_from_spec(spec: str) -> InceptionScoreProtocol:
    """'tganv2', 'tgan' or '<samples per split>x<splits>' -> a protocol.

    Raises:
        ValueError: a malformed spec (the message echoes it).
    """
    if spec in PROTOCOL_PRESETS:
        return PROTOCOL_PRESETS[spec]
    match = re.fullmatch(r"(\d+)x(\d+)", spec)
    if not match:
        raise ValueError(
            "Expected `is_protocol` to be 'tganv2', 'tgan' or "
            f"'<samples>x<splits>' (e.g. '2048x10'); received: {spec!r}"
        )
    return InceptionScoreProtocol(int(match.group(1)), int(match.group(2)))


def _check_probabilities(probabilities):
    probabilities = np.asarray(probabilities, dtype=np.float64)
    if probabilities.ndim != 2 or probabilities.shape[1] < 2:
        raise ValueError(
            "Expected class probabilities of shape [num_samples, classes] "
            f"with classes >= 2; received: shape={probabilities.shape}"
        )
    sums = probabilities.sum(axis=1)
    if np.any(probabilities < 0) or np.any(
        np.abs(sums - 1.0) > _PROBABILITY_SUM_TOLERANCE
    ):
        worst = int(np.argmax(np.abs(sums - 1.0)))
        raise ValueError(
            "`probabilities` must be non-negative rows summing to 1 (apply a "
            f"softmax to logits first); row {worst} sums to {sums[worst]!r}, "
            f"minimum entry {probabilities.min()!r}"
        )
    return probabilities


def inception_score(probabilities, num_splits: int = 1):
    """Inception Score of class probabilities, mean and std over splits.

    Args:
        probabilities: float [M, classes], rows are p(y|x).
        num_splits: the samples are cut into this many equal consecutive
            splits (M must be divisible by it); IS is computed per split.

    Returns:
        (mean, std) over splits as Python floats; std is 0.0 for one split.

    Raises:
        ValueError: bad shapes, rows that are not distributions, or M not
            divisible by `num_splits`.
    """
    probabilities = _check_probabilities(probabilities)
    num_samples = probabilities.shape[0]
    if num_splits < 1 or num_samples % num_splits:
        raise ValueError(
            "The number of samples must be a positive multiple of "
            f"`num_splits`; received: num_samples={num_samples}, "
            f"num_splits={num_splits}"
        )
    scores = []
    for split in np.split(probabilities, num_splits):
        marginal = split.mean(axis=0, keepdims=True)
        kl = (
            scipy.special.xlogy(split, split)
            - scipy.special.xlogy(split, marginal)
        ).sum(axis=1)
        scores.append(float(np.exp(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))
