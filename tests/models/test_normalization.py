"""Tests of the per-time-step, cross-replica class-conditional BN."""

import json

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.models import normalization
from tests import tiny_config as tiny

CHANNELS = 5
COND_DIM = 6
SIZE = 4


def _inputs(batch=tiny.BATCH, frames=tiny.FRAMES, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.normal(2.0, 3.0, size=(batch * frames, SIZE, SIZE, CHANNELS))
    c = rng.normal(size=(batch * frames, COND_DIM))
    return x.astype("float32"), c.astype("float32")


def _layer(frames=tiny.FRAMES):
    layer = normalization.ClassConditionalBatchNorm(frames, seed=0)
    layer.build((None, SIZE, SIZE, CHANNELS), (None, COND_DIM))
    return layer


def test_batch_statistics_do_not_leak_across_time_steps():
    layer = _layer()
    x, c = _inputs()
    changed = x.copy()
    clip, frame = 0, 2
    changed[clip * tiny.FRAMES + frame] += 10.0 * np.random.default_rng(
        1
    ).normal(size=changed.shape[1:])
    before = layer(x, c, training=True).numpy()
    after = layer(changed, c, training=True).numpy()
    other_frames = [
        b * tiny.FRAMES + t
        for b in range(tiny.BATCH)
        for t in range(tiny.FRAMES)
        if t != frame
    ]
    np.testing.assert_allclose(
        after[other_frames], before[other_frames], rtol=1e-5, atol=1e-5
    )
    # The changed frame's time step is renormalised (the test can fail).
    assert (
        np.max(
            np.abs(
                after[1 * tiny.FRAMES + frame] - before[1 * tiny.FRAMES + frame]
            )
        )
        > 1e-2
    )


def test_training_output_has_zero_mean_unit_variance_per_time_step():
    layer = _layer()
    x, _ = _inputs()
    zero_conditioning = np.zeros((x.shape[0], COND_DIM), "float32")
    outputs = layer(x, zero_conditioning, training=True).numpy()
    per_step = outputs.reshape(tiny.BATCH, tiny.FRAMES, SIZE, SIZE, CHANNELS)
    np.testing.assert_allclose(per_step.mean(axis=(0, 2, 3)), 0.0, atol=1e-4)
    np.testing.assert_allclose(per_step.var(axis=(0, 2, 3)), 1.0, atol=1e-3)


def test_moving_statistics_are_per_time_step_and_channel():
    layer = _layer()
    x, c = _inputs()
    layer(x, c, training=True)
    assert tuple(layer.moving_mean.shape) == (tiny.FRAMES, CHANNELS)
    assert tuple(layer.moving_variance.shape) == (tiny.FRAMES, CHANNELS)
    step_mean = x.reshape(tiny.BATCH, tiny.FRAMES, SIZE, SIZE, CHANNELS).mean(
        axis=(0, 2, 3)
    )
    np.testing.assert_allclose(
        layer.moving_mean.numpy(), (1 - layer.momentum) * step_mean, rtol=1e-4
    )


def test_inference_uses_moving_statistics_and_updates_nothing():
    layer = _layer()
    x, _ = _inputs()
    mean = np.random.default_rng(2).normal(size=(tiny.FRAMES, CHANNELS))
    variance = np.random.default_rng(3).uniform(
        0.5, 2.0, size=(tiny.FRAMES, CHANNELS)
    )
    layer.moving_mean.assign(mean.astype("float32"))
    layer.moving_variance.assign(variance.astype("float32"))
    zero_conditioning = np.zeros((x.shape[0], COND_DIM), "float32")
    outputs = layer(x, zero_conditioning, training=False).numpy()
    clips = x.reshape(tiny.BATCH, tiny.FRAMES, SIZE, SIZE, CHANNELS)
    expected = (clips - mean[None, :, None, None]) / np.sqrt(
        variance[None, :, None, None] + 1e-5
    )
    np.testing.assert_allclose(
        outputs, expected.reshape(x.shape), rtol=1e-4, atol=1e-4
    )
    np.testing.assert_allclose(layer.moving_mean.numpy(), mean, rtol=1e-6)


def test_gain_is_one_plus_linear_and_bias_is_linear_of_conditioning():
    layer = _layer()
    x, c = _inputs()
    plain = layer(x, np.zeros_like(c), training=False).numpy()
    conditioned = layer(x, c, training=False).numpy()
    gain = 1.0 + layer.gain_linear(c).numpy()
    bias = layer.bias_linear(c).numpy()
    np.testing.assert_allclose(
        conditioned,
        plain * gain[:, None, None] + bias[:, None, None],
        rtol=1e-4,
        atol=1e-4,
    )
    assert not layer.gain_linear.use_bias
    assert not layer.bias_linear.use_bias


def test_layer_contract():
    layer = _layer()
    x, c = _inputs()
    assert tuple(layer(x, c, training=True).shape) == x.shape
    # gain and bias kernels; their two u vectors and the two moving stats.
    assert len(layer.trainable_weights) == 2
    assert len(layer.non_trainable_weights) == 4
    config = json.loads(json.dumps(layer.get_config()))
    clone = normalization.ClassConditionalBatchNorm.from_config(config)
    assert clone.get_config() == layer.get_config()


def test_invalid_num_frames_raises_with_the_received_value():
    with pytest.raises(ValueError, match="num_frames=0"):
        normalization.ClassConditionalBatchNorm(0)


@pytest.mark.distributed
def test_cross_replica_statistics_equal_full_batch_statistics(
    mirrored_strategy,
):
    batch = 4
    x, c = _inputs(batch=batch, seed=4)
    reference = _layer()
    expected = reference(x, c, training=True).numpy()

    strategy = mirrored_strategy
    with strategy.scope():
        layer = _layer()
    # Same seed, so the same initial weights as the reference.

    per_replica = batch // 2 * tiny.FRAMES

    def value_fn(context):
        start = context.replica_id_in_sync_group * per_replica
        return (
            tf.constant(x[start : start + per_replica]),
            tf.constant(c[start : start + per_replica]),
        )

    inputs = strategy.experimental_distribute_values_from_function(value_fn)

    @tf.function
    def step(pair):
        return layer(pair[0], pair[1], training=True)

    outputs = strategy.run(step, args=(inputs,))
    got = np.concatenate(
        [t.numpy() for t in strategy.experimental_local_results(outputs)]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(
        layer.moving_mean.numpy(), reference.moving_mean.numpy(), rtol=1e-5
    )
    for variable in (layer.moving_mean, layer.moving_variance):
        copies = [v.numpy() for v in variable.value.values]
        np.testing.assert_array_equal(copies[0], copies[1])
