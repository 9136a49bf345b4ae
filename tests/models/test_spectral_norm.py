"""Tests of dvdgan_tf.models.spectral_norm (SN-GAN / BigGAN semantics)."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.models import spectral_norm


def _top_singular_value(kernel):
    matrix = np.reshape(np.asarray(kernel), (-1, kernel.shape[-1]))
    return np.linalg.svd(matrix, compute_uv=False)[0]


def test_normalized_kernel_top_singular_value_converges_to_one():
    rng = np.random.default_rng(0)
    layer = spectral_norm.SNDense(6, seed=3)
    layer.build((None, 5))
    layer.kernel.assign(3.0 * rng.normal(size=(5, 6)).astype("float32"))
    x = rng.normal(size=(2, 5)).astype("float32")
    for _ in range(40):
        layer(x, training=True)
    normalized = spectral_norm.normalize_kernel(
        layer.kernel, layer.u, training=False, epsilon=1e-8
    )
    assert _top_singular_value(layer.kernel) > 1.5  # the raw W is not unit
    np.testing.assert_allclose(_top_singular_value(normalized), 1.0, atol=1e-3)


def test_diagonal_kernel_with_singular_values_3_and_1_gives_sigma_3():
    layer = spectral_norm.SNDense(2, use_bias=False, seed=0)
    layer.build((None, 2))
    layer.kernel.assign(np.diag([3.0, 1.0]).astype("float32"))
    layer.u.assign(np.array([[1.0, 0.0]], "float32"))
    outputs = layer(np.eye(2, dtype="float32"), training=True)
    # One power iteration from u = e1 is exact: sigma = 3, W / sigma.
    np.testing.assert_allclose(outputs, np.diag([1.0, 1.0 / 3.0]), atol=1e-6)
    np.testing.assert_allclose(layer.u.numpy(), [[1.0, 0.0]], atol=1e-6)


def _hand_sn_dense(kernel, u, x, sigma_is_constant):
    v = tf.math.l2_normalize(tf.matmul(u, kernel, transpose_b=True))
    u_new = tf.math.l2_normalize(tf.matmul(v, kernel))
    sigma = tf.reduce_sum(tf.matmul(v, kernel) * u_new)
    if sigma_is_constant:
        sigma = tf.stop_gradient(sigma)
    return tf.matmul(x, kernel / sigma)


def test_spectral_norm_gradient_flows_through_sigma():
    rng = np.random.default_rng(1)
    layer = spectral_norm.SNDense(3, use_bias=False, seed=1)
    layer.build((None, 4))
    x = tf.constant(rng.normal(size=(5, 4)), tf.float32)
    weights = tf.constant(rng.normal(size=(5, 3)), tf.float32)
    u = tf.constant(layer.u.numpy())
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(x, training=False) * weights)
    layer_grad = tape.gradient(loss, layer.kernel.value)

    kernel = tf.Variable(layer.kernel.numpy())
    grads = {}
    for constant in (False, True):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(
                _hand_sn_dense(kernel, u, x, constant) * weights
            )
        grads[constant] = tape.gradient(loss, kernel)
    np.testing.assert_allclose(layer_grad, grads[False], rtol=1e-4, atol=1e-5)
    assert np.max(np.abs(grads[False] - grads[True])) > 1e-3


def test_power_iteration_vector_changes_only_in_training_mode():
    layer = spectral_norm.SNConv2D(4, 3, seed=2)
    x = np.ones((1, 5, 5, 2), "float32")
    layer(x, training=False)
    u_before = layer.u.numpy().copy()
    layer(x, training=False)
    np.testing.assert_array_equal(layer.u.numpy(), u_before)
    layer(x, training=True)
    assert np.max(np.abs(layer.u.numpy() - u_before)) > 1e-4


def test_u_is_a_non_trainable_float32_vector_synced_from_first_replica():
    layer = spectral_norm.SNConv3D(4, 3, seed=2)
    layer.build((None, 2, 4, 4, 3))
    assert not layer.u.trainable
    assert layer.u.dtype == "float32"
    assert tuple(layer.u.shape) == (1, 4)
    assert layer.u.aggregation == "only_first_replica"


@pytest.mark.parametrize(
    "layer_class,kwargs,input_shape,output_shape",
    [
        (spectral_norm.SNDense, {"units": 5}, (2, 3), (2, 5)),
        (
            spectral_norm.SNConv2D,
            {"filters": 5, "kernel_size": 3},
            (2, 6, 6, 3),
            (2, 6, 6, 5),
        ),
        (
            spectral_norm.SNConv3D,
            {"filters": 5, "kernel_size": (3, 1, 1)},
            (2, 4, 6, 6, 3),
            (2, 4, 6, 6, 5),
        ),
    ],
    ids=["dense", "conv2d", "conv3d"],
)
def test_layer_contract(layer_class, kwargs, input_shape, output_shape):
    layer = layer_class(seed=5, **kwargs)
    outputs = layer(np.ones(input_shape, "float32"), training=True)
    assert tuple(outputs.shape) == output_shape
    assert len(layer.trainable_weights) == 2  # kernel, bias
    assert len(layer.non_trainable_weights) == 1  # u
    config = json.loads(json.dumps(layer.get_config()))
    clone = layer_class.from_config(config)
    assert clone.get_config() == layer.get_config()
    clone(np.ones(input_shape, "float32"))
    np.testing.assert_array_equal(clone.kernel.numpy(), layer.kernel.numpy())


def test_same_seed_gives_same_kernel_and_different_names_differ():
    first = spectral_norm.SNDense(4, seed=7)
    second = spectral_norm.SNDense(4, seed=7)
    first.build((None, 4))
    second.build((None, 4))
    np.testing.assert_array_equal(first.kernel.numpy(), second.kernel.numpy())
    assert spectral_norm.derive_seed(7, "conv_1") != spectral_norm.derive_seed(
        7, "conv_2"
    )
    assert spectral_norm.derive_seed(None, "conv_1") is None


def test_kernel_is_orthogonal_at_initialisation():
    layer = spectral_norm.SNDense(8, seed=0)
    layer.build((None, 8))
    kernel = layer.kernel.numpy()
    np.testing.assert_allclose(kernel.T @ kernel, np.eye(8), atol=1e-5)


def test_embedding_returns_floats_for_int_ids_at_any_batch_size():
    layer = spectral_norm.SNEmbedding(3, 4, seed=0)
    small = layer(np.array([0, 2], "int32"), training=True)
    large = layer(np.array([1, 0, 2, 2], "int32"))
    assert small.dtype == "float32"
    assert tuple(large.shape) == (4, 4)
    np.testing.assert_allclose(small[1], large[2], rtol=1e-5)
    assert np.max(np.abs(large)) > 0
    assert len(layer.trainable_weights) == 1
    assert len(layer.non_trainable_weights) == 1
    clone = spectral_norm.SNEmbedding.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


def test_invalid_arguments_raise_with_the_received_value():
    with pytest.raises(ValueError, match="units=0"):
        spectral_norm.SNDense(0)
    with pytest.raises(ValueError, match="kernel_size"):
        spectral_norm.SNConv2D(4, (3, 3, 3))


def test_mixed_precision_keeps_sigma_and_u_in_float32():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        layer = spectral_norm.SNConv2D(4, 3, seed=0)
        outputs = layer(np.ones((1, 4, 4, 2), "float32"), training=True)
        assert outputs.dtype == "bfloat16"
        assert layer.kernel.dtype == "float32"
        assert layer.u.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.distributed
def test_u_stays_identical_across_replicas(mirrored_strategy):
    strategy = mirrored_strategy
    with strategy.scope():
        layer = spectral_norm.SNDense(3, seed=0)
        layer.build((None, 4))
    u_before = layer.u.numpy().copy()

    @tf.function
    def step(x):
        return layer(x, training=True)

    data = tf.data.Dataset.from_tensor_slices(
        np.random.default_rng(0).normal(size=(4, 4)).astype("float32")
    ).batch(4)
    for batch in strategy.experimental_distribute_dataset(data):
        strategy.run(step, args=(batch,))
    copies = [v.numpy() for v in layer.u.value.values]
    assert len(copies) == 2
    np.testing.assert_array_equal(copies[0], copies[1])
    assert np.max(np.abs(copies[0] - u_before)) > 1e-4
