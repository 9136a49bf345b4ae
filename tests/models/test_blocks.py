"""Tests of the G and D residual blocks (shapes, shortcuts, configs)."""

import json

import numpy as np
import pytest

from dvdgan_tf.models import blocks
from dvdgan_tf.models import spectral_norm
from tests import tiny_config as tiny

COND_DIM = 6


def _frames(channels, size=4, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(
        size=(tiny.BATCH * tiny.FRAMES, size, size, channels)
    ).astype("float32")


def _conditioning():
    return (
        np.random.default_rng(1)
        .normal(size=(tiny.BATCH * tiny.FRAMES, COND_DIM))
        .astype("float32")
    )


@pytest.mark.parametrize("upsample,size", [(False, 4), (True, 8)])
def test_gblock_output_shape(upsample, size):
    block = blocks.GBlock(5, upsample=upsample, num_frames=tiny.FRAMES, seed=0)
    outputs = block(_frames(3), _conditioning(), training=True)
    assert tuple(outputs.shape) == (tiny.BATCH * tiny.FRAMES, size, size, 5)


def test_gblock_weights_and_config_round_trip():
    block = blocks.GBlock(5, upsample=True, num_frames=tiny.FRAMES, seed=0)
    block(_frames(3), _conditioning())
    # conv_1, conv_2, shortcut (kernel + bias) + 2 cBN x (gain, bias).
    assert len(block.trainable_weights) == 10
    assert tuple(block.shortcut.kernel.shape) == (1, 1, 3, 5)
    config = json.loads(json.dumps(block.get_config()))
    assert config["conv_layer"] == "dvdgan_tf>SNConv2D"
    assert config["norm_layer"] == "dvdgan_tf>ClassConditionalBatchNorm"
    clone = blocks.GBlock.from_config(config)
    assert clone.get_config() == block.get_config()
    clone(_frames(3), _conditioning())
    np.testing.assert_array_equal(
        clone.conv_1.kernel.numpy(), block.conv_1.kernel.numpy()
    )


def test_unregistered_layer_class_is_rejected():
    class PlainConv:
        pass

    with pytest.raises(ValueError, match="registered"):
        blocks.GBlock(4, upsample=False, num_frames=2, conv_layer=PlainConv)
    with pytest.raises(ValueError, match="Unknown layer class"):
        blocks.DBlock(4, conv_layer="dvdgan_tf>NoSuchConv")


@pytest.mark.parametrize(
    "conv_layer,pool_size,input_shape,output_shape",
    [
        (spectral_norm.SNConv2D, (2, 2), (2, 8, 8, 3), (2, 4, 4, 6)),
        (spectral_norm.SNConv2D, None, (2, 8, 8, 3), (2, 8, 8, 6)),
        (spectral_norm.SNConv3D, (2, 2, 2), (2, 4, 8, 8, 3), (2, 2, 4, 4, 6)),
        (spectral_norm.SNConv3D, (1, 2, 2), (2, 4, 8, 8, 3), (2, 4, 4, 4, 6)),
    ],
    ids=["2d-down", "2d-same", "3d-pool-time", "3d-pool-space"],
)
def test_dblock_output_shape(conv_layer, pool_size, input_shape, output_shape):
    block = blocks.DBlock(6, pool_size=pool_size, conv_layer=conv_layer, seed=0)
    outputs = block(np.ones(input_shape, "float32"), training=True)
    assert tuple(outputs.shape) == output_shape
    assert tuple(block.compute_output_shape(input_shape)) == output_shape


def test_dblock_3d_uses_3x3x3_kernels():
    block = blocks.DBlock(
        6, pool_size=(2, 2, 2), conv_layer=spectral_norm.SNConv3D, seed=0
    )
    block.build((None, 4, 8, 8, 3))
    assert tuple(block.conv_1.kernel.shape) == (3, 3, 3, 3, 6)


def test_dblock_shortcut_is_identity_when_width_and_size_are_kept():
    block = blocks.DBlock(4, pool_size=None, seed=0)
    block.build((None, 4, 4, 4))
    assert not block.learnable_shortcut
    assert len(block.trainable_weights) == 4
    x = np.random.default_rng(0).normal(size=(1, 4, 4, 4)).astype("float32")
    residual = block.conv_2(np.maximum(block.conv_1(np.maximum(x, 0)), 0))
    np.testing.assert_allclose(
        block(x).numpy(), x + residual.numpy(), atol=1e-5
    )


def test_first_dblock_skips_the_leading_relu():
    x = -np.ones((1, 4, 4, 3), "float32")  # all negative: ReLU zeroes it
    pre = blocks.DBlock(3, pool_size=None, preactivation=True, seed=0)
    raw = blocks.DBlock(3, pool_size=None, preactivation=False, seed=0)
    pre(x)
    raw(x)
    for conv in (pre.conv_2, raw.conv_2):
        conv.bias.assign(np.zeros(conv.bias.shape, "float32"))
    # With a pre-activation ReLU the residual branch only sees zeros.
    np.testing.assert_allclose(pre(x).numpy() - x, 0.0, atol=1e-5)
    assert np.max(np.abs(raw(x).numpy() - x)) > 1e-3


def test_dblock_rejects_a_pool_size_of_the_wrong_rank():
    block = blocks.DBlock(4, pool_size=(2, 2, 2), seed=0)
    with pytest.raises(ValueError, match="pool_size"):
        block.build((None, 8, 8, 3))


def test_dblock_config_round_trip():
    block = blocks.DBlock(
        6,
        pool_size=(1, 2, 2),
        conv_layer=spectral_norm.SNConv3D,
        preactivation=False,
        seed=3,
    )
    config = json.loads(json.dumps(block.get_config()))
    clone = blocks.DBlock.from_config(config)
    assert clone.get_config() == block.get_config()
    assert clone.conv_layer is spectral_norm.SNConv3D
