"""Tests for dvdgan_tf.metrics.frechet."""

import numpy as np
import pytest

from dvdgan_tf.metrics import frechet

METHODS = ["sqrtm", "eig", "svd"]


def _random_features(seed, num_samples=200, dim=6, shift=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    mixing = rng.normal(size=(dim, dim))
    return shift + scale * rng.normal(size=(num_samples, dim)) @ mixing


def test_gaussian_statistics_uses_unbiased_covariance():
    features = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 8.0]])
    mu, sigma = frechet.gaussian_statistics(features)
    np.testing.assert_allclose(mu, [2.0, 4.0])
    np.testing.assert_allclose(sigma, np.cov(features, rowvar=False))
    assert sigma.dtype == np.float64


def test_gaussian_statistics_rejects_single_sample():
    with pytest.raises(ValueError, match="num_samples=1"):
        frechet.gaussian_statistics(np.zeros((1, 4)))


def test_gaussian_statistics_rejects_non_finite_features():
    features = np.ones((3, 2))
    features[1, 1] = np.nan
    with pytest.raises(ValueError, match="NaN or inf"):
        frechet.gaussian_statistics(features)


@pytest.mark.parametrize("method", METHODS)
def test_diagonal_gaussians_match_closed_form(method):
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([1.0, 1.0, 0.5])
    var1, var2 = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sum((mu1 - mu2) ** 2) + np.sum(
        (np.sqrt(var1) - np.sqrt(var2)) ** 2
    )
    distance = frechet.frechet_distance(
        mu1, np.diag(var1), mu2, np.diag(var2), method=method
    )
    np.testing.assert_allclose(distance, expected, rtol=1e-10)
    assert expected == pytest.approx(1.0 + 6.25 + 4.0 + 1.0)


def test_methods_agree_on_correlated_gaussians():
    mu1, sigma1 = frechet.gaussian_statistics(_random_features(1))
    mu2, sigma2 = frechet.gaussian_statistics(
        _random_features(2, shift=0.5, scale=1.5)
    )
    distances = [
        frechet.frechet_distance(mu1, sigma1, mu2, sigma2, method=m)
        for m in METHODS
    ]
    assert distances[0] > 1.0
    np.testing.assert_allclose(distances, distances[0], rtol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_distance_is_symmetric(method):
    features1 = _random_features(3)
    features2 = _random_features(4, shift=-1.0, scale=0.7)
    forward = frechet.frechet_distance_from_features(
        features1, features2, method=method
    )
    backward = frechet.frechet_distance_from_features(
        features2, features1, method=method
    )
    np.testing.assert_allclose(forward, backward, rtol=1e-8)


@pytest.mark.parametrize("method", METHODS)
def test_identical_sets_give_zero(method):
    features = _random_features(5)
    distance = frechet.frechet_distance_from_features(
        features, features, method=method
    )
    assert distance == pytest.approx(0.0, abs=1e-8)


def test_singular_covariances_give_finite_distance():
    # 3 samples in 6-D: rank-2 covariances, the case sqrtm cannot handle
    # without the eps offset.
    features1 = _random_features(6, num_samples=3)
    features2 = _random_features(7, num_samples=3)
    distances = [
        frechet.frechet_distance_from_features(features1, features2, method=m)
        for m in METHODS
    ]
    assert all(np.isfinite(distances))
    np.testing.assert_allclose(distances, distances[1], rtol=1e-3)


def test_unknown_method_is_rejected():
    with pytest.raises(ValueError, match="method='cholesky'"):
        frechet.frechet_distance(
            np.zeros(2), np.eye(2), np.zeros(2), np.eye(2), method="cholesky"
        )


def test_mismatched_dimensions_are_rejected():
    with pytest.raises(ValueError, match=r"sigma2.shape=\(3, 3\)"):
        frechet.frechet_distance(np.zeros(2), np.eye(2), np.zeros(2), np.eye(3))
