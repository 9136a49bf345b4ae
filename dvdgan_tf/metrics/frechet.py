"""Frechet distance between Gaussians fitted to two feature sets (FID / FVD).

The Frechet (2-Wasserstein) distance between N(mu1, sigma1) and
N(mu2, sigma2) is

    ||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^(1/2)),

Heusel et al. 2017 (FID, arXiv 1706.08500), used on I3D logits by Unterthiner
et al. 2018 (FVD, arXiv 1812.01717). Everything here is NumPy/SciPy float64:
the distance is a small difference of large traces and loses digits in
float32.

Choices, and where they come from:

- **Unbiased covariance, 1/(N-1).** The reference FVD code computes the
  distance with TF-GAN's `frechet_classifier_distance_from_activations`,
  which rescales the biased covariance by N/(N-1); TTUR's `fid.py` uses
  `np.cov`, also 1/(N-1). The biased estimate would differ by a factor
  (N-1)/N (about 0.05% at N = 2048).
- **Three formulations of Tr((sigma1 sigma2)^(1/2)),** which agree to
  numerical precision on well-conditioned inputs (tested):
  `sqrtm` (TTUR / pytorch-fid: `scipy.linalg.sqrtm` of the product; no
  `disp=` argument, which SciPy 1.18 removed), `eig` (sigma1 sigma2 is
  similar to a PSD matrix, so the trace of its square root is the sum of the
  square roots of its eigenvalues) and `svd` (TF-GAN: the square root of
  sigma1 from an SVD, then the singular values of
  sigma1^(1/2) sigma2 sigma1^(1/2), which is symmetric PSD).
- **Singular covariances** (fewer samples than feature dimensions, or dead
  ReLU features) make `sqrtm` inaccurate (SciPy warns) or non-finite; as
  TTUR does for the non-finite case, the product is then recomputed with
  `eps * I` added to both covariances (eps = 1e-6, a change of order
  D * 1e-6 in the distance) and a warning is logged.
- **Imaginary parts.** Round-off can leave an imaginary part in the `sqrtm`
  result: the trace's imaginary part is dropped when below 1e-3 (TTUR's
  tolerance) relative to max(1, |trace|), and a `ValueError` is raised
  otherwise. Tiny negative eigenvalues from round-off are clipped to
  zero in the `eig` and `svd` formulations.
"""

import enum
import warnings

import numpy as np
import scipy.linalg
from absl import logging

# Diagonal offset added to both covariances when sqrtm of their product is
# not finite (TTUR / pytorch-fid use the same value).
SINGULAR_OFFSET = 1e-6
# Largest imaginary component of Tr(sqrtm(sigma1 sigma2)) that is treated as
# round-off, relative to max(1, |trace|).
IMAGINARY_TOLERANCE = 1e-3


class FrechetMethod(str, enum.Enum):
    """How Tr((sigma1 sigma2)^(1/2)) is computed; see the module docstring."""

    SQRTM = "sqrtm"
    EIG = "eig"
    SVD = "svd"


def gaussian_statistics(features):
    """Fits a Gaussian to a set of feature vectors.

    Args:
        features: float [M, D] array-like, one row per sample (M >= 2).

    Returns:
        A tuple (mu, sigma): float64 [D] mean and float64 [D, D] unbiased
        covariance (normalised by M - 1, as the reference FVD/FID code).

    Raises:
        ValueError: if `features` is not 2-D, has fewer than 2 rows, or
            contains NaN/inf.
    """
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2:
        raise ValueError(
            "Expected `features` of shape [num_samples, feature_dim]; "
            f"received: shape={features.shape}"
        )
    if features.shape[0] < 2:
        raise ValueError(
            "A covariance needs at least 2 samples; received: "
            f"num_samples={features.shape[0]} (features.shape="
            f"{features.shape})"
        )
    if not np.all(np.isfinite(features)):
        raise ValueError(
            "`features` contains NaN or inf values "
            f"({int(np.sum(~np.isfinite(features)))} of {features.size}); "
            "check the classifier's input range and the generator output."
        )
    mu = features.mean(axis=0)
    centred = features - mu
    sigma = centred.T @ centred / (features.shape[0] - 1)
    return mu, sigma


