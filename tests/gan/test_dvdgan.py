"""DVDGAN.train_step: losses, D/G step structure, noise, loss scaling."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.gan import dvdgan as gan
from dvdgan_tf.gan import losses
from tests import tiny_config as tiny
from tests import tiny_gan

REAL_VALUE = tiny_gan.TOY_REAL_VALUE
ConstantGenerator = tiny_gan.ConstantGenerator
MeanPixelSpatialDiscriminator = tiny_gan.MeanPixelSpatialDiscriminator
MeanPixelTemporalDiscriminator = tiny_gan.MeanPixelTemporalDiscriminator


def _toy_gan(**kwargs):
    model = gan.build_dvdgan(
        ConstantGenerator(),
        MeanPixelSpatialDiscriminator(),
        MeanPixelTemporalDiscriminator(),
        **kwargs,
    )
    model.compile(
        generator_optimizer=keras.optimizers.SGD(0.1),
        discriminator_optimizer=keras.optimizers.SGD(0.1),
    )
    return model


def _toy_batch(batch):
    return {
        "video": tf.fill([batch, 4, 4, 4, 3], REAL_VALUE),
        "label": tf.zeros([batch], tf.int32),
    }


def _values(variables):
    return [np.array(v) for v in variables]


def test_hinge_is_applied_to_summed_spatial_score_and_temporal_score():
    model = _toy_gan()
    data = _toy_batch(2)
    logs = model._discriminator_step(data["video"], data["label"], [1, 2])
    # D_S: real 2 frames x 0.5 = 1 -> relu(0) = 0; fake 2 x -0.25 = -0.5 ->
    # relu(0.5) = 0.5. (A per-frame hinge would give 1.0 + 1.5.)
    assert float(logs["losses/spatial_discriminator"]) == pytest.approx(0.5)
    # D_T: relu(1 - 0.5) + relu(1 - 0.25) = 1.25.
    assert float(logs["losses/temporal_discriminator"]) == pytest.approx(1.25)
    assert float(logs["losses/discriminator"]) == pytest.approx(1.75)
    assert float(logs["scores/spatial_real"]) == pytest.approx(1.0)


def test_generator_loss_is_minus_sum_of_both_scores_on_fakes():
    model = _toy_gan()
    logs = model._generator_step(2, [3, 4], tf.float32)
    assert float(logs["losses/generator"]) == pytest.approx(0.5 + 0.25)


@pytest.mark.parametrize("weight", [0.0, 0.5])
def test_generator_temporal_weight_scales_only_the_d_t_term(weight):
    model = _toy_gan(generator_temporal_weight=weight)
    logs = model._generator_step(2, [3, 4], tf.float32)
    # -(D_S + w * D_T) = 0.5 + w * 0.25: w = 0 is G against D_S only.
    assert float(logs["losses/generator"]) == pytest.approx(0.5 + weight * 0.25)
    # G's gradient follows: d/dscale of -(-0.5 s - w 0.25 s) with SGD 0.1.
    assert float(model.generator.scale) == pytest.approx(
        1.0 - 0.1 * (0.5 + weight * 0.25)
    )


def test_negative_generator_temporal_weight_is_rejected():
    with pytest.raises(ValueError, match="generator_temporal_weight"):
        _toy_gan(generator_temporal_weight=-1.0)


def test_non_saturating_generator_loss_sums_both_discriminators():
    model = _toy_gan(loss="non_saturating")
    logs = model._generator_step(2, [3, 4], tf.float32)
    # -log sigmoid(s) = softplus(-s) for s = -0.5 (D_S) and -0.25 (D_T).
    assert float(logs["losses/generator"]) == pytest.approx(
        np.log1p(np.exp(0.5)) + np.log1p(np.exp(0.25)), rel=1e-6
    )


def test_two_discriminator_steps_per_generator_step():
    model = _toy_gan()
    model.train_step(_toy_batch(4))
    assert int(model.discriminator_optimizer.iterations) == 2
    assert int(model.generator_optimizer.iterations) == 1
    assert int(model.step) == 1


def test_each_discriminator_step_gets_its_own_real_batch():
    model = _toy_gan(num_discriminator_steps=2)
    data = _toy_batch(4)
    video = data["video"].numpy()
    video[2:] = -REAL_VALUE  # the second D step's real batch differs
    logs = model.train_step(
        {"video": tf.constant(video), "label": data["label"]}
    )
    # Mean of the real D_S scores over the two steps: (1.0 + w * -1.0) / 2,
    # with w barely moved by one SGD step; 0 would mean one batch was reused.
    assert float(logs["scores/spatial_real"]) == pytest.approx(0.0, abs=0.2)
    assert float(logs["scores/spatial_real"]) != pytest.approx(1.0, abs=0.2)


def test_ema_generator_tracks_generator_before_start_step():
    model = _toy_gan(ema_start_step=5, ema_decay=0.5)
    model.train_step(_toy_batch(4))
    assert float(model.ema_generator.scale) == float(model.generator.scale)
    assert float(model.generator.scale) != 1.0


def test_ema_generator_averages_with_decay_from_start_step():
    model = _toy_gan(ema_start_step=0, ema_decay=0.5)
    model.train_step(_toy_batch(4))
    # 0.5 * initial 1.0 + 0.5 * the updated weight.
    assert float(model.ema_generator.scale) == pytest.approx(
        0.5 + 0.5 * float(model.generator.scale)
    )


def test_unconditional_model_trains_without_labels():
    model = gan.build_dvdgan(
        ConstantGenerator(num_classes=0),
        MeanPixelSpatialDiscriminator(),
        MeanPixelTemporalDiscriminator(),
    )
    model.compile(
        generator_optimizer=keras.optimizers.SGD(0.1),
        discriminator_optimizer=keras.optimizers.SGD(0.1),
    )
    z, labels = model.draw_generator_inputs(tf.constant([1, 2]), 3)
    assert labels is None and z.shape == (3, 4)
    logs = model.train_step(_toy_batch(4))
    assert float(logs["losses/discriminator"]) > 0.0


def test_batch_not_divisible_into_discriminator_steps_is_rejected():
    model = _toy_gan(num_discriminator_steps=2)
    with pytest.raises(ValueError, match="batch of 3"):
        model.train_step(_toy_batch(3))


def test_discriminator_step_updates_only_discriminator_variables():
    model = _toy_gan()
    g_before = _values(model.generator.trainable_variables)
    d_before = _values(model.discriminator_variables)
    data = _toy_batch(2)
    model._discriminator_step(data["video"], data["label"], [1, 2])
    assert _values(model.generator.trainable_variables) == g_before
    assert all(
        not np.array_equal(a, b)
        for a, b in zip(_values(model.discriminator_variables), d_before)
    )


def test_generator_step_updates_only_generator_variables():
    model = _toy_gan()
    g_before = _values(model.generator.trainable_variables)
    d_before = _values(model.discriminator_variables)
    model._generator_step(2, [3, 4], tf.float32)
    assert _values(model.discriminator_variables) == d_before
    assert not np.array_equal(
        _values(model.generator.trainable_variables)[0], g_before[0]
    )


class _MatrixWeightGenerator(ConstantGenerator):
    """ConstantGenerator plus a 2x2 kernel [[1, 2], [0, 1]] that the
    orthogonal regulariser sees (its output does not depend on it)."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.kernel = self.add_weight(
            shape=(2, 2),
            initializer=keras.initializers.Constant([[1.0, 2.0], [0.0, 1.0]]),
            name="kernel",
        )

    def call(self, z, labels=None, training=False):
        unused = 0.0 * tf.reduce_sum(self.kernel)
        return super().call(z, labels, training) + unused


