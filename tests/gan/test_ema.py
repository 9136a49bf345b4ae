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


def test_rampup_grows_the_horizon_until_the_configured_decay():
    # decay 0.999: half-life h = ln 0.5 / ln 0.999 = 692.8 steps; with
    # r = 0.1 the horizon is 0.1 * n steps until n = h / r = 6,928.
    half_life = np.log(0.5) / np.log(0.999)

    def decay_at(step):
        return float(
            ema.effective_decay(step, 0.999, start_step=100, rampup=0.1)
        )

    assert decay_at(99) == 0.0  # still copying
    # n = 1 and n = 5: the horizon is clamped to half a step (0.5 ** 2).
    assert decay_at(100) == pytest.approx(0.25)
    assert decay_at(104) == pytest.approx(0.25)
    # n = 1000: half-life 100 steps.
    assert decay_at(1099) == pytest.approx(0.5 ** (1 / 100), rel=1e-6)
    values = [decay_at(step) for step in range(100, 9000, 250)]
    assert values == sorted(values)  # never decreases
    assert decay_at(100 + int(half_life / 0.1) + 10) == pytest.approx(0.999)
    assert max(values) <= 0.999 + 1e-7


def test_rampup_off_is_the_papers_fixed_decay():
    assert float(ema.effective_decay(5, 0.9, start_step=5)) == (
        pytest.approx(0.9)
    )
    assert float(ema.effective_decay(5, 0.9, 5, rampup=0.0)) == (
        pytest.approx(0.9)
    )
    with pytest.raises(ValueError, match="ramp-up >= 0"):
        ema.effective_decay(5, 0.9, 5, rampup=-1.0)