class StreamingGaussian:
    """`gaussian_statistics` of a feature stream too large to hold at once.

    Memory is O(D^2) whatever the number of samples: batches are merged
    with Chan et al.'s pairwise update of (count, mean, sum of squared
    deviations), in float64, so a whole dataset's real statistics
    (hundreds of thousands of clips) are as accurate as the in-memory fit
    (tested to 1e-10). `state` / `from_state` make the fit resumable.
    """

    def __init__(self, dim: int):
        self.count = 0
        self.mean = np.zeros(dim, np.float64)
        self.scatter = np.zeros((dim, dim), np.float64)

    def update(self, features) -> None:
        """Adds float [b, D] features (b >= 1)."""
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[1] != self.mean.shape[0]:
            raise ValueError(
                f"Expected features [b, {self.mean.shape[0]}]; received "
                f"shape {features.shape}"
            )
        if not np.all(np.isfinite(features)):
            raise ValueError(
                "`features` contains NaN or inf values; check the "
                "classifier's input range."
            )
        count = features.shape[0]
        if count == 0:
            return
        mean = features.mean(axis=0)
        centred = features - mean
        scatter = centred.T @ centred
        total = self.count + count
        delta = mean - self.mean
        self.scatter += scatter + np.outer(delta, delta) * (
            self.count * count / total
        )
        self.mean += delta * (count / total)
        self.count = total

    def statistics(self):
        """(mu [D], unbiased sigma [D, D]), as `gaussian_statistics`."""
        if self.count < 2:
            raise ValueError(
                "A covariance needs at least 2 samples; received: "
                f"num_samples={self.count}"
            )
        return self.mean.copy(), self.scatter / (self.count - 1)

    def state(self) -> dict:
        return {
            "count": np.asarray(self.count, np.int64),
            "mean": self.mean,
            "scatter": self.scatter,
        }

    @classmethod
    def from_state(cls, state: dict) -> "StreamingGaussian":
        fit = cls(np.asarray(state["mean"]).shape[0])
        fit.count = int(state["count"])
        fit.mean = np.asarray(state["mean"], np.float64).copy()
        fit.scatter = np.asarray(state["scatter"], np.float64).copy()
        return fit


def _check_statistics(mu1, sigma1, mu2, sigma2):
    mu1 = np.atleast_1d(np.asarray(mu1, dtype=np.float64))
    mu2 = np.atleast_1d(np.asarray(mu2, dtype=np.float64))
    sigma1 = np.atleast_2d(np.asarray(sigma1, dtype=np.float64))
    sigma2 = np.atleast_2d(np.asarray(sigma2, dtype=np.float64))
    if mu1.ndim != 1 or mu1.shape != mu2.shape:
        raise ValueError(
            "Expected two mean vectors of the same shape [D]; received: "
            f"mu1.shape={mu1.shape}, mu2.shape={mu2.shape}"
        )
    dim = mu1.shape[0]
    for name, sigma in (("sigma1", sigma1), ("sigma2", sigma2)):
        if sigma.shape != (dim, dim):
            raise ValueError(
                f"Expected `{name}` of shape [D, D] = ({dim}, {dim}) to match "
                f"the means; received: {name}.shape={sigma.shape}"
            )
    return mu1, sigma1, mu2, sigma2


