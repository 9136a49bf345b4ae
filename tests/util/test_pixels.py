"""dvdgan_tf.util.pixels: the one uint8 <-> float pair."""

import numpy as np
import tensorflow as tf

from dvdgan_tf.data import processors
from dvdgan_tf.util import pixels

_ALL = np.arange(256, dtype=np.uint8)


def test_round_trip_is_exact_for_every_uint8_value():
    np.testing.assert_array_equal(
        pixels.to_uint8(pixels.from_uint8(_ALL)), _ALL
    )
    tensor = pixels.to_uint8_tensor(pixels.from_uint8_tensor(tf.constant(_ALL)))
    np.testing.assert_array_equal(tensor.numpy(), _ALL)


def test_numpy_and_tensor_maps_agree_bit_for_bit():
    unit = pixels.from_uint8(_ALL)
    assert unit.dtype == np.float32 and unit[0] == -1.0 and unit[-1] == 1.0
    np.testing.assert_array_equal(
        pixels.from_uint8_tensor(tf.constant(_ALL)).numpy(), unit
    )
    values = np.linspace(-1.2, 1.2, 1001, dtype=np.float32)
    np.testing.assert_array_equal(
        pixels.to_uint8_tensor(tf.constant(values)).numpy(),
        pixels.to_uint8(values),
    )


def test_from_uint8_is_what_the_data_pipeline_feeds_the_models():
    # The reader's fast uint8 path (one Dequantize op) and util.pixels give
    # the same float32 bits, so context frames at inference equal the
    # training data's.
    fast = processors.normalize_to_unit_range(tf.constant(_ALL)).numpy()
    np.testing.assert_array_equal(fast, pixels.from_uint8(_ALL))


def test_to_uint8_rounds_half_to_even_and_clips():
    # 0.0 maps to 127.5 exactly: round half to even gives 128, not 127 or
    # a truncated 127; values outside [-1, 1] clip.
    values = np.array([-1.0, 0.0, 1.0, -3.0, 3.0], np.float32)
    assert pixels.to_uint8(values).tolist() == [0, 128, 255, 0, 255]
    tensor = pixels.to_uint8_tensor(tf.constant(values))
    assert tensor.numpy().tolist() == [0, 128, 255, 0, 255]
