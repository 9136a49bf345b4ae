"""training/costs.py: analytic FLOPs and the saved-activation memory count."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorflow.python.profiler import model_analyzer
from tensorflow.python.profiler import option_builder

from dvdgan_tf.training import costs
from tests import tiny_gan


def test_conv_and_dense_flops_follow_the_hand_formula():
    conv = keras.layers.Conv2D(5, 3, padding="same")
    dense = keras.layers.Dense(7)
    x = tf.zeros([2, 6, 6, 4])

    def forward(x):
        return dense(tf.reshape(conv(x), [2, -1]))

    flops = costs.forward_flops(forward, x)
    # conv: 2 * (2*6*6*5 outputs) * (3*3*4 MACs); dense: 2 * (2*7) * 180.
    assert flops["Conv2D"] == 2 * (2 * 6 * 6 * 5) * (3 * 3 * 4)
    assert flops["MatMul"] == 2 * (2 * 7) * 180
    assert flops["total"] == flops["Conv2D"] + flops["MatMul"]


def test_generator_flops_agree_with_tensorflows_own_count():
    generator = tiny_gan.build_generator()
    z = tf.zeros([2, generator.latent_dim])
    labels = tf.zeros([2], tf.int32)

    def forward(z, y):
        return generator(z, y, training=True)

    ours = costs.forward_flops(forward, z, labels)["total"]
    graph = tf.function(forward).get_concrete_function(z, labels).graph
    options = option_builder.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    theirs = model_analyzer.profile(graph, options=options).total_float_ops
    # TF also counts elementwise ops (BN, gates, bias adds): a few % more.
    assert 0.85 * theirs <= ours <= theirs
    assert ours > 0


@pytest.fixture(scope="module")
def model():
    return tiny_gan.build_gan()


def test_step_flops_combine_the_forward_costs(model):
    flops = costs.step_flops(model, 2)
    f_g = flops["forward_generator"]
    f_d = (
        flops["forward_spatial_discriminator"]
        + flops["forward_temporal_discriminator"]
    )
    np.testing.assert_allclose(
        flops["step"], 2 * (f_g + 6 * f_d) + 3 * f_g + 2 * f_d
    )
    # Linear in the batch but for the few % that do not scale with it
    # (spectral norm's power iteration on the weights).
    np.testing.assert_allclose(
        costs.step_flops(model, 4)["step"], 2 * flops["step"], rtol=0.02
    )


def _two_layer_graph(batch, second_tape=False):
    """relu(tanh(x) W1) W2 summed, differentiated w.r.t. W1, W2 (and a
    second tape: sum(tanh(x) W1) w.r.t. W1)."""
    w1 = tf.Variable(tf.ones([4, 8]))
    w2 = tf.Variable(tf.ones([8, 3]))

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            h = tf.tanh(x)
            loss = tf.reduce_sum(tf.matmul(tf.nn.relu(tf.matmul(h, w1)), w2))
        result = tape.gradient(loss, [w1, w2])
        if second_tape:
            with tf.GradientTape() as tape:
                loss = tf.reduce_sum(tf.matmul(tf.tanh(x), w1))
            result += tape.gradient(loss, [w1])
        return result

    spec = tf.TensorSpec([batch, 4], tf.float32)
    return step.get_concrete_function(spec).graph


def test_saved_tensors_are_what_the_backward_reads():
    calls = costs.gradient_calls(_two_layer_graph(batch=5))
    big = [call for call in calls if call.saved_bytes > 64]
    assert len(big) == 1
    # dW1 reads tanh(x) [5, 4]; relu's gradient and dW2 read relu(h W1)
    # [5, 8]. Nothing needs x (tanh's gradient reads its output; the
    # function's inputs count as the input batch) and the weights are
    # variable reads, not activations.
    assert big[0].saved_bytes == 4 * (5 * 4 + 5 * 8)
    assert big[0].largest_bytes == 4 * 5 * 8
    assert big[0].num_tensors == 2


def test_each_gradient_call_is_counted_on_its_own():
    calls = costs.gradient_calls(_two_layer_graph(batch=5, second_tape=True))
    sizes = sorted(call.saved_bytes for call in calls if call.saved_bytes > 64)
    # The second tape's dW1 reads its own tanh(x) [5, 4].
    assert sizes == [4 * 5 * 4, 4 * (5 * 4 + 5 * 8)]


def test_the_generator_step_is_the_peak_and_memory_grows_per_clip(model):
    memory = costs.step_memory(model, batch_size=1)
    assert memory.peak_phase == "generator step"
    # The G step's saved tensors come from G and both discriminators.
    assert set(memory.saved_by_network) >= {
        "generator",
        "spatial_discriminator",
        "temporal_discriminator",
    }
    assert sum(memory.saved_by_network.values()) == memory.saved_activations
    assert memory.gradients == sum(
        int(np.prod(v.shape)) * 4 for v in model.generator.trainable_variables
    )
    # Adam holds two slots per trainable variable of G and both Ds.
    trainable = sum(
        int(np.prod(v.shape)) * 4
        for network in (
            model.generator,
            model.spatial_discriminator,
            model.temporal_discriminator,
        )
        for v in network.trainable_variables
    )
    assert 2 * trainable <= memory.optimizers <= 2 * trainable + 64
    assert memory.per_clip > 0
    # The per-clip growth (from batches 1 and 2) predicts batch 3.
    larger = costs.step_memory(model, batch_size=3, extrapolate=False)
    np.testing.assert_allclose(memory.total_at(3), larger.total, rtol=0.01)
    assert memory.largest_batch(memory.total_at(3) + 1) == 3
    assert memory.largest_batch(memory.total_at(1) - 1) == 0


def test_parameter_counts_add_up(model):
    counts = costs.parameter_counts(model)
    assert counts["total"] == sum(
        int(np.prod(v.shape))
        for v in model.generator.trainable_variables
        + model.discriminator_variables
    )
    assert counts["generator"] > 0
