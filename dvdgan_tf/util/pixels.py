"""uint8 pixels [0, 255] <-> float [-1, 1]: the one pair of maps.

Every clip the models see is float32 in [-1, 1]; every clip that is stored,
shown or scored by a pixel metric is uint8. The maps:

  from_uint8(x) = x * (1 / 127.5) - 1        (exact for all 256 values of
                                              the data pipeline's fast
                                              `Dequantize` path, and the
                                              judge's `Rescaling` layer)
  to_uint8(v)   = clip(round((v + 1) * 127.5), 0, 255)   (round half to
                                                          even)

so ``to_uint8(from_uint8(x)) == x`` for every uint8 x. Each map comes as a
NumPy function (any array-like or eager tensor in, NumPy out) and as
TensorFlow ops (`*_tensor`, for graphs: the SavedModel signatures and
tf.data); both compute the same float32 values bit for bit.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

# x * _TO_UNIT - 1: float32(1 / 127.5), the factor tf.data's and Keras'
# multiply-by-scale forms use.
_TO_UNIT = np.float32(1.0 / 127.5)
_TO_PIXELS = np.float32(127.5)


def from_uint8(pixels) -> np.ndarray:
    """uint8 (or float) pixels in [0, 255] -> float32 in [-1, 1]."""
    return np.asarray(pixels, np.float32) * _TO_UNIT - np.float32(1.0)


def to_uint8(video) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounded and clipped (any shape).

    Args:
        video: float array or eager tensor, values nominally in [-1, 1].

    Returns:
        uint8 NumPy array of the same shape.
    """
    video = np.asarray(video, dtype=np.float32)
    return np.clip(np.round((video + 1.0) * _TO_PIXELS), 0, 255).astype(
        np.uint8
    )


def from_uint8_tensor(pixels: tf.Tensor) -> tf.Tensor:
    """`from_uint8` as TensorFlow ops (float32 out)."""
    return tf.cast(pixels, tf.float32) * _TO_UNIT - 1.0


def to_uint8_tensor(video: tf.Tensor) -> tf.Tensor:
    """`to_uint8` as TensorFlow ops (inside a SavedModel signature)."""
    video = tf.cast(video, tf.float32)
    return tf.cast(
        tf.clip_by_value(tf.round((video + 1.0) * _TO_PIXELS), 0.0, 255.0),
        tf.uint8,
    )