def test_enabled_regularisers_appear_in_logs_with_their_values():
    model = gan.build_dvdgan(
        _MatrixWeightGenerator(),
        MeanPixelSpatialDiscriminator(),
        MeanPixelTemporalDiscriminator(),
        num_discriminator_steps=1,
        r1_gamma=3.0,
        orthogonal_regularization=0.5,
    )
    model.compile(
        generator_optimizer=keras.optimizers.SGD(0.1),
        discriminator_optimizer=keras.optimizers.SGD(0.1),
    )
    logs = model.train_step(_toy_batch(4))
    # |grad_x D(x)|^2 = 26 / 384 per real clip (see the hand-computed test
    # below); R1 = gamma / 2 * that.
    assert float(logs["losses/r1_penalty"]) == pytest.approx(
        1.5 * 26 / 384, rel=1e-5
    )
    # W^T W = [[1, 2], [2, 5]]: off-diagonal squares 4 + 4 = 8; times beta.
    # The scalar weights are rank 0 and ignored.
    assert float(logs["losses/orthogonal_regularization"]) == pytest.approx(
        0.5 * 8.0
    )


def test_r1_penalty_matches_hand_computed_gradient_norm():
    model = _toy_gan(r1_gamma=1.0)
    data = _toy_batch(2)
    logs = model._discriminator_step(data["video"], data["label"], [1, 2])
    # Clip 4x4x4x3. D_S = sum over K=2 frames of the frame mean: 1/48 per
    # pixel of a sampled frame. D_T = mean of the 2x2-pooled clip (48
    # values): 1/192 per pixel. |grad|^2 = 96 (1/48 + 1/192)^2
    # + 96 (1/192)^2 = 26 / 384; R1 = gamma / 2 * that.
    assert float(logs["losses/r1_penalty"]) == pytest.approx(
        0.5 * 26 / 384, rel=1e-5
    )


