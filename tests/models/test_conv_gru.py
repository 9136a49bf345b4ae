"""Tests of the ConvGRU (causality, initial state, layer contract)."""

import json

import numpy as np
import pytest

from dvdgan_tf.models import conv_gru
from tests import tiny_config as tiny

SIZE = 4
CHANNELS = 6


def _clip(seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(
        size=(tiny.BATCH, tiny.FRAMES, SIZE, SIZE, CHANNELS)
    ).astype("float32")


def _layer():
    layer = conv_gru.ConvGRU(seed=0)
    layer.build((None, tiny.FRAMES, SIZE, SIZE, CHANNELS))
    return layer


@pytest.mark.parametrize("frame", range(tiny.FRAMES))
def test_frame_output_depends_only_on_current_and_past_frames(frame):
    layer = _layer()
    clip = _clip()
    changed = clip.copy()
    changed[:, frame] += 5.0
    before = layer(clip).numpy()
    after = layer(changed).numpy()
    # Earlier outputs are untouched; output t itself reacts to input t (an
    # off-by-one that emits h_{t-1} at step t leaves it unchanged).
    np.testing.assert_array_equal(after[:, :frame], before[:, :frame])
    change = np.abs(after - before).max(axis=(0, 2, 3, 4))
    assert change[frame] > 1e-3, change


def test_given_initial_state_changes_output_and_zeros_equal_none():
    layer = _layer()
    clip = _clip()
    default = layer(clip).numpy()
    zeros = np.zeros((tiny.BATCH, SIZE, SIZE, CHANNELS), "float32")
    np.testing.assert_array_equal(layer(clip, zeros).numpy(), default)
    state = np.random.default_rng(1).normal(size=zeros.shape)
    assert (
        np.max(np.abs(layer(clip, state.astype("float32")).numpy() - default))
        > 1e-3
    )


def test_wrong_initial_state_shape_raises():
    layer = _layer()
    with pytest.raises(ValueError, match="initial_state"):
        layer(_clip(), np.zeros((tiny.BATCH, SIZE, SIZE, 3), "float32"))


def test_sn_vectors_take_one_power_iteration_per_call():
    layer = _layer()
    reference = _layer()
    layer(_clip(), training=True)  # unrolled over 4 frames
    reference.reset_gate.normalized_kernel(training=True)  # one iteration
    np.testing.assert_allclose(
        layer.reset_gate.u.numpy(), reference.reset_gate.u.numpy(), rtol=1e-6
    )


def test_layer_contract():
    layer = _layer()
    outputs = layer(_clip(), training=True)
    assert tuple(outputs.shape) == (
        tiny.BATCH,
        tiny.FRAMES,
        SIZE,
        SIZE,
        CHANNELS,
    )
    # Three 3x3 SN convs on [x, h]: kernel + bias trainable, u not.
    assert len(layer.trainable_weights) == 6
    assert len(layer.non_trainable_weights) == 3
    assert tuple(layer.candidate.kernel.shape) == (3, 3, 2 * CHANNELS, CHANNELS)
    config = json.loads(json.dumps(layer.get_config()))
    clone = conv_gru.ConvGRU.from_config(config)
    assert clone.get_config() == layer.get_config()
