"""Tests for dvdgan_tf.metrics.classifier: preprocessing and the SavedModel."""

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.metrics import classifier as classifier_lib
from tests import tiny_config

NUM_CLASSES = 5
FEATURE_DIM = 6


def _ramp_videos(height=tiny_config.RESOLUTION, width=tiny_config.RESOLUTION):
    rows = np.arange(height)[:, None] * 8
    cols = np.arange(width)[None, :] * 4
    frame = np.clip(rows + cols, 0, 255).astype(np.uint8)
    frame = np.stack([frame, frame // 2, 255 - frame], axis=-1)
    return np.broadcast_to(
        frame, (tiny_config.BATCH, tiny_config.FRAMES, height, width, 3)
    ).copy()


def test_tganv2_resize_gives_input_size_and_keeps_constant_frames():
    videos = np.full((2, 3, 20, 30, 3), 200, np.uint8)
    resized = classifier_lib.resize_videos(videos, 12, 12, "tganv2")
    assert resized.shape == (2, 3, 12, 12, 3)
    np.testing.assert_allclose(resized, 200.0, atol=1e-4)


def test_tganv2_resize_aligns_corners_like_chainer():
    videos = _ramp_videos()
    resized = classifier_lib.resize_videos(videos, 7, 7, "tganv2")
    # Corner-aligned sampling keeps the corner pixels exactly; half-pixel
    # sampling ("bilinear") averages near them.
    np.testing.assert_allclose(resized[:, :, 0, 0], videos[:, :, 0, 0])
    np.testing.assert_allclose(resized[:, :, -1, -1], videos[:, :, -1, -1])
    half_pixel = classifier_lib.resize_videos(videos, 7, 7, "bilinear")
    assert not np.allclose(half_pixel[:, :, -1, -1], videos[:, :, -1, -1])


def test_mean_clip_is_subtracted_per_pixel(tmp_path):
    mean = np.zeros((2, 4, 4, 3), np.float32)
    mean[1, 2, 3] = [10.0, 20.0, 30.0]
    np.save(tmp_path / "mean.npy", mean)
    settings = classifier_lib.build_video_classifier(
        saved_model_dir="unused",
        name="tiny",
        num_frames=2,
        height=4,
        width=4,
        mean_path=str(tmp_path / "mean.npy"),
    )
    prepared = classifier_lib.prepare_input(
        np.full((1, 2, 4, 4, 3), 100, np.uint8), settings
    )
    np.testing.assert_allclose(
        prepared[0, 1, 2, 3], [90.0, 80.0, 70.0], atol=1e-4
    )
    np.testing.assert_allclose(prepared[0, 0], 100.0, atol=1e-4)


def test_mean_clip_of_the_wrong_shape_is_rejected(tmp_path):
    np.save(tmp_path / "mean.npy", np.zeros((16, 4, 4, 3), np.float32))
    settings = classifier_lib.build_video_classifier(
        saved_model_dir="unused",
        name="tiny",
        num_frames=2,
        height=4,
        width=4,
        mean_path=str(tmp_path / "mean.npy"),
    )
    with pytest.raises(ValueError, match=r"\(16, 4, 4, 3\)"):
        classifier_lib.prepare_input(
            np.zeros((1, 2, 8, 8, 3), np.uint8), settings
        )


def test_tgan_preprocessing_crops_the_centre_after_resizing():
    videos = _ramp_videos()
    # pre_crop_size equal to the frame size makes the resize an identity, so
    # the result must be exactly the central 8x8 window.
    cropped = classifier_lib.resize_videos(
        videos, 8, 8, classifier_lib.Preprocessing.TGAN, pre_crop_size=16
    )
    assert cropped.shape == (tiny_config.BATCH, tiny_config.FRAMES, 8, 8, 3)
    np.testing.assert_allclose(cropped, videos[:, :, 4:12, 4:12], atol=1e-3)


def test_tgan_preprocessing_resizes_bicubic_before_cropping():
    videos = _ramp_videos()
    cropped = classifier_lib.resize_videos(
        videos, 16, 16, "tgan", pre_crop_size=32
    )
    upsampled = tf.image.resize(
        tf.cast(videos[0], tf.float32), [32, 32], method="bicubic"
    )
    expected = np.clip(upsampled.numpy()[:, 8:24, 8:24], 0, 255)
    np.testing.assert_allclose(cropped[0], expected, atol=1e-3)


def test_prepare_input_maps_range_channels_mean_and_layout():
    videos = np.zeros((1, 2, 4, 4, 3), np.uint8)
    videos[..., 0] = 255  # red
    settings = classifier_lib.build_video_classifier(
        saved_model_dir="unused",
        name="tiny",
        num_frames=2,
        height=4,
        width=4,
        value_range="-1_1",
        channel_order="bgr",
        layout="NCTHW",
        mean=(0.5, 0.0, 0.0),
    )
    prepared = classifier_lib.prepare_input(videos, settings)
    assert prepared.shape == (1, 3, 2, 4, 4)
    # BGR: blue (-1) first, red (+1) last; the mean is subtracted after.
    np.testing.assert_allclose(prepared[0, :, 0, 0, 0], [-1.5, -1.0, 1.0])


def test_prepare_input_rejects_wrong_frame_count():
    settings = classifier_lib.build_video_classifier(
        saved_model_dir="unused", name="tiny", num_frames=16, height=4, width=4
    )
    with pytest.raises(ValueError, match="T=4"):
        classifier_lib.prepare_input(_ramp_videos(), settings)


def test_float_videos_are_rejected_with_a_hint():
    with pytest.raises(ValueError, match="pixels.to_uint8"):
        classifier_lib.resize_videos(
            np.zeros((1, 2, 4, 4, 3), np.float32), 4, 4, "tganv2"
        )


class _TinyClassifier(tf.Module):
    """Pools a [N, T, 8, 8, 3] clip in [0, 1] and applies a linear layer."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(0)
        self.features_kernel = tf.Variable(
            rng.normal(size=(3, FEATURE_DIM)).astype(np.float32)
        )
        self.logits_kernel = tf.Variable(
            rng.normal(size=(FEATURE_DIM, NUM_CLASSES)).astype(np.float32)
        )

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, tiny_config.FRAMES, 8, 8, 3], tf.float32)
        ]
    )
    def serve(self, clips):
        features = tf.reduce_mean(clips, axis=[1, 2, 3]) @ self.features_kernel
        return {"pool": features, "scores": features @ self.logits_kernel}


@pytest.fixture(scope="module")
def tiny_saved_model(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("classifier") / "saved_model")
    module = _TinyClassifier()
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.serve}
    )
    return path, module


def _tiny_settings(path, **overrides):
    arguments = dict(
        saved_model_dir=path,
        name="tiny",
        num_frames=tiny_config.FRAMES,
        height=8,
        width=8,
        value_range="0_1",
        logits_key="scores",
        features_key="pool",
        batch_size=3,
    )
    arguments.update(overrides)
    return classifier_lib.build_video_classifier(**arguments)


def test_saved_model_classifier_returns_softmax_and_features(tiny_saved_model):
    path, module = tiny_saved_model
    videos = np.random.default_rng(1).integers(
        0, 256, size=(5, tiny_config.FRAMES, 16, 16, 3), dtype=np.uint8
    )
    outputs = classifier_lib.LoadedVideoClassifier(
        _tiny_settings(path)
    ).predict(videos)
    expected = module.serve(
        tf.constant(classifier_lib.prepare_input(videos, _tiny_settings(path)))
    )
    assert outputs["probabilities"].shape == (5, NUM_CLASSES)
    assert outputs["probabilities"].dtype == np.float64
    np.testing.assert_allclose(
        outputs["probabilities"],
        tf.nn.softmax(expected["scores"]).numpy(),
        atol=1e-6,
    )
    np.testing.assert_allclose(
        outputs["features"], expected["pool"].numpy(), atol=1e-5
    )


def test_unknown_output_key_lists_the_outputs(tiny_saved_model):
    path, _ = tiny_saved_model
    with pytest.raises(ValueError, match=r"\['pool', 'scores'\]"):
        classifier_lib.LoadedVideoClassifier(
            _tiny_settings(path, logits_key="fc8")
        )
