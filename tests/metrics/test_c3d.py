"""metrics/c3d.py: TGAN's C3D from a Chainer npz, against a NumPy forward.

The real conv3d_deepnetA_ucf.npz cannot be fetched here; the tests write a
file of the same layout (Chainer key names and axis orders) with small
widths, at the real input size (16 x 112 x 112), and check the Keras network
against an independent NumPy implementation of the Chainer model.
"""

import gin
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf import configurables
from dvdgan_tf.metrics import c3d
from dvdgan_tf.metrics import classifier as classifier_lib

_CONV = (2, 3, 3, 4, 4, 4, 5, 5)
_FC = (6, 6)
_CLASSES = 4


def _write_weights(path, seed=0, drop=None, prefix="predictor/"):
    rng = np.random.default_rng(seed)
    arrays = {}
    channels = 3
    for name, width in zip(c3d.CONV_LAYERS, _CONV):
        arrays[f"{name}/W"] = rng.normal(
            0, 0.3, (width, channels, 3, 3, 3)
        ).astype(np.float32)
        arrays[f"{name}/b"] = rng.normal(0, 0.1, width).astype(np.float32)
        channels = width
    features = channels * 16
    for name, width in zip(c3d.FC_LAYERS, _FC + (_CLASSES,)):
        arrays[f"{name}/W"] = rng.normal(0, 0.3, (width, features)).astype(
            np.float32
        )
        arrays[f"{name}/b"] = rng.normal(0, 0.1, width).astype(np.float32)
        features = width
    if drop:
        del arrays[drop]
    np.savez(path, **{prefix + k: v for k, v in arrays.items()})
    return arrays


def _write_mean(path):
    mean = (
        np.arange(3 * 16 * 128 * 171, dtype=np.float32).reshape(3, 16, 128, 171)
        % 251
    )
    np.savez(path, mean=mean)
    return mean


# --- an independent NumPy C3D, in Chainer's NCTHW layout ---------------------


def _conv3d(x, kernel, bias):
    """3x3x3, stride 1, pad 1: x [N, C, T, H, W], kernel [O, C, 3, 3, 3]."""
    n, _, t, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1), (1, 1)))
    out = np.zeros((n, kernel.shape[0], t, h, w), np.float64)
    for dt in range(3):
        for dh in range(3):
            for dw in range(3):
                window = padded[:, :, dt : dt + t, dh : dh + h, dw : dw + w]
                out += np.einsum(
                    "ncthw,oc->nothw", window, kernel[:, :, dt, dh, dw]
                )
    return out + bias[None, :, None, None, None]


