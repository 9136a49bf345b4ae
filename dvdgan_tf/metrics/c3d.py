"""C3D of the TGAN/TGANv2 lineage, in Keras, from its published weights.

The UCF-101 Inception Score of DVD-GAN's Table 2 (and of TGAN, MoCoGAN,
TGANv2) is computed with C3D (Tran et al. 2015) fine-tuned on UCF-101:
Caffe's ``c3d_ucf101_finetune_whole_iter_20000``, distributed by the
TGAN/TGANv2 authors (pfnet-research) converted to a Chainer npz,
``conv3d_deepnetA_ucf.npz``, with the Sports-1M mean clip ``mean2.npz``.
Nothing here downloads them (docs/EVALUATION.md says where users get them);
this module turns those two files into the network and the mean clip that
`metrics.classifier` feeds.

Architecture (channels-last here; Chainer stores NCTHW):

    input [N, 16, 112, 112, 3], BGR, 0-255 scale minus the mean clip
    conv1a 64                   3x3x3, stride 1, pad 1, ReLU
    pool1  1x2x2
    conv2a 128, pool2 2x2x2
    conv3a 256, conv3b 256, pool3 2x2x2
    conv4a 512, conv4b 512, pool4 2x2x2
    conv5a 512, conv5b 512, pool5 2x2x2 with Caffe/Chainer *ceil* mode
                                (cover_all: 7 -> 4 rows), [N, 1, 4, 4, 512]
    flatten in Chainer's (C, T, H, W) order -> 8192
    fc6 4096 ReLU, fc7 4096 ReLU (dropout: inference, identity), fc8 101

fc8 are the logits whose softmax the Inception Score averages; fc7 are the
features. The widths are read from the file, so a file of the same layout
with other widths (the tests write one) loads the same way.

The npz layout: one array per parameter, keyed ``<layer>/W`` and
``<layer>/b`` (possibly under a prefix such as ``predictor/``); conv
``W`` is [out, in, kt, kh, kw], linear ``W`` is [out, in]. ``mean2.npz``
holds ``mean`` [3, 16, H >= 120, W >= 120] in BGR on the 0-255 scale;
TGANv2 subtracts its [:, :, 8:120, 8:120] window, and so does
`read_mean_clip`.
"""

from __future__ import annotations

import io

import keras
import numpy as np
import tensorflow as tf

NUM_FRAMES = 16
SIZE = 112
CONV_LAYERS = (
    "conv1a",
    "conv2a",
    "conv3a",
    "conv3b",
    "conv4a",
    "conv4b",
    "conv5a",
    "conv5b",
)
FC_LAYERS = ("fc6", "fc7", "fc8")
# Pooling after these convs (pool1 keeps time).
_POOL_AFTER = {
    "conv1a": (1, 2, 2),
    "conv2a": (2, 2, 2),
    "conv3b": (2, 2, 2),
    "conv4b": (2, 2, 2),
    "conv5b": (2, 2, 2),
}
_MEAN_WINDOW = slice(8, 8 + SIZE)


def _read_npz(path: str) -> dict:
    with tf.io.gfile.GFile(path, "rb") as f:
        with np.load(io.BytesIO(f.read())) as data:
            return {key: np.asarray(data[key]) for key in data.files}


def _find(arrays: dict, name: str, path: str) -> np.ndarray:
    """The array keyed ``name`` (e.g. "conv1a/W"), under any prefix."""
    matches = [key for key in arrays if key == name or key.endswith("/" + name)]
    if len(matches) != 1:
        found = ", ".join(sorted(arrays)[:12])
        raise ValueError(
            f"{path}: expected one array named '{name}' (a Chainer npz of "
            f"TGAN's C3D, conv3d_deepnetA_ucf.npz); found "
            f"{len(matches)}. Its keys: {found}"
            f"{' ...' if len(arrays) > 12 else ''}"
        )
    return arrays[matches[0]]


