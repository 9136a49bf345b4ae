"""The EMA generator's update rule (dvdgan_tf.gan.ema)."""

import keras
import numpy as np
import pytest

from dvdgan_tf.gan import ema


def _model(value):
    inputs = keras.Input((2,))
    x = keras.layers.Dense(
        2, kernel_initializer=keras.initializers.Constant(value)
    )(inputs)
    outputs = keras.layers.BatchNormalization()(x)
    return keras.Model(inputs, outputs)


def _set_bn_stats(model, mean):
    model.layers[-1].moving_mean.assign(np.full([2], mean, np.float32))


def test_ema_equals_weights_before_start_step():
    live, average = _model(3.0), _model(0.0)
    _set_bn_stats(live, 7.0)
    decay = ema.update_ema(average, live, step=4, decay=0.9, start_step=5)
    assert float(decay) == 0.0
    for ema_weight, weight in zip(average.weights, live.weights):
        np.testing.assert_array_equal(ema_weight, weight)


def test_ema_applies_decay_rule_from_start_step():
    live, average = _model(3.0), _model(1.0)
    decay = ema.update_ema(average, live, step=5, decay=0.9, start_step=5)
    assert float(decay) == pytest.approx(0.9)
    # 0.9 * 1 + 0.1 * 3 = 1.2, then 0.9 * 1.2 + 0.1 * 3 = 1.38
    np.testing.assert_allclose(average.layers[1].kernel, np.full([2, 2], 1.2))
    ema.update_ema(average, live, step=6, decay=0.9, start_step=5)
    np.testing.assert_allclose(
        average.layers[1].kernel, np.full([2, 2], 1.38), rtol=1e-6
    )


def test_ema_copies_non_trainable_weights_after_start_step():
    live, average = _model(3.0), _model(1.0)
    _set_bn_stats(live, 7.0)
    ema.update_ema(average, live, step=100, decay=0.9, start_step=5)
    np.testing.assert_array_equal(
        average.layers[-1].moving_mean, np.full([2], 7.0)
    )


def test_ema_rejects_models_with_different_weights():
    inputs = keras.Input((2,))
    other = keras.Model(inputs, keras.layers.Dense(3)(inputs))
    with pytest.raises(ValueError, match="same weights"):
        ema.update_ema(other, _model(1.0), step=0, decay=0.9, start_step=0)


def test_ema_rejects_decay_outside_unit_interval():
    with pytest.raises(ValueError, match="decay=1.5"):
        ema.effective_decay(0, decay=1.5, start_step=0)