def _trace_sqrt_product_sqrtm(sigma1, sigma2):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", scipy.linalg.LinAlgWarning)
        covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    singular = any(
        issubclass(w.category, scipy.linalg.LinAlgWarning) for w in caught
    )
    finite = np.all(np.isfinite(covmean))
    if singular or not finite:
        # Singular products are routine with ReLU features (dead units), so
        # only a non-finite result is worth a warning.
        log = logging.info if finite else logging.warning
        log(
            "sqrtm(sigma1 @ sigma2) is %s (singular covariance: fewer samples "
            "than dimensions, or constant features); adding %g to the "
            "diagonal of both covariances.",
            "inaccurate" if finite else "not finite",
            SINGULAR_OFFSET,
        )
        offset = SINGULAR_OFFSET * np.eye(sigma1.shape[0])
        covmean = scipy.linalg.sqrtm((sigma1 + offset) @ (sigma2 + offset))
    trace = np.trace(covmean)
    if np.iscomplexobj(trace):
        limit = IMAGINARY_TOLERANCE * max(1.0, abs(trace.real))
        if abs(trace.imag) > limit:
            raise ValueError(
                "Tr(sqrtm(sigma1 @ sigma2)) has an imaginary part larger than "
                f"round-off: {trace!r} (tolerance {limit:.3g}); the "
                "covariances are probably not positive semi-definite. Try "
                "method='eig' or 'svd', or more samples."
            )
        trace = trace.real
    return float(trace)


def _trace_sqrt_product_eig(sigma1, sigma2):
    eigenvalues = np.linalg.eigvals(sigma1 @ sigma2)
    return float(np.sum(np.sqrt(np.clip(eigenvalues.real, 0.0, None))))


def _symmetric_sqrt(matrix):
    # For a symmetric PSD matrix the SVD is an eigendecomposition, and the
    # square root keeps the vectors and takes the root of the values.
    u, s, _ = np.linalg.svd(matrix, hermitian=True)
    return (u * np.sqrt(np.clip(s, 0.0, None))) @ u.T


def _trace_sqrt_product_svd(sigma1, sigma2):
    sqrt_sigma1 = _symmetric_sqrt(sigma1)
    inner = sqrt_sigma1 @ sigma2 @ sqrt_sigma1
    inner = (inner + inner.T) / 2.0
    singular_values = np.linalg.svd(inner, compute_uv=False, hermitian=True)
    return float(np.sum(np.sqrt(np.clip(singular_values, 0.0, None))))


_TRACE_SQRT_PRODUCT = {
    FrechetMethod.SQRTM: _trace_sqrt_product_sqrtm,
    FrechetMethod.EIG: _trace_sqrt_product_eig,
    FrechetMethod.SVD: _trace_sqrt_product_svd,
}


def frechet_distance(mu1, sigma1, mu2, sigma2, method="sqrtm"):
    """Frechet distance between N(mu1, sigma1) and N(mu2, sigma2).

    Args:
        mu1: float [D] mean of the first set (e.g. real features).
        sigma1: float [D, D] covariance of the first set.
        mu2: float [D] mean of the second set (e.g. generated features).
        sigma2: float [D, D] covariance of the second set.
        method: "sqrtm", "eig" or "svd" (or a `FrechetMethod`): how
            Tr((sigma1 sigma2)^(1/2)) is computed; see the module docstring.

    Returns:
        The distance as a Python float (>= 0 up to round-off; tiny negative
        values from round-off are clipped to 0).

    Raises:
        ValueError: on mismatched shapes, an unknown `method`, or a `sqrtm`
            result with a non-negligible imaginary part.
    """
    try:
        method = FrechetMethod(method)
    except ValueError:
        raise ValueError(
            f"Unknown Frechet `method`; expected one of "
            f"{[m.value for m in FrechetMethod]}; received: method={method!r}"
        ) from None
    mu1, sigma1, mu2, sigma2 = _check_statistics(mu1, sigma1, mu2, sigma2)
    diff = mu1 - mu2
    trace_sqrt = _TRACE_SQRT_PRODUCT[method](sigma1, sigma2)
    distance = (
        diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_sqrt
    )
    return float(max(distance, 0.0))


def frechet_distance_from_features(features1, features2, method="sqrtm"):
    """Frechet distance between Gaussians fitted to two feature sets.

    Args:
        features1: float [M1, D], one row per sample.
        features2: float [M2, D], one row per sample.
        method: see `frechet_distance`.

    Returns:
        The distance as a Python float.

    Raises:
        ValueError: see `gaussian_statistics` and `frechet_distance`.
    """
    mu1, sigma1 = gaussian_statistics(features1)
    mu2, sigma2 = gaussian_statistics(features2)
    return frechet_distance(mu1, sigma1, mu2, sigma2, method=method)