def test_noise_is_a_function_of_the_step():
    model = _toy_gan()
    z0, labels0 = model.draw_generator_inputs(tf.constant([5, 6]), 8)
    z1, _ = model.draw_generator_inputs(tf.constant([5, 6]), 8)
    z2, _ = model.draw_generator_inputs(tf.constant([5, 7]), 8)
    np.testing.assert_array_equal(z0, z1)
    assert not np.allclose(z0, z2)
    assert labels0.dtype == tf.int32
    assert set(np.asarray(labels0)) <= {0, 1, 2}


@pytest.mark.distributed
def test_replicas_draw_different_latents_and_frame_seeds(logical_cpus):
    strategy = tf.distribute.MirroredStrategy(logical_cpus)
    with strategy.scope():
        model = _toy_gan()

    def draw():
        z, _ = model.draw_generator_inputs(tf.constant([1, 2], tf.int64), 4)
        return z, model.frame_seed(tf.constant([1, 2], tf.int64))

    z, seeds = strategy.run(draw)
    z0, z1 = strategy.experimental_local_results(z)
    s0, s1 = strategy.experimental_local_results(seeds)
    assert not np.allclose(z0, z1)
    assert not np.array_equal(s0, s1)


class _ReplicatedNoiseGAN(gan.DVDGAN):
    """Draws, on one device, exactly what 2 replicas draw (test hook)."""

    def draw_generator_inputs(self, step_seed, batch_size):
        parts = [
            self.sample_generator_inputs(
                tf.random.experimental.stateless_fold_in(
                    tf.cast(step_seed, tf.int64),
                    tf.constant(replica, tf.int64),
                ),
                batch_size // 2,
            )
            for replica in range(2)
        ]
        return (
            tf.concat([p[0] for p in parts], 0),
            tf.concat([p[1] for p in parts], 0),
        )


# DVD-GAN-FP variant of the tiny shapes: 2 conditioning + 2 predicted frames.
FP_CONTEXT, FP_PREDICTED = 2, 2