def _max_pool_cover_all(x, kt, kh, kw):
    """Chainer's max_pooling_nd(ksize=stride, cover_all=True)."""
    n, c, t, h, w = x.shape
    sizes = [-(-d // k) * k for d, k in zip((t, h, w), (kt, kh, kw))]
    padded = np.full((n, c, *sizes), -np.inf)
    padded[:, :, :t, :h, :w] = x
    shaped = padded.reshape(
        n, c, sizes[0] // kt, kt, sizes[1] // kh, kh, sizes[2] // kw, kw
    )
    return shaped.max(axis=(3, 5, 7))


def _numpy_c3d(x_nthwc, arrays):
    """fc8 logits and fc7 features of the Chainer C3D, in float64."""
    h = np.transpose(x_nthwc, (0, 4, 1, 2, 3)).astype(np.float64)
    pools = {
        "conv1a": (1, 2, 2),
        "conv2a": (2, 2, 2),
        "conv3b": (2, 2, 2),
        "conv4b": (2, 2, 2),
        "conv5b": (2, 2, 2),
    }
    for name in c3d.CONV_LAYERS:
        h = np.maximum(_conv3d(h, arrays[f"{name}/W"], arrays[f"{name}/b"]), 0)
        if name in pools:
            h = _max_pool_cover_all(h, *pools[name])
    assert h.shape[2:] == (1, 4, 4)
    h = h.reshape(h.shape[0], -1)
    fc7 = None
    for name in c3d.FC_LAYERS:
        h = h @ arrays[f"{name}/W"].T + arrays[f"{name}/b"]
        if name != "fc8":
            h = np.maximum(h, 0)
        if name == "fc7":
            fc7 = h
    return h, fc7


def test_keras_c3d_matches_a_numpy_forward_of_the_chainer_file(tmp_path):
    arrays = _write_weights(tmp_path / "c3d.npz")
    model = c3d.c3d_from_chainer_npz(str(tmp_path / "c3d.npz"))
    x = np.random.default_rng(1).uniform(-1, 1, (2, 16, 112, 112, 3))
    x = x.astype(np.float32)
    outputs = model(x, training=False)
    logits, features = _numpy_c3d(x, arrays)
    np.testing.assert_allclose(outputs["fc8"], logits, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(outputs["fc7"], features, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        outputs["prob"], tf.nn.softmax(logits).numpy(), rtol=1e-4, atol=1e-5
    )
    # Not a trivially constant network: the two clips score differently.
    assert np.abs(logits[0] - logits[1]).max() > 1e-3


def test_a_missing_or_misshapen_layer_is_named(tmp_path):
    _write_weights(tmp_path / "missing.npz", drop="conv4b/W")
    with pytest.raises(ValueError, match="conv4b/W"):
        c3d.c3d_from_chainer_npz(str(tmp_path / "missing.npz"))
    arrays = _write_weights(tmp_path / "ok.npz", prefix="")
    arrays["fc6/W"] = arrays["fc6/W"][:, :-1]
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=r"fc6/W has shape \(6, 79\)"):
        c3d.c3d_from_chainer_npz(str(tmp_path / "bad.npz"))


def test_mean_clip_is_tganv2s_window_channels_last(tmp_path):
    mean = _write_mean(tmp_path / "mean2.npz")
    clip = c3d.read_mean_clip(str(tmp_path / "mean2.npz"))
    assert clip.shape == (16, 112, 112, 3)
    for t, y, x, c in [(0, 0, 0, 0), (15, 111, 111, 2), (7, 30, 90, 1)]:
        assert clip[t, y, x, c] == mean[c, t, 8 + y, 8 + x]


def test_c3d_ucf101_gin_scores_clips_as_tganv2_feeds_them(tmp_path):
    arrays = _write_weights(tmp_path / "c3d.npz")
    _write_mean(tmp_path / "mean2.npz")
    gin.clear_config()
    configurables.add_gin_search_path()
    gin.parse_config_files_and_bindings(
        ["c3d_ucf101.gin"],
        [
            f"C3D_WEIGHTS = '{tmp_path / 'c3d.npz'}'",
            f"C3D_MEAN = '{tmp_path / 'mean2.npz'}'",
        ],
    )
    try:
        settings = configurables.build_video_classifier()
    finally:
        gin.clear_config()
    videos = np.random.default_rng(2).integers(
        0, 256, (3, 16, 32, 32, 3), np.uint8
    )
    predicted = classifier_lib.LoadedVideoClassifier(settings).predict(videos)
    # TGANv2: 128 x + 128 of x in [-1, 1] (here: 256/255 of the uint8 value),
    # corner-aligned bilinear resize to 112, BGR, minus the mean window.
    resized = tf.compat.v1.image.resize_bilinear(
        tf.reshape(tf.cast(videos, tf.float32), [48, 32, 32, 3]),
        [112, 112],
        align_corners=True,
    ).numpy()
    x = resized.reshape(3, 16, 112, 112, 3) * (256.0 / 255.0)
    x = x[..., ::-1] - c3d.read_mean_clip(str(tmp_path / "mean2.npz"))
    logits, features = _numpy_c3d(x, arrays)
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(
        predicted["probabilities"], expected, rtol=1e-3, atol=1e-5
    )
    np.testing.assert_allclose(
        predicted["features"], features, rtol=1e-3, atol=1e-3
    )
