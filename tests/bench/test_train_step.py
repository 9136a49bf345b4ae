"""bench/train_step.py: the analytic FLOP count it reports."""

import importlib.util
import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.profiler import model_analyzer
from tensorflow.python.profiler import option_builder

from tests import tiny_gan

_PATH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    "bench",
    "train_step.py",
)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("train_step_bench", _PATH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_conv_and_dense_flops_follow_the_hand_formula(bench):
    conv = keras.layers.Conv2D(5, 3, padding="same")
    dense = keras.layers.Dense(7)
    x = tf.zeros([2, 6, 6, 4])

    def forward(x):
        return dense(tf.reshape(conv(x), [2, -1]))

    flops = bench.forward_flops(forward, x)
    # conv: 2 * (2*6*6*5 outputs) * (3*3*4 MACs); dense: 2 * (2*7) * 180.
    assert flops["Conv2D"] == 2 * (2 * 6 * 6 * 5) * (3 * 3 * 4)
    assert flops["MatMul"] == 2 * (2 * 7) * 180
    assert flops["total"] == flops["Conv2D"] + flops["MatMul"]


def test_generator_flops_agree_with_tensorflows_own_count(bench):
    generator = tiny_gan.build_generator()
    z = tf.zeros([2, generator.latent_dim])
    labels = tf.zeros([2], tf.int32)

    def forward(z, y):
        return generator(z, y, training=True)

    ours = bench.forward_flops(forward, z, labels)["total"]
    graph = tf.function(forward).get_concrete_function(z, labels).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    theirs = model_analyzer.profile(graph, options=options).total_float_ops
    # TF also counts elementwise ops (BN, gates, bias adds): a few % more.
    assert 0.85 * theirs <= ours <= theirs
    assert ours > 0


def test_step_flops_combine_the_forward_costs(bench):
    model = tiny_gan.build_gan()
    flops = bench.step_flops(model, 2)
    f_g = flops["forward_generator"]
    f_d = (
        flops["forward_spatial_discriminator"]
        + flops["forward_temporal_discriminator"]
    )
    np.testing.assert_allclose(
        flops["step"], 2 * (f_g + 6 * f_d) + 3 * f_g + 2 * f_d
    )
