"""dvdgan_tf.evaluation.stats_cache: keys, reuse, damaged files."""

import os

import numpy as np

from dvdgan_tf.evaluation import stats_cache


def _cache(tmp_path, pattern=""):
    return stats_cache.StatsCache(
        str(tmp_path), "synthetic-s16", 16, 2, pattern
    )


def test_file_name_holds_everything_the_statistics_depend_on(tmp_path):
    path = _cache(tmp_path).path("fvd256_16f", "-judge1")
    assert os.path.basename(path) == (
        "synthetic-s16-16px-fs2-rendered-fvd256_16f-judge1.npz"
    )


def test_train_and_test_patterns_get_different_files(tmp_path):
    train = _cache(tmp_path, "data/x/train-*").path("fvd")
    test = _cache(tmp_path, "data/x/test-*").path("fvd")
    assert train != test
    assert "-files" in os.path.basename(train)


def test_second_call_reads_the_cache_instead_of_computing(tmp_path):
    cache = _cache(tmp_path)
    calls = []

    def compute():
        calls.append(1)
        return {"mu": np.arange(3.0), "floor": np.float64(0.5)}

    first = cache.get_or_compute("judge24", compute)
    second = cache.get_or_compute("judge24", compute)
    assert len(calls) == 1
    np.testing.assert_array_equal(second["mu"], first["mu"])
    assert float(second["floor"]) == 0.5
    # Written atomically: no temporary file is left beside it.
    assert os.listdir(tmp_path) == [os.path.basename(cache.path("judge24"))]


def test_a_damaged_cache_file_is_recomputed_and_rewritten(tmp_path, caplog):
    cache = _cache(tmp_path)
    path = cache.path("fvd")
    with open(path, "wb") as f:
        f.write(b"PK\x03\x04 not really a zip file")
    arrays = cache.get_or_compute("fvd", lambda: {"mu": np.ones(2)})
    np.testing.assert_array_equal(arrays["mu"], [1.0, 1.0])
    assert "is damaged" in caplog.text and path in caplog.text
    reread = cache.get_or_compute("fvd", lambda: {"mu": np.zeros(2)})
    np.testing.assert_array_equal(reread["mu"], [1.0, 1.0])