def _tiny_gan(cls, prediction=False):
    context = FP_CONTEXT if prediction else 0
    frames = FP_PREDICTED if prediction else tiny.FRAMES

    def build_generator():
        return tiny_gan.build_generator(
            num_conditioning_frames=context, num_frames=frames
        )

    model = cls(
        build_generator(),
        # K = T: every generated frame is sampled, so D_S sees the same
        # frames on one or two devices whatever the frame-sampling seed.
        tiny_gan.build_spatial_discriminator(num_sampled_frames=frames),
        tiny_gan.build_temporal_discriminator(),
        gan.build_dvdgan(
            build_generator(),
            tiny_gan.build_spatial_discriminator(),
            tiny_gan.build_temporal_discriminator(),
        ).ema_generator,
        num_discriminator_steps=2,
        loss=losses.GANLoss.HINGE,
        orthogonal_regularization=0.0,
        r1_gamma=0.0,
        ema_start_step=0,
        ema_decay=0.5,
        seed=0,
        generator_temporal_weight=1.0,
    )
    # Plain SGD: Adam's first step is invariant to the loss scale and would
    # hide a missing division by the number of replicas.
    model.compile(
        generator_optimizer=keras.optimizers.SGD(0.05),
        discriminator_optimizer=keras.optimizers.SGD(0.05),
    )
    return model


@pytest.mark.distributed
@pytest.mark.parametrize("prediction", [False, True], ids=["synthesis", "fp"])
def test_mirrored_step_matches_single_device_step_on_same_global_batch(
    logical_cpus, prediction
):
    steps, per_replica = 2, tiny.BATCH
    data = tiny_gan.real_batch(steps * 2 * per_replica, seed=3)

    single = _tiny_gan(_ReplicatedNoiseGAN, prediction)
    single.train_step({k: tf.constant(v) for k, v in data.items()})

    strategy = tf.distribute.MirroredStrategy(logical_cpus)
    with strategy.scope():
        mirrored = _tiny_gan(gan.DVDGAN, prediction)

    def replica_data(context):
        # Replica r holds the r-th half of every D step's global batch.
        r = context.replica_id_in_sync_group
        chunks = [
            {
                k: v[(i * 2 + r) * per_replica : (i * 2 + r + 1) * per_replica]
                for k, v in data.items()
            }
            for i in range(steps)
        ]
        return {
            k: tf.constant(np.concatenate([c[k] for c in chunks])) for k in data
        }

    distributed = strategy.experimental_distribute_values_from_function(
        replica_data
    )
    strategy.run(mirrored.train_step, args=(distributed,))

    for name in (
        "generator",
        "spatial_discriminator",
        "temporal_discriminator",
        "ema_generator",
    ):
        expected = tiny_gan.weights_of(getattr(single, name))
        actual = tiny_gan.weights_of(getattr(mirrored, name))
        assert expected.keys() == actual.keys()
        for path in expected:
            np.testing.assert_allclose(
                actual[path],
                expected[path],
                rtol=1e-4,
                atol=2e-5,
                err_msg=path,
            )


def test_keras_fit_is_refused_with_a_pointer_to_the_training_loop():
    model = _toy_gan()
    with pytest.raises(NotImplementedError, match="training.trainer.run"):
        model.fit(np.zeros([2, 4, 4, 4, 3], np.float32), epochs=1)


def test_ema_rampup_binding_reaches_the_update_in_the_step():
    # Step 0 with start 0 averages one step: a half-step horizon, 0.25.
    ramped = _toy_gan(ema_start_step=0, ema_decay=0.999, ema_rampup=0.05)
    logs = ramped.train_step(_toy_batch(4))
    assert float(logs["ema/decay"]) == pytest.approx(0.25)
    fixed = _toy_gan(ema_start_step=0, ema_decay=0.999)
    assert float(fixed.train_step(_toy_batch(4))["ema/decay"]) == (
        pytest.approx(0.999)
    )
