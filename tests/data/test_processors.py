"""Tests of the per-clip TF processing functions (frame choice, crop)."""

import numpy as np
import tensorflow as tf

from dvdgan_tf.data import processors

_SEED = tf.constant([1, 2], tf.int64)


def _indices(length, num_frames, stride, is_training, seed=_SEED):
    return processors.sample_frame_indices(
        tf.constant(length), num_frames, stride, is_training, seed
    ).numpy()


def test_eval_window_is_centred_with_stride():
    # span = (4 - 1) * 2 + 1 = 7 of 11 frames -> start 2.
    np.testing.assert_array_equal(_indices(11, 4, 2, False), [2, 4, 6, 8])


def test_training_window_fits_and_keeps_stride():
    starts = set()
    for i in range(40):
        idx = _indices(10, 3, 3, True, tf.constant([i, 7], tf.int64))
        np.testing.assert_array_equal(np.diff(idx), [3, 3])
        assert idx[0] >= 0 and idx[-1] <= 9
        starts.add(int(idx[0]))
    assert starts == {0, 1, 2, 3}  # span 7 of 10 frames


def test_short_clip_is_read_cyclically():
    np.testing.assert_array_equal(_indices(3, 5, 1, False), [0, 1, 2, 0, 1])
    idx = _indices(3, 4, 2, True)
    np.testing.assert_array_equal(np.diff(idx) % 3, [2, 2, 2])
    assert idx.max() < 3


def test_resize_square_area_averages_when_downscaling():
    video = tf.fill([2, 20, 20, 3], tf.constant(200, tf.uint8))
    smaller = processors.resize_square(video, 10).numpy()
    assert smaller.shape == (2, 10, 10, 3)
    np.testing.assert_allclose(smaller, 200.0, atol=1e-3)


def test_centre_crop_takes_the_middle_square():
    video = tf.reshape(tf.range(4 * 8, dtype=tf.float32), [1, 4, 8, 1])
    crop = processors.crop_square(video, False, _SEED).numpy()
    np.testing.assert_array_equal(crop[0, :, :, 0], video.numpy()[0, :, 2:6, 0])


def test_random_crop_is_the_same_for_all_frames():
    frame = tf.reshape(tf.range(6 * 10, dtype=tf.float32), [1, 6, 10, 1])
    video = tf.tile(frame, [3, 1, 1, 1])
    crops = {
        tuple(
            processors.crop_square(
                video, True, tf.constant([i, 0], tf.int64)
            ).numpy()[0, 0, :, 0]
        )
        for i in range(30)
    }
    crop = processors.crop_square(video, True, _SEED).numpy()
    np.testing.assert_array_equal(crop[0], crop[2])
    assert crop.shape == (3, 6, 6, 1)
    assert len(crops) == 5  # every horizontal offset 0..4 occurs


def test_normalize_uint8_matches_float_arithmetic_exactly():
    # The uint8 path (one Dequantize op) must equal x / 127.5 - 1 bit for
    # bit, the formula the float path (after a resize) uses.
    values = np.arange(256, dtype=np.uint8).reshape(1, 16, 16, 1)
    fast = processors.normalize_to_unit_range(tf.constant(values)).numpy()
    reference = processors.normalize_to_unit_range(
        tf.constant(values, tf.float32)
    ).numpy()
    assert fast.dtype == np.float32 and fast.shape == values.shape
    np.testing.assert_array_equal(fast, reference)
    assert fast.min() == -1.0 and fast.max() == 1.0
