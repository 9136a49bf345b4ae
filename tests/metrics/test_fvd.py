"""Tests for the FVD protocol: preprocessing, naming, embedding, distance."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.metrics import frechet
from dvdgan_tf.metrics import fvd
from dvdgan_tf.metrics import i3d


def _random_videos(num_videos, num_frames=9, size=16, seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(
        0, 256, (num_videos, num_frames, size, size, 3), dtype=np.uint8
    )


def test_default_protocol_is_named_fvd2048_16f():
    assert fvd.FVDProtocol().name == "fvd2048_16f"


def test_protocol_name_carries_count_frames_and_stride():
    assert fvd.FVDProtocol(256, 12, stride=2).name == "fvd256_12f_s2"
    assert fvd.FVDProtocol(256, 12, stride=1).name == "fvd256_12f"


def test_protocol_clip_span_counts_source_frames():
    assert fvd.FVDProtocol(256, 12, stride=2).clip_span == 23


def test_protocol_rejects_fewer_than_9_frames():
    with pytest.raises(ValueError, match="num_frames=8"):
        fvd.FVDProtocol(num_frames=8)


def test_embedding_rejects_fewer_than_9_frames():
    with pytest.raises(ValueError, match=r"at least 9 frames.*T=8"):
        fvd.i3d_logits(_random_videos(2, num_frames=8))


def test_preprocess_rejects_float_videos():
    videos = np.zeros((1, 9, 16, 16, 3), np.float32)
    with pytest.raises(ValueError, match="uint8.*dtype=float32"):
        fvd.preprocess(videos)


def test_preprocess_rejects_non_rgb_videos():
    videos = np.zeros((1, 9, 16, 16, 1), np.uint8)
    with pytest.raises(ValueError, match=r"shape=\(1, 9, 16, 16, 1\)"):
        fvd.preprocess(videos)


def test_preprocess_maps_uint8_to_unit_range_on_hand_values():
    videos = np.zeros((1, 9, 224, 224, 3), np.uint8)
    videos[..., 0], videos[..., 1], videos[..., 2] = 0, 51, 255
    frames = fvd.preprocess(videos).numpy()
    assert frames.shape == (1, 9, 224, 224, 3)
    # 224x224 input: the legacy resize is the identity, so values are exact.
    np.testing.assert_array_equal(frames[..., 0], -1.0)
    np.testing.assert_array_equal(frames[..., 2], 1.0)
    np.testing.assert_allclose(frames[..., 1], -0.6, rtol=0, atol=1e-7)


def test_legacy_resize_samples_at_scaled_coordinates():
    # Output pixel i samples input coordinate i * 2 / 4 = [0, .5, 1, 1.5].
    frame = tf.constant([[[[0.0], [100.0]]]])  # [1, 1, 2, 1]
    resized = fvd.resize_frames_legacy(frame, size=4).numpy()
    np.testing.assert_allclose(resized[0, 0, :, 0], [0.0, 50.0, 100.0, 100.0])


def test_legacy_resize_differs_from_half_pixel_resize():
    # TF2's default samples (i + .5) * 2 / 4 - .5 = [-.25, .25, .75, 1.25].
    frame = tf.constant([[[[0.0], [100.0]]]])
    half_pixel = tf.image.resize(frame, (4, 4), method="bilinear").numpy()
    np.testing.assert_allclose(half_pixel[0, 0, :, 0], [0.0, 25.0, 75.0, 100.0])
    legacy = fvd.resize_frames_legacy(frame, size=4).numpy()
    assert np.abs(legacy - half_pixel).max() == pytest.approx(25.0)


def test_i3d_logits_are_float64_and_batch_size_independent():
    videos = _random_videos(3)
    logits = fvd.i3d_logits(videos, batch_size=2)
    assert logits.dtype == np.float64
    assert logits.shape == (3, 400)
    direct = i3d.load_i3d()(fvd.preprocess(videos), training=False)
    np.testing.assert_allclose(logits, np.asarray(direct), rtol=0, atol=1e-4)


def test_streamed_logits_equal_in_memory_logits():
    videos = _random_videos(3)
    streamed = fvd.i3d_logits_from_batches(
        [videos[:1], tf.constant(videos[1:])]
    )
    np.testing.assert_allclose(
        streamed, fvd.i3d_logits(videos, batch_size=3), rtol=0, atol=1e-4
    )


def test_streamed_logits_reject_batches_of_different_lengths():
    batches = [_random_videos(1, num_frames=9), _random_videos(1, 10)]
    with pytest.raises(ValueError, match=r"T=9 frames.*T=10 in batches\[1\]"):
        fvd.i3d_logits_from_batches(batches)


def test_compute_fvd_is_frechet_distance_of_embeddings():
    # A cheap stand-in embedding (the real I3D path is tested above): the
    # wiring, not the network, is under test here.
    embedder = keras.Sequential(
        [
            keras.Input((None, 224, 224, 3)),
            keras.layers.GlobalAveragePooling3D(),
            keras.layers.Dense(8),
        ]
    )
    protocol = fvd.FVDProtocol(num_videos=3, num_frames=9)
    real = _random_videos(3, seed=1)
    # Constant-colour "generated" clips: far from the noise clips.
    fake = np.zeros_like(real)
    fake[:] = np.arange(3, dtype=np.uint8)[:, None, None, None, None] * 100
    value = fvd.compute_fvd(real, fake, protocol, model=embedder)
    expected = frechet.frechet_distance_from_features(
        fvd.i3d_logits(real, model=embedder),
        fvd.i3d_logits(fake, model=embedder),
    )
    assert value == pytest.approx(expected, rel=1e-9)
    assert value > 1.0


def test_compute_fvd_rejects_count_other_than_protocol():
    protocol = fvd.FVDProtocol(num_videos=4, num_frames=9)
    with pytest.raises(
        ValueError,
        match=r"fvd4_9f needs 4 real.*received: "
        r"3 clips of 9 frames",
    ):
        fvd.compute_fvd(_random_videos(3), _random_videos(4), protocol)
