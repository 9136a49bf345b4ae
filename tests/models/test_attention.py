"""Tests of the optional v1 self-attention layers."""

import json

import numpy as np
import pytest

from dvdgan_tf.models import attention

SHAPE = (2, 3, 4, 4, 8)


def _clip():
    return np.random.default_rng(0).normal(size=SHAPE).astype("float32")


def test_attention_starts_as_identity():
    layer = attention.SelfAttention("all", seed=0)
    clip = _clip()
    np.testing.assert_array_equal(layer(clip).numpy(), clip)


@pytest.mark.parametrize(
    "axes,axis", [("time", 1), ("height", 2), ("width", 3)]
)
def test_axial_attention_only_mixes_along_its_axis(axes, axis):
    layer = attention.SelfAttention(axes, seed=0)
    clip = _clip()
    layer(clip)
    layer.gamma.assign(1.0)
    changed = clip.copy()
    changed[0, 1, 1, 1] += 3.0
    delta = np.abs(layer(changed).numpy() - layer(clip).numpy()).max(-1)
    touched = np.argwhere(delta > 1e-6)
    # Every changed position shares all coordinates but `axis` with (0,1,1,1).
    for position in touched:
        for dim, value in enumerate((0, 1, 1, 1)):
            if dim != axis:
                assert position[dim] == value
    assert len({tuple(p) for p in touched}) > 1


def test_full_attention_mixes_all_positions():
    layer = attention.SelfAttention("all", seed=0)
    clip = _clip()
    layer(clip)
    layer.gamma.assign(1.0)
    changed = clip.copy()
    changed[0, 0, 0, 0] += 3.0
    delta = np.abs(layer(changed).numpy() - layer(clip).numpy()).max(-1)
    assert np.all(delta[0] > 0)
    np.testing.assert_array_equal(delta[1], 0.0)


def test_layer_contract():
    layer = attention.SelfAttention("height", seed=0)
    assert tuple(layer(_clip(), training=True).shape) == SHAPE
    # theta, phi, g, output projection kernels + gamma.
    assert len(layer.trainable_weights) == 5
    assert len(layer.non_trainable_weights) == 4
    config = json.loads(json.dumps(layer.get_config()))
    assert attention.SelfAttention.from_config(config).get_config() == (
        layer.get_config()
    )
    with pytest.raises(ValueError, match="axes='depth'"):
        attention.SelfAttention("depth")
