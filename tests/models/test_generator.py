"""Tests of the DVD-GAN generator at tiny shapes."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.models import generator
from tests import tiny_config as tiny


def _build(**overrides):
    kwargs = dict(
        resolution=tiny.RESOLUTION,
        num_frames=tiny.FRAMES,
        num_classes=tiny.NUM_CLASSES,
        channel_multiplier=tiny.CHANNEL_MULTIPLIER,
        latent_dim=tiny.LATENT_DIM,
        embedding_dim=tiny.EMBEDDING_DIM,
    )
    kwargs.update(overrides)
    return generator.build_generator(**kwargs)


@pytest.fixture(scope="module")
def tiny_generator():
    keras.utils.set_random_seed(0)
    return _build()


def _inputs(batch=tiny.BATCH, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(batch, tiny.LATENT_DIM)).astype("float32")
    labels = rng.integers(0, tiny.NUM_CLASSES, size=batch).astype("int32")
    return z, labels


def test_output_is_a_video_in_minus_one_one(tiny_generator):
    z, labels = _inputs()
    for training in (True, False):
        video = tiny_generator(z, labels, training=training).numpy()
        assert video.shape == (
            tiny.BATCH,
            tiny.FRAMES,
            tiny.RESOLUTION,
            tiny.RESOLUTION,
            3,
        )
        assert video.dtype == np.float32
        assert np.all(np.abs(video) <= 1.0)
        assert video.std() > 1e-3


def test_frames_differ_over_time(tiny_generator):
    z, labels = _inputs()
    video = tiny_generator(z, labels, training=False).numpy()
    assert np.max(np.abs(video[:, 1:] - video[:, :-1])) > 1e-3


@pytest.mark.parametrize("training", [False, True])
def test_permuting_the_batch_permutes_the_output(tiny_generator, training):
    # Batch-major folding with c repeated the same way: clip b keeps z_b, y_b.
    # BN batch statistics are permutation-invariant, so training mode too.
    z, labels = _inputs(batch=3, seed=1)
    order = np.array([0, 2, 1])  # a transposition, not a cyclic shift
    video = tiny_generator(z, labels, training=training).numpy()
    permuted = tiny_generator(
        z[order], labels[order], training=training
    ).numpy()
    np.testing.assert_allclose(permuted, video[order], rtol=1e-4, atol=1e-5)


def test_each_clip_depends_only_on_its_own_latent_in_inference(tiny_generator):
    z, labels = _inputs(batch=3, seed=2)
    changed = z.copy()
    changed[1] += 1.0
    video = tiny_generator(z, labels, training=False).numpy()
    other = tiny_generator(changed, labels, training=False).numpy()
    np.testing.assert_allclose(other[[0, 2]], video[[0, 2]], atol=1e-6)
    assert np.max(np.abs(other[1] - video[1])) > 1e-3


def test_class_label_changes_the_video(tiny_generator):
    z, labels = _inputs()
    video = tiny_generator(z, labels, training=False).numpy()
    other = tiny_generator(
        z, (labels + 1) % tiny.NUM_CLASSES, training=False
    ).numpy()
    assert np.max(np.abs(other - video)) > 1e-3


def test_inference_changes_no_variable(tiny_generator):
    before = [w.numpy().copy() for w in tiny_generator.weights]
    tiny_generator(*_inputs(), training=False)
    for value, weight in zip(before, tiny_generator.weights):
        np.testing.assert_array_equal(weight.numpy(), value)


def test_training_updates_moving_statistics_and_sn_vectors():
    model = _build()
    before = {w.path: w.numpy().copy() for w in model.non_trainable_weights}
    model(*_inputs(), training=True)
    changed = {
        w.path
        for w in model.non_trainable_weights
        if np.max(np.abs(w.numpy() - before[w.path])) > 0
    }
    assert "generator/final_bn/moving_mean" in changed
    assert "generator/group_1_conv_gru/candidate/sn_u" in changed
    assert len(changed) == len(before)


def test_moving_statistics_are_per_time_step(tiny_generator):
    bn = tiny_generator.final_bn
    assert tuple(bn.moving_mean.shape) == (tiny.FRAMES, 8)


def test_initial_states_zeros_equal_none_and_given_states_matter(
    tiny_generator,
):
    z, labels = _inputs()
    shapes = tiny_generator.initial_state_shapes()
    assert shapes == [(4, 4, 32), (8, 8, 16)]
    zeros = [np.zeros((tiny.BATCH,) + s, "float32") for s in shapes]
    default = tiny_generator(z, labels, training=False).numpy()
    np.testing.assert_array_equal(
        tiny_generator(z, labels, initial_states=zeros, training=False).numpy(),
        default,
    )
    given = [None, np.ones((tiny.BATCH,) + shapes[1], "float32")]
    assert (
        np.max(
            np.abs(
                tiny_generator(
                    z, labels, initial_states=given, training=False
                ).numpy()
                - default
            )
        )
        > 1e-3
    )


def test_wrong_number_of_initial_states_raises(tiny_generator):
    with pytest.raises(ValueError, match="one entry per group"):
        tiny_generator(*_inputs(), initial_states=[None], training=False)


def test_config_round_trip_rebuilds_same_architecture(tiny_generator):
    config = json.loads(json.dumps(tiny_generator.get_config()))
    clone = generator.Generator.from_config(config)
    assert clone.built
    assert clone.get_config() == tiny_generator.get_config()
    assert [w.path for w in clone.weights] == [
        w.path for w in tiny_generator.weights
    ]
    # Seeded initializers: a fresh build from the config has the same weights.
    fresh = _build()
    for left, right in zip(clone.weights, fresh.weights):
        np.testing.assert_array_equal(left.numpy(), right.numpy())


def test_builder_returns_a_built_model_whose_call_creates_no_variables():
    model = _build()
    count = len(model.weights)
    assert model.built and count > 0
    model(*_inputs(), training=True)
    assert len(model.weights) == count


def _sn(path):
    return [f"{path}/kernel", f"{path}/bias", f"{path}/sn_u"]


def _cbn(path):
    return [f"{path}/moving_mean", f"{path}/moving_variance"] + [
        f"{path}/{linear}/{var}"
        for linear in ("gain_linear", "bias_linear")
        for var in ("kernel", "sn_u")
    ]


def _gblock(path):
    return (
        _cbn(f"{path}/bn_1")
        + _sn(f"{path}/conv_1")
        + _cbn(f"{path}/bn_2")
        + _sn(f"{path}/conv_2")
        + _sn(f"{path}/shortcut")
    )


def test_variable_paths_are_pinned(tiny_generator):
    expected = ["generator/class_embedding/embeddings"]
    expected += _sn("generator/input_linear")
    for group in (1, 2):
        prefix = f"generator/group_{group}"
        for gate in ("reset_gate", "update_gate", "candidate"):
            expected += _sn(f"{prefix}_conv_gru/{gate}")
        expected += _gblock(f"{prefix}_block_1") + _gblock(f"{prefix}_block_2")
    expected += _cbn("generator/final_bn") + _sn("generator/final_conv")
    assert sorted(w.path for w in tiny_generator.weights) == sorted(expected)


@pytest.mark.parametrize(
    "preset,resolution,expected",
    [
        ("B", 64, [(768, 768), (768, 768), (768, 384), (384, 192)]),
        (
            "A",
            128,
            [(1536, 1536), (1536, 768), (768, 384), (384, 192), (192, 96)],
        ),
        ("B", 256, [(768, 768)] * 3 + [(768, 384), (384, 192), (192, 96)]),
        ("B", 16, [(768, 384), (384, 192)]),
        ("A", 32, [(1536, 768), (768, 384), (384, 192)]),
    ],
)
def test_group_widths_follow_the_tables(preset, resolution, expected):
    assert generator.group_widths(resolution, 96, preset) == expected


def test_unconditional_generator_has_no_embedding_and_ignores_labels():
    model = _build(num_classes=0)
    assert not any("class_embedding" in w.path for w in model.weights)
    z, labels = _inputs()
    video = model(z, None, training=False).numpy()
    np.testing.assert_array_equal(
        model(z, labels, training=False).numpy(), video
    )


def test_conditional_generator_requires_labels(tiny_generator):
    z, _ = _inputs()
    with pytest.raises(ValueError, match="labels"):
        tiny_generator(z, None, training=False)


def test_generator_with_v1_attention_builds_and_runs():
    model = _build(use_attention=True)
    names = {w.path.split("/")[1] for w in model.weights}
    assert {
        "attention",
        "separable_attention_height",
        "separable_attention_width",
        "separable_attention_time",
    } <= names
    video = model(*_inputs(), training=True)
    assert tuple(video.shape) == (
        tiny.BATCH,
        tiny.FRAMES,
        tiny.RESOLUTION,
        tiny.RESOLUTION,
        3,
    )


@pytest.mark.parametrize(
    "overrides,message",
    [
        ({"resolution": 48}, "resolution=48"),
        ({"width_preset": "C"}, "width_preset='C'"),
        ({"num_frames": 0}, "num_frames=0"),
        ({"channel_multiplier": 0}, "channel_multiplier=0"),
    ],
)
def test_invalid_arguments_raise_with_the_received_value(overrides, message):
    with pytest.raises(ValueError, match=message):
        _build(**overrides)


def test_mixed_precision_output_and_statistics_stay_float32():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = _build()
        video = model(*_inputs(), training=True)
        assert video.dtype == "float32"
        assert model.final_bn.moving_mean.dtype == "float32"
        assert model.input_linear.compute_dtype == "bfloat16"
    finally:
        keras.mixed_precision.set_global_policy("float32")


@pytest.mark.distributed
def test_two_replicas_generate_what_one_device_generates(mirrored_strategy):
    z, labels = _inputs(batch=4, seed=3)
    reference = _build()
    expected = reference(z, labels, training=True).numpy()
    strategy = mirrored_strategy
    with strategy.scope():
        model = _build()  # same seed: same initial weights as `reference`

    def value_fn(context):
        start = 2 * context.replica_id_in_sync_group
        return tf.constant(z[start : start + 2]), tf.constant(
            labels[start : start + 2]
        )

    inputs = strategy.experimental_distribute_values_from_function(value_fn)

    @tf.function
    def step(pair):
        return model(pair[0], pair[1], training=True)

    outputs = strategy.run(step, args=(inputs,))
    got = np.concatenate(
        [t.numpy() for t in strategy.experimental_local_results(outputs)]
    )
    np.testing.assert_allclose(got, expected, rtol=1e-3, atol=1e-4)
    for weight in model.non_trainable_weights:
        copies = [v.numpy() for v in weight.value.values]
        np.testing.assert_array_equal(copies[0], copies[1])


def test_input_initial_state_starts_each_gru_from_its_first_input_frame():
    """conv_gru_initial_state="input": no new weights, h_0 = x_1 per group,
    the same as passing that state; a given state still wins."""
    zeros = _build()
    model = _build(conv_gru_initial_state="input")
    assert [w.path for w in model.weights] == [w.path for w in zeros.weights]
    z, labels = _inputs()
    default = zeros(z, labels, training=False).numpy()
    started = model(z, labels, training=False).numpy()
    assert np.abs(started - default).max() > 1e-3
    first = (
        model.input_linear(
            np.concatenate([z, model.class_embedding(labels).numpy()], axis=1),
            training=False,
        )
        .numpy()
        .reshape(tiny.BATCH, 4, 4, -1)
    )
    given = [first, None]
    partly = zeros(z, labels, initial_states=given, training=False).numpy()
    # Level 1 alone started from its input differs from both.
    assert np.abs(partly - default).max() > 1e-3
    states = [
        np.zeros((tiny.BATCH,) + s, "float32")
        for s in model.initial_state_shapes()
    ]
    np.testing.assert_allclose(
        model(z, labels, initial_states=states, training=False).numpy(),
        default,
        atol=1e-6,
    )
    assert model.get_config()["conv_gru_initial_state"] == "input"


def test_unknown_initial_state_is_rejected():
    with pytest.raises(ValueError, match="conv_gru_initial_state"):
        _build(conv_gru_initial_state="learned")
