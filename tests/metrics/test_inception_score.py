"""Tests for dvdgan_tf.metrics.inception_score (math and protocols)."""

import numpy as np
import pytest

from dvdgan_tf.metrics import inception_score

NUM_CLASSES = 5


def test_uniform_one_hot_predictions_give_num_classes():
    probabilities = np.tile(np.eye(NUM_CLASSES), (4, 1))
    mean, std = inception_score.inception_score(probabilities)
    assert mean == pytest.approx(NUM_CLASSES)
    assert std == 0.0


def test_identical_predictions_give_one():
    probabilities = np.tile([[0.1, 0.2, 0.3, 0.4]], (8, 1))
    mean, _ = inception_score.inception_score(probabilities)
    assert mean == pytest.approx(1.0)


def test_splits_report_mean_and_std_over_splits():
    # Split 1 is one-hot over 2 classes (IS 2), split 2 identical (IS 1).
    probabilities = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5], [0.5, 0.5]])
    mean, std = inception_score.inception_score(probabilities, num_splits=2)
    assert mean == pytest.approx(1.5)
    assert std == pytest.approx(0.5)


def test_rows_that_are_not_distributions_are_rejected():
    with pytest.raises(ValueError, match="softmax"):
        inception_score.inception_score(np.ones((4, 3)))


def test_sample_count_must_divide_into_splits():
    with pytest.raises(ValueError, match="num_samples=5, num_splits=2"):
        inception_score.inception_score(np.full((5, 2), 0.5), num_splits=2)


def test_protocol_names_state_samples_and_splits():
    assert inception_score.TGANV2_PROTOCOL.name == "is2048x10"
    assert inception_score.TGANV2_PROTOCOL.num_samples == 20480
    assert inception_score.TGAN_PROTOCOL.name == "is10000"


def test_protocol_specs_parse_presets_and_samples_by_splits():
    assert inception_score.protocol_from_spec("tganv2").name == "is2048x10"
    assert inception_score.protocol_from_spec("tgan").name == "is10000"
    custom = inception_score.protocol_from_spec("6x2")
    assert (custom.num_samples_per_split, custom.num_splits) == (6, 2)
    assert custom.num_samples == 12
    with pytest.raises(ValueError, match="received: '6by2'"):
        inception_score.protocol_from_spec("6by2")