def read_chainer_weights(path: str) -> dict:
    """{layer: (W, b)} in Chainer layout, checked for C3D's shapes.

    Raises:
        ValueError: a missing layer or a shape that is not C3D's (the
            message names the layer and the shapes).
    """
    arrays = _read_npz(path)
    weights = {}
    in_channels = 3
    for name in CONV_LAYERS:
        kernel = _find(arrays, f"{name}/W", path)
        bias = _find(arrays, f"{name}/b", path)
        if (
            kernel.ndim != 5
            or kernel.shape[1] != in_channels
            or kernel.shape[2:] != (3, 3, 3)
            or bias.shape != (kernel.shape[0],)
        ):
            raise ValueError(
                f"{path}: {name}/W has shape {kernel.shape} and {name}/b "
                f"{bias.shape}; expected [out, {in_channels}, 3, 3, 3] and "
                "[out] (Chainer ConvolutionND layout)."
            )
        weights[name] = (kernel, bias)
        in_channels = kernel.shape[0]
    features = in_channels * 1 * 4 * 4  # pool5 output [C, 1, 4, 4]
    for name in FC_LAYERS:
        kernel = _find(arrays, f"{name}/W", path)
        bias = _find(arrays, f"{name}/b", path)
        if (
            kernel.ndim != 2
            or kernel.shape[1] != features
            or bias.shape != (kernel.shape[0],)
        ):
            raise ValueError(
                f"{path}: {name}/W has shape {kernel.shape} and {name}/b "
                f"{bias.shape}; expected [out, {features}] and [out] "
                "(Chainer Linear layout)."
            )
        weights[name] = (kernel, bias)
        features = kernel.shape[0]
    return weights


def build_c3d(
    conv_widths=(64, 128, 256, 256, 512, 512, 512, 512),
    fc_widths=(4096, 4096),
    num_classes=101,
) -> keras.Model:
    """C3D as a functional Keras model: [N, 16, 112, 112, 3] -> {"fc7",
    "fc8", "prob"} (fc7 features, fc8 logits, softmax probabilities)."""
    video = keras.Input([NUM_FRAMES, SIZE, SIZE, 3], name="video")
    x = video
    for name, width in zip(CONV_LAYERS, conv_widths):
        x = keras.layers.Conv3D(
            width, 3, padding="same", activation="relu", name=name
        )(x)
        if name in _POOL_AFTER:
            # 'same' = Chainer's cover_all / Caffe's ceil mode: pool5 turns
            # 7 rows into 4 (the window past the edge sees 1 row).
            x = keras.layers.MaxPool3D(
                _POOL_AFTER[name], padding="same", name=f"pool_{name}"
            )(x)
    # Chainer flattens [N, C, T, H, W]: put channels first.
    x = keras.layers.Permute((4, 1, 2, 3), name="to_nc_thw")(x)
    x = keras.layers.Flatten(name="flatten")(x)
    fc6 = keras.layers.Dense(fc_widths[0], activation="relu", name="fc6")(x)
    fc7 = keras.layers.Dense(fc_widths[1], activation="relu", name="fc7")(fc6)
    fc8 = keras.layers.Dense(num_classes, name="fc8")(fc7)
    prob = keras.layers.Softmax(name="prob")(fc8)
    return keras.Model(
        video, {"fc7": fc7, "fc8": fc8, "prob": prob}, name="c3d"
    )


def c3d_from_chainer_npz(path: str) -> keras.Model:
    """A `build_c3d` model holding the weights of a Chainer C3D npz."""
    weights = read_chainer_weights(path)
    model = build_c3d(
        conv_widths=tuple(weights[n][0].shape[0] for n in CONV_LAYERS),
        fc_widths=tuple(weights[n][0].shape[0] for n in FC_LAYERS[:2]),
        num_classes=weights["fc8"][0].shape[0],
    )
    for name in CONV_LAYERS:
        kernel, bias = weights[name]
        # [out, in, kt, kh, kw] -> [kt, kh, kw, in, out]
        model.get_layer(name).set_weights(
            [np.transpose(kernel, (2, 3, 4, 1, 0)), bias]
        )
    for name in FC_LAYERS:
        kernel, bias = weights[name]
        model.get_layer(name).set_weights([kernel.T, bias])
    return model


def read_mean_clip(path: str) -> np.ndarray:
    """TGANv2's mean clip: float32 [16, 112, 112, 3], BGR, 0-255 scale.

    Reads ``mean`` [3, 16, H, W] from a ``mean2.npz``-style file and takes
    the [8:120, 8:120] window TGANv2's C3D wrapper subtracts.
    """
    arrays = _read_npz(path)
    mean = _find(arrays, "mean", path)
    if (
        mean.ndim != 4
        or mean.shape[:2] != (3, NUM_FRAMES)
        or min(mean.shape[2:]) < _MEAN_WINDOW.stop
    ):
        raise ValueError(
            f"{path}: 'mean' has shape {mean.shape}; expected [3, "
            f"{NUM_FRAMES}, H, W] with H, W >= {_MEAN_WINDOW.stop} (C3D's "
            "mean2.npz)."
        )
    window = mean[:, :, _MEAN_WINDOW, _MEAN_WINDOW]
    return np.ascontiguousarray(
        np.transpose(window, (1, 2, 3, 0)), dtype=np.float32
    )
