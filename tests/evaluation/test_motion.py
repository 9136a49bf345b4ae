"""dvdgan_tf.evaluation.motion: motion energy, D_T direction, confusion."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.data import synthetic
from dvdgan_tf.evaluation import motion


def test_motion_energy_is_the_mean_absolute_frame_difference():
    videos = np.zeros((2, 3, 2, 2, 3), np.uint8)
    videos[0, 1:] = 10  # 0 -> 10 -> 10
    videos[1, 2] = 4  # 0 -> 0 -> 4
    np.testing.assert_allclose(motion.motion_energy(videos), [5.0, 2.0])


class _ArrowOfTimeDiscriminator(keras.Model):
    """Score = mean(last frame - first frame) + label: hand-computable."""

    def call(self, video, labels=None, training=False):
        change = tf.reduce_mean(video[:, -1] - video[:, 0], axis=[1, 2, 3])
        return change + tf.cast(labels, tf.float32)


def test_direction_probe_measures_both_gaps():
    videos, labels = synthetic.generate_clips(12, 4, 16, seed=0)
    probe = motion.temporal_direction_probe(
        _ArrowOfTimeDiscriminator(), videos, labels, batch_size=5
    )
    # Forwards minus backwards: 2 * mean(last - first) in [-1, 1] units
    # (2x2 average pooling keeps the mean).
    change = (
        videos[:, -1].astype(np.float64) - videos[:, 0].astype(np.float64)
    ).mean(axis=(1, 2, 3)) / 127.5
    assert probe.forward_minus_reversed == pytest.approx(
        2 * change.mean(), abs=1e-4
    )
    twins = [synthetic.reversed_label(int(y)) for y in labels]
    assert probe.label_minus_twin == pytest.approx(
        np.mean(labels - np.array(twins)), abs=1e-5
    )
    assert probe.forward_accuracy == pytest.approx(np.mean(change > 0))
    assert probe.num_clips == 12


def test_motion_confusion_counts_and_family_rates():
    motions = synthetic.MOTIONS  # grow, left, right, shrink
    # Requested: left, left, grow, shrink; predicted: left, right, grow, grow.
    requested = [motions.index(m) for m in ("left", "left", "grow", "shrink")]
    predicted = [motions.index(m) for m in ("left", "right", "grow", "grow")]
    probabilities = np.zeros((4, 12))
    for row, (r, p) in enumerate(zip(requested, predicted)):
        probabilities[row, 4 + p] = 1.0  # appearance 1, motion p
    labels = np.array(requested) + 8  # appearance 2 requested
    result = motion.motion_confusion(probabilities, labels)
    assert result["matrix"][motions.index("left")][motions.index("right")] == 1
    assert result["translate_accuracy"] == 0.5
    assert result["scale_accuracy"] == 0.5
    assert result["family_accuracy"] == 1.0  # right family every time
    assert result["reversed_rate"] == 0.5  # left->right, shrink->grow


def test_energy_split_puts_real_motion_in_the_object_and_flicker_outside():
    """Real synthetic clips change only where the object is; adding noise to
    the background of a copy shows up in `background` only."""
    videos, _ = synthetic.generate_clips(6, 5, 32, seed=0)
    split = motion.motion_energy_split(videos)
    np.testing.assert_allclose(split.background, 0.0)
    np.testing.assert_allclose(split.background_share, 0.0)
    assert min(split.object_region) > 1.0
    assert 0.02 < split.object_area < 0.8
    # +-8 flicker on one background pixel far from any object.
    noisy = videos.astype(np.int16)
    corner = noisy[:, :, 0, 0].copy()
    noisy[:, 1::2, 0, 0] = np.clip(corner[:, 1::2] + 8, 0, 255)
    flickering = motion.motion_energy_split(noisy.astype(np.uint8))
    assert min(flickering.background) > 0.0
    np.testing.assert_allclose(flickering.object_region, split.object_region)
