"""DVD-GAN-FP: the conditioning encoder and the frame-conditional generator."""

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.gan import dvdgan as gan
from dvdgan_tf.models import context_encoder
from dvdgan_tf.models import generator
from tests import tiny_config as tiny
from tests import tiny_gan

CONTEXT = 2
PREDICTED = 3


def _fp_generator(**overrides):
    kwargs = dict(num_conditioning_frames=CONTEXT, num_frames=PREDICTED)
    kwargs.update(overrides)
    return tiny_gan.build_generator(**kwargs)


def _inputs(batch=tiny.BATCH, seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(batch, tiny.LATENT_DIM)).astype("float32")
    labels = (np.arange(batch) % tiny.NUM_CLASSES).astype("int32")
    frames = rng.uniform(
        -1, 1, (batch, CONTEXT, tiny.RESOLUTION, tiny.RESOLUTION, 3)
    ).astype("float32")
    return z, labels, frames


def test_encoder_gives_one_state_per_generator_level():
    model = _fp_generator()
    _, _, frames = _inputs()
    states = model.conditioning_encoder(frames)
    shapes = model.initial_state_shapes()
    assert len(states) == len(shapes) == 2  # 16x16 G: levels at 4 and 8
    for state, shape in zip(states, shapes):
        assert tuple(state.shape) == (tiny.BATCH, *shape)
        assert float(tf.reduce_min(state)) >= 0.0  # after the ReLU


def test_first_level_only_leaves_the_other_states_at_zero():
    model = _fp_generator(conditioning_levels="first")
    _, _, frames = _inputs()
    states = model.conditioning_encoder(frames)
    assert states[0] is not None and states[1:] == [None]
    assert len(model.conditioning_encoder.mixers) == 1


def test_prediction_has_the_predicted_frame_count():
    model = _fp_generator()
    z, labels, frames = _inputs()
    video = model(z, labels, conditioning_frames=frames)
    assert tuple(video.shape) == (
        tiny.BATCH,
        PREDICTED,
        tiny.RESOLUTION,
        tiny.RESOLUTION,
        3,
    )


@pytest.mark.parametrize("frame", range(CONTEXT))
def test_prediction_depends_on_every_conditioning_frame(frame):
    model = _fp_generator()
    z, labels, frames = _inputs()
    changed = frames.copy()
    changed[:, frame] = -changed[:, frame]
    a = model(z, labels, conditioning_frames=frames).numpy()
    b = model(z, labels, conditioning_frames=changed).numpy()
    # Every predicted frame of every clip moves (the state starts them all).
    per_frame = np.abs(a - b).max(axis=(2, 3, 4))
    assert per_frame.min() > 1e-4, per_frame


def test_each_clip_is_conditioned_on_its_own_frames():
    model = _fp_generator()
    z, labels, frames = _inputs()
    changed = frames.copy()
    changed[1] = -changed[1]
    a = model(z, labels, conditioning_frames=frames).numpy()
    b = model(z, labels, conditioning_frames=changed).numpy()
    np.testing.assert_array_equal(a[0], b[0])
    assert np.abs(a[1] - b[1]).max() > 1e-4


def test_zeroed_encoder_output_gives_the_synthesis_generator():
    model = _fp_generator(num_frames=tiny.FRAMES)
    synthesis = tiny_gan.build_generator()
    # The ReLU after each mixer turns a hugely negative bias into exact zero
    # states: FP-G must then be the synthesis G (same seed, same weights).
    for mixer in model.conditioning_encoder.mixers:
        mixer.bias.assign(tf.fill(mixer.bias.shape, -1e9))
    z, labels, frames = _inputs()
    np.testing.assert_array_equal(
        model(z, labels, conditioning_frames=frames).numpy(),
        synthesis(z, labels).numpy(),
    )
    # ... and with a live encoder it differs.
    live = _fp_generator(num_frames=tiny.FRAMES)
    assert (
        np.abs(
            live(z, labels, conditioning_frames=frames).numpy()
            - synthesis(z, labels).numpy()
        ).max()
        > 1e-4
    )


def test_config_round_trip_keeps_the_encoder():
    model = _fp_generator(conditioning_levels="first")
    rebuilt = generator.Generator.from_config(model.get_config())
    assert rebuilt.num_conditioning_frames == CONTEXT
    assert rebuilt.conditioning_levels == "first"
    assert [v.path for v in rebuilt.weights] == [v.path for v in model.weights]


@pytest.mark.parametrize(
    "shape",
    [
        (tiny.BATCH, CONTEXT + 1, tiny.RESOLUTION, tiny.RESOLUTION, 3),
        (tiny.BATCH, CONTEXT, tiny.RESOLUTION // 2, tiny.RESOLUTION // 2, 3),
    ],
    ids=["frame_count", "size"],
)
def test_wrong_conditioning_shape_names_the_expected_one(shape):
    model = _fp_generator()
    z, labels, _ = _inputs()
    with pytest.raises(ValueError, match=r"\[B, 2, 16, 16, 3\]"):
        model(z, labels, conditioning_frames=tf.zeros(shape))


def test_fp_generator_without_conditioning_frames_is_an_error():
    z, labels, _ = _inputs()
    with pytest.raises(ValueError, match="needs `conditioning_frames`"):
        _fp_generator()(z, labels)


def test_synthesis_generator_rejects_conditioning_frames():
    z, labels, frames = _inputs()
    with pytest.raises(ValueError, match="synthesis generator"):
        tiny_gan.build_generator()(z, labels, conditioning_frames=frames)


def test_encoder_rejects_unknown_levels():
    with pytest.raises(ValueError, match="levels"):
        context_encoder.ContextEncoder(16, 2, [(4, 4, 8)], levels="some")


def _fp_gan():
    context, predicted = 2, 2
    model = gan.build_dvdgan(
        tiny_gan.build_generator(
            num_conditioning_frames=context, num_frames=predicted
        ),
        tiny_gan.build_spatial_discriminator(num_sampled_frames=2),
        tiny_gan.build_temporal_discriminator(),  # 4 frames = 2 + 2
    )
    model.compile(
        generator_optimizer=tiny_gan.make_generator_optimizer(),
        discriminator_optimizer=tiny_gan.make_discriminator_optimizer(),
    )
    return model


def test_fake_clip_is_real_context_then_prediction_and_ignores_the_future():
    model = _fp_gan()
    data = tiny_gan.real_batch(tiny.BATCH, seed=1)
    real = tf.constant(data["video"])
    other_future = tf.concat(
        [real[:, :2], tf.reverse(real[:, 2:], axis=[2])], axis=1
    )
    z, labels, _ = _inputs()
    a = model._generate(z, labels, real, training=False).numpy()
    b = model._generate(z, labels, other_future, training=False).numpy()
    np.testing.assert_array_equal(a[:, :2], data["video"][:, :2])
    # No real frame after the context reaches G.
    np.testing.assert_array_equal(a, b)


def test_fp_train_step_runs_and_conditions_on_the_real_labels():
    model = _fp_gan()
    seen = []
    original = model.generator.call

    def spy(
        z,
        labels=None,
        initial_states=None,
        conditioning_frames=None,
        training=False,
    ):
        seen.append((labels, conditioning_frames))
        return original(
            z, labels, initial_states, conditioning_frames, training
        )

    model.generator.call = spy
    data = tiny_gan.real_batch(4, seed=2)
    logs = model.train_step({k: tf.constant(v) for k, v in data.items()})
    assert np.isfinite([float(v) for v in logs.values()]).all()
    # 2 D steps + 1 G step, each with the real clips' labels and context.
    assert len(seen) == 3
    for step, (labels, frames) in enumerate(seen):
        rows = slice(0, 2) if step == 2 else slice(2 * step, 2 * step + 2)
        np.testing.assert_array_equal(labels.numpy(), data["label"][rows])
        np.testing.assert_array_equal(frames.numpy(), data["video"][rows, :2])


def test_d_t_frame_count_must_be_the_whole_clip():
    with pytest.raises(ValueError, match="whole clip length"):
        gan.build_dvdgan(
            tiny_gan.build_generator(
                num_conditioning_frames=2, num_frames=tiny.FRAMES
            ),
            tiny_gan.build_spatial_discriminator(),
            tiny_gan.build_temporal_discriminator(),
        )


def test_fp_d_s_sees_only_the_continuation_and_d_t_the_whole_clip():
    model = _fp_gan()
    seen = {}
    spatial_call = model.spatial_discriminator.call
    temporal_call = model.temporal_discriminator.call

    def spatial_spy(frames, labels=None, training=False):
        seen["spatial"] = frames
        return spatial_call(frames, labels, training)

    def temporal_spy(video, labels=None, training=False):
        seen["temporal"] = video
        return temporal_call(video, labels, training)

    model.spatial_discriminator.call = spatial_spy
    model.temporal_discriminator.call = temporal_spy
    video = tf.constant(tiny_gan.real_batch(tiny.BATCH, seed=3)["video"])
    labels = tf.constant([0, 1])
    model._discriminate(video, labels, tf.constant([1, 2]))
    # K = T = 2: D_S gets exactly the two frames after the context.
    np.testing.assert_array_equal(seen["spatial"].numpy(), video[:, 2:])
    assert seen["temporal"].shape[1] == 4  # all C + T frames (pooled 2x2)
