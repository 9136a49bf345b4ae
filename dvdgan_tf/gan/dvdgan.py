"""The DVD-GAN training step: `DVDGAN.train_step`, run per replica.

Reference: DVD-GAN (arXiv 1907.06571 v2), section 3 and the training
details: a class-conditional generator G and two discriminators, D_S (k = 8
randomly sampled full-resolution frames, scores summed) and D_T (the whole
clip after 2x2 spatial average pooling); hinge loss on each discriminator
separately; two D updates per G update (BigGAN); Adam with beta1 = 0; an EMA
of G's weights for sampling. docs/DESIGN.md D7, D10, D13 and D14.

How one training step is organised (the per-replica function that
`dvdgan_tf.training.trainer` drives with ``strategy.run`` inside a
`tf.function`):

* **Input.** The per-replica batch holds ``num_discriminator_steps`` real
  batches, [S * B, T, H, W, 3] (the dataset is built with global batch
  ``S * global_batch_size``); it is split so that every D step sees a fresh
  real batch (compare_gan's unrolled-batch approach rather than dequeuing
  several times in a cross-replica step).
* **Noise.** Every draw (z, fake classes, D_S frame indices) uses a stateless
  seed derived from the run seed, the step counter, the replica id and a
  purpose code (`dvdgan_tf.gan.replicas.replica_seed`): replicas draw different
  z, a restart replays exactly the same noise, and no RNG state is mutated.
  Fake classes are uniform over the N classes.
* **D steps.** G runs with ``training=True`` (its BN moving statistics and SN
  vectors update, as in BigGAN-PyTorch), outside the tape. Real and fake go
  through each discriminator in **one concatenated pass**: BigGAN-style
  discriminators have no batch normalisation, so examples do not interact
  and the concatenation is exactly equivalent to two passes while halving
  the number of kernel launches and SN power iterations.
* **G step.** ``-(D_S + D_T)`` on fresh fakes (for the hinge loss; the other
  objectives apply the G loss to each discriminator's score and add). The
  D_T term can be weighted (`generator_temporal_weight`, 1 = the paper; 0 is
  the "without D_T" ablation of docs/RESULTS.md).
* **Loss scaling.** Per-example losses are summed and divided by the
  *global* batch size (`gan.replicas.scale_per_example_loss`), because
  ``apply_gradients`` in a replica context sums gradients across replicas.
  Cross-replica BN statistics are the generator's own business (its
  conditional BN all-reduces inside ``strategy.run``).
* **EMA.** After the G update (`dvdgan_tf.gan.ema`).

**DVD-GAN-FP** (a generator with ``num_conditioning_frames`` C > 0; SPEC
section 5, docs/DESIGN.md D4): real clips hold C + T frames; their first C
are G's context frames and fakes are ``[real first C; G's T frames]``
under the real clip's label (the class of the clip being continued, not a
uniform draw). D_T judges the whole C + T clip, D_S samples its K frames
from the last T (generated or real continuation) only. The G step reuses the
first D step's real clips as context (fresh z), so no real future frame
ever reaches G.

Choices beyond the paper, off by default: non-saturating / least-squares
objectives, BigGAN's orthogonal regularisation of G's weights, and an R1
penalty on real data (computed in a separate inference-mode pass of D so the
SN vectors are not advanced twice). When on they appear in the logs.
"""

from __future__ import annotations

import keras
import tensorflow as tf

from dvdgan_tf.gan import ema
from dvdgan_tf.gan import losses
from dvdgan_tf.gan import noise
from dvdgan_tf.gan import replicas
from dvdgan_tf.models import discriminators
from dvdgan_tf.models import generator as generator_lib

# Purpose code of D_S's frame sampling, folded into the per-step seed (0 and
# 1 are the z and label streams of `gan.noise.training_inputs`).
_FRAME_SEED = 2


class DVDGAN(keras.Model):
    """G, D_S, D_T and the EMA generator, trained with `train_step`.

    Args:
        generator: a built `Generator` (see `models.generator`).
        spatial_discriminator: a built D_S; its ``num_sampled_frames``
            attribute is K.
        temporal_discriminator: a built D_T.
        ema_generator: a generator built from ``generator.get_config()``.
        num_discriminator_steps: D updates per G update (2 in the paper).
        loss: the adversarial objective (`losses.GANLoss` or its value).
        orthogonal_regularization: BigGAN's beta for G's weights; 0 = off.
        r1_gamma: R1 penalty weight on real data; 0 = off.
        ema_decay: EMA decay after `ema_start_step`.
        ema_start_step: first step at which the EMA averages; before it the
            EMA generator is a copy of G.
        ema_rampup: 0 (the paper: a fixed decay) or the ratio r of an EMA
            horizon that grows with training (`gan.ema`, StyleGAN2's
            ``ema_rampup``).
        seed: the run's noise seed.
        generator_temporal_weight: weight of D_T's term in G's loss (1 in
            the paper). 0 is the "without D_T" ablation: G is trained
            against D_S only, while D_T keeps training (and its scores keep
            being logged) so that it can still be probed.
        name: model name.

    Call `compile(generator_optimizer=..., discriminator_optimizer=...)`
    inside the strategy scope before training. Build it with
    `build_dvdgan`, the one place that holds the paper's defaults.
    """

    def __init__(
        self,
        generator: keras.Model,
        spatial_discriminator: keras.Model,
        temporal_discriminator: keras.Model,
        ema_generator: keras.Model,
        *,
        num_discriminator_steps: int,
        loss: losses.GANLoss | str,
        orthogonal_regularization: float,
        r1_gamma: float,
        ema_decay: float,
        ema_start_step: int,
        ema_rampup: float = 0.0,
        seed: int,
        generator_temporal_weight: float,
        name: str = "dvdgan",
    ):
        super().__init__(name=name)
        if num_discriminator_steps < 1:
            raise ValueError(
                "Expected at least one discriminator step per generator "
                "step; received: num_discriminator_steps="
                f"{num_discriminator_steps}"
            )
        if orthogonal_regularization < 0 or r1_gamma < 0:
            raise ValueError(
                "Expected non-negative regulariser weights; received: "
                f"orthogonal_regularization={orthogonal_regularization}, "
                f"r1_gamma={r1_gamma}"
            )
        if not generator_temporal_weight >= 0:
            raise ValueError(
                "Expected generator_temporal_weight >= 0 (1 = the paper, "
                "0 = G trained against D_S only); received: "
                f"{generator_temporal_weight}"
            )
        ema.check_ema_arguments(ema_decay, ema_start_step, ema_rampup)
        self.generator = generator
        self.spatial_discriminator = spatial_discriminator
        self.temporal_discriminator = temporal_discriminator
        self.ema_generator = ema_generator
        self.num_discriminator_steps = int(num_discriminator_steps)
        self.loss_type = losses.as_gan_loss(loss)
        self.orthogonal_regularization = float(orthogonal_regularization)
        self.r1_gamma = float(r1_gamma)
        self.generator_temporal_weight = float(generator_temporal_weight)
        self.ema_decay = float(ema_decay)
        self.ema_start_step = int(ema_start_step)
        self.ema_rampup = float(ema_rampup)
        self.num_classes = int(generator.num_classes)
        self.latent_dim = int(generator.latent_dim)
        self.num_sampled_frames = int(spatial_discriminator.num_sampled_frames)
        self.num_conditioning_frames = generator_lib.num_conditioning_frames(
            generator
        )
        # The sub-models are built functional/subclassed models; nothing to
        # build here (docs/DESIGN.md K3: an unbuilt wrapper breaks under
        # strategies).
        self.built = True
        # Step counter and run seed are plain tf.Variables: they are saved
        # in the checkpoint as `step` and `rng` (docs/ARCHITECTURE.md).
        # Aggregation NONE: every replica increments its own copy by one, so
        # the copies stay equal without a cross-device merge_call (which XLA
        # cannot compile).
        self.step = tf.Variable(
            0,
            dtype=tf.int64,
            trainable=False,
            name="step",
            aggregation=tf.VariableAggregation.NONE,
        )
        self.rng = tf.Variable(
            [int(seed), 0],
            dtype=tf.int64,
            trainable=False,
            name="rng",
            aggregation=tf.VariableAggregation.NONE,
        )
        ema.copy_weights(ema_generator, generator)
        self.generator_optimizer = None
        self.discriminator_optimizer = None

    # Keras plumbing ------------------------------------------------------

    def compile(self, generator_optimizer, discriminator_optimizer):
        """Attaches and pre-builds the two optimizers.

        Must be called inside the strategy scope: optimizer slots created
        lazily inside ``strategy.run`` fail under MirroredStrategy
        (docs/DESIGN.md K3).
        """
        # optimizer=None: otherwise Keras builds a default optimizer over all
        # weights and allocates useless slot variables.
        super().compile(optimizer=None)
        self.generator_optimizer = generator_optimizer
        self.discriminator_optimizer = discriminator_optimizer
        generator_optimizer.build(self.generator.trainable_variables)
        discriminator_optimizer.build(self.discriminator_variables)

    @property
    def discriminator_variables(self) -> list:
        return (
            self.spatial_discriminator.trainable_variables
            + self.temporal_discriminator.trainable_variables
        )

    def fit(self, *args, **kwargs):
        """Not supported: train with `dvdgan_tf.training.trainer.run`.

        Keras' ``fit`` would run `train_step` but none of the loop actions
        (no EMA sample grid, no checkpoints, no preemption save) and breaks
        under multi-replica strategies (docs/DESIGN.md K2).

        Raises:
            NotImplementedError: always.
        """
        raise NotImplementedError(
            "DVDGAN.fit is not supported: it would skip checkpoints, EMA "
            "samples and the preemption save, and fails under multi-replica "
            "strategies. Train with dvdgan_tf.training.trainer.run (the gin "
            "root `training.run`; command line: python -m dvdgan_tf.train)."
        )

    def real_clips_per_step(self, global_batch_size: int) -> int:
        """Real clips one training step reads, over all replicas.

        The one place the batch arithmetic lives: each of the
        ``num_discriminator_steps`` D steps reads `global_batch_size` real
        clips (and scores as many generated ones), so the dataset yields
        ``global_batch_size * num_discriminator_steps`` clips per step and
        `train_step` splits its per-replica share back into the D steps'
        batches. The G step generates `global_batch_size` clips.
        """
        return int(global_batch_size) * self.num_discriminator_steps

    def call(self, z, labels=None, training=False):
        """Samples from the EMA generator: float32 [B, T, H, W, 3]."""
        return self.ema_generator(z, labels, training=training)

    @property
    def log_names(self) -> tuple[str, ...]:
        """The keys of `train_step`'s result, in a fixed order."""
        names = [
            "losses/discriminator",
            "losses/spatial_discriminator",
            "losses/temporal_discriminator",
            "losses/generator",
            "scores/spatial_real",
            "scores/spatial_fake",
            "scores/temporal_real",
            "scores/temporal_fake",
            "ema/decay",
        ]
        if self.r1_gamma > 0:
            names.append("losses/r1_penalty")
        if self.orthogonal_regularization > 0:
            names.append("losses/orthogonal_regularization")
        return tuple(names)

    # Noise ---------------------------------------------------------------

    def sample_generator_inputs(self, seed, batch_size: int):
        """z ~ N(0, I) and uniform classes from a stateless seed.

        Args:
            seed: int [2] stateless seed.
            batch_size: B.

        Returns:
            (float32 [B, Z], int32 [B] or None when unconditional); see
            `gan.noise.training_inputs`.
        """
        return noise.training_inputs(
            seed, batch_size, self.latent_dim, self.num_classes
        )

    def draw_generator_inputs(self, step_seed, batch_size: int):
        """This replica's generator inputs for one (sub-)step.

        The replica id is folded into the seed so replicas draw different z
        and classes. Tests override this to reproduce a multi-replica draw on
        one device.

        Args:
            step_seed: int64 [2], already specific to the step and sub-step.
            batch_size: per-replica B.
        """
        return self.sample_generator_inputs(
            replicas.replica_seed(step_seed), batch_size
        )

    def frame_seed(self, step_seed):
        """This replica's D_S frame-sampling seed for one (sub-)step."""
        return replicas.replica_seed(step_seed, _FRAME_SEED)

    # The step ------------------------------------------------------------

    def _labels_or_none(self, labels):
        return labels if self.num_classes > 0 else None

    def _discriminate(self, video, labels, frame_seed, training=True):
        """Both discriminators' scores: (spatial [B], temporal [B]) float32.

        For DVD-GAN-FP, `video` is the whole C + T clip: D_S samples from its
        last T frames only, D_T sees all of it.
        """
        labels = self._labels_or_none(labels)
        frames = discriminators.sample_frames(
            video[:, self.num_conditioning_frames :],
            num_sampled_frames=self.num_sampled_frames,
            seed=frame_seed,
        )
        spatial = self.spatial_discriminator(frames, labels, training=training)
        pooled = discriminators.downsample_video(video)
        temporal = self.temporal_discriminator(
            pooled, labels, training=training
        )
        return tf.cast(spatial, tf.float32), tf.cast(temporal, tf.float32)

    def _r1_penalty(self, real_video, real_labels, frame_seed):
        """Per-example R1 penalty on real clips: float32 [B]."""
        real_video = tf.cast(real_video, tf.float32)
        with tf.GradientTape() as tape:
            tape.watch(real_video)
            # Inference mode: D has no BN, so only the SN power iteration
            # differs, and it must not advance twice per step.
            spatial, temporal = self._discriminate(
                real_video, real_labels, frame_seed, training=False
            )
            total = tf.reduce_sum(spatial + temporal)
        # D has no cross-example interaction, so d(sum)/d(x_i) is the
        # gradient of example i's own score.
        gradients = tape.gradient(total, real_video)
        return losses.r1_penalty(gradients, self.r1_gamma)

    def _generate(self, z, labels, context_source, training=True):
        """G's clip: synthesis, or [context; prediction] for FP.

        Args:
            z: float32 [B, Z].
            labels: int32 [B] (ignored when unconditional).
            context_source: DVD-GAN-FP: the real clips whose first C
                frames condition G (only those frames are read); None for
                synthesis.
        """
        context = None
        if self.num_conditioning_frames:
            context = context_source[:, : self.num_conditioning_frames]
        return generator_lib.whole_clip(
            self.generator,
            z,
            self._labels_or_none(labels),
            context,
            training=training,
        )

    def _discriminator_step(self, real_video, real_labels, step_seed):
        batch_size = real_video.shape[0]
        global_batch = batch_size * replicas.num_replicas()
        z, fake_labels = self.draw_generator_inputs(step_seed, batch_size)
        context_source = None
        if self.num_conditioning_frames:
            # FP continues the real clips: their frames and their classes.
            context_source, fake_labels = real_video, real_labels
        fake_video = self._generate(z, fake_labels, context_source)
        fake_video = tf.stop_gradient(tf.cast(fake_video, real_video.dtype))
        # One D pass over [real; fake]: BigGAN-style discriminators have no
        # batch normalisation, so examples do not interact and this equals
        # two separate passes (with one SN power iteration, not two).
        videos = tf.concat([real_video, fake_video], axis=0)
        labels = (
            tf.concat([real_labels, fake_labels], axis=0)
            if self.num_classes > 0
            else None
        )
        frame_seed = self.frame_seed(step_seed)
        with tf.GradientTape() as tape:
            spatial, temporal = self._discriminate(videos, labels, frame_seed)
            spatial_real, spatial_fake = tf.split(spatial, 2)
            temporal_real, temporal_fake = tf.split(temporal, 2)
            spatial_loss = losses.discriminator_loss(
                self.loss_type, spatial_real, spatial_fake
            )
            temporal_loss = losses.discriminator_loss(
                self.loss_type, temporal_real, temporal_fake
            )
            per_example = spatial_loss + temporal_loss
            logs = {}
            if self.r1_gamma > 0:
                penalty = self._r1_penalty(real_video, real_labels, frame_seed)
                per_example += penalty
                logs["losses/r1_penalty"] = tf.reduce_mean(penalty)
            scaled = replicas.scale_per_example_loss(per_example, global_batch)
        variables = self.discriminator_variables
        gradients = tape.gradient(scaled, variables)
        self.discriminator_optimizer.apply_gradients(zip(gradients, variables))
        logs.update(
            {
                "losses/discriminator": tf.reduce_mean(per_example),
                "losses/spatial_discriminator": tf.reduce_mean(spatial_loss),
                "losses/temporal_discriminator": tf.reduce_mean(temporal_loss),
                "scores/spatial_real": tf.reduce_mean(spatial_real),
                "scores/spatial_fake": tf.reduce_mean(spatial_fake),
                "scores/temporal_real": tf.reduce_mean(temporal_real),
                "scores/temporal_fake": tf.reduce_mean(temporal_fake),
            }
        )
        return logs

    def _generator_step(
        self, batch_size, step_seed, dtype, real_video=None, real_labels=None
    ):
        """One G update; `real_video`/`real_labels` condition FP's G."""
        global_batch = batch_size * replicas.num_replicas()
        z, labels = self.draw_generator_inputs(step_seed, batch_size)
        if self.num_conditioning_frames:
            labels = real_labels
        frame_seed = self.frame_seed(step_seed)
        variables = self.generator.trainable_variables
        logs = {}
        with tf.GradientTape() as tape:
            fake_video = self._generate(z, labels, real_video)
            spatial, temporal = self._discriminate(
                tf.cast(fake_video, dtype), labels, frame_seed
            )
            per_example = losses.generator_loss(self.loss_type, spatial)
            if self.generator_temporal_weight:
                per_example += self.generator_temporal_weight * (
                    losses.generator_loss(self.loss_type, temporal)
                )
            scaled = replicas.scale_per_example_loss(per_example, global_batch)
            if self.orthogonal_regularization > 0:
                penalty = losses.orthogonal_regularization(
                    variables, self.orthogonal_regularization
                )
                scaled += replicas.scale_regularization_loss(penalty)
                logs["losses/orthogonal_regularization"] = penalty
        gradients = tape.gradient(scaled, variables)
        self.generator_optimizer.apply_gradients(zip(gradients, variables))
        logs["losses/generator"] = tf.reduce_mean(per_example)
        return logs

    def train_step(self, data):
        """One DVD-GAN step on this replica's batch (call via strategy.run).

        Args:
            data: {"video": float32 [S * B, T, H, W, 3] in [-1, 1],
                "label": int32 [S * B]}, S = num_discriminator_steps; the
                batch dimension must be static.

        Returns:
            Dict of float32 scalars keyed by `log_names`: this replica's
            means (D entries averaged over the S D steps).

        Raises:
            ValueError: if the batch is not S equal static sub-batches.
        """
        if self.generator_optimizer is None:
            raise ValueError(
                "DVDGAN.compile(generator_optimizer=..., "
                "discriminator_optimizer=...) must be called before training."
            )
        real_video, real_labels = data["video"], data["label"]
        total = real_video.shape[0]
        steps = self.num_discriminator_steps
        if total is None or total % steps:
            raise ValueError(
                "Expected a static per-replica batch holding "
                f"num_discriminator_steps={steps} equal real batches; "
                f"received a batch of {total}. Build the dataset with "
                "global_batch_size * num_discriminator_steps and "
                "drop_remainder=True."
            )
        batch_size = total // steps
        step = self.step.read_value()
        run_seed = self.rng.read_value()
        step_seed = noise.fold_seed(run_seed, step)
        videos = tf.split(real_video, steps, axis=0)
        labels = tf.split(real_labels, steps, axis=0)
        d_logs = []
        for index in range(steps):
            sub_seed = noise.fold_seed(step_seed, index)
            d_logs.append(
                self._discriminator_step(videos[index], labels[index], sub_seed)
            )
        logs = {
            key: tf.add_n([entry[key] for entry in d_logs]) / float(steps)
            for key in d_logs[0]
        }
        g_seed = noise.fold_seed(step_seed, steps)
        logs.update(
            self._generator_step(
                batch_size, g_seed, real_video.dtype, videos[0], labels[0]
            )
        )
        logs["ema/decay"] = ema.update_ema(
            self.ema_generator,
            self.generator,
            step,
            self.ema_decay,
            self.ema_start_step,
            self.ema_rampup,
        )
        self.step.assign_add(1)
        return {
            name: tf.cast(logs[name], tf.float32) for name in self.log_names
        }


def build_dvdgan(
    generator: keras.Model,
    spatial_discriminator: keras.Model,
    temporal_discriminator: keras.Model,
    *,
    num_discriminator_steps: int = 2,
    loss: losses.GANLoss | str = losses.GANLoss.HINGE,
    orthogonal_regularization: float = 0.0,
    r1_gamma: float = 0.0,
    ema_decay: float = 0.9999,
    ema_start_step: int = 20000,
    ema_rampup: float = 0.0,
    seed: int = 0,
    generator_temporal_weight: float = 1.0,
) -> DVDGAN:
    """Builds the EMA generator and the `DVDGAN` (the gin-configurable entry).

    The defaults here are the paper's (2 D steps per G step, hinge loss,
    EMA decay 0.9999 from step 20000; no orthogonal or R1 regulariser): the
    only copy of them. The EMA generator is
    ``type(generator).from_config(generator.get_config())`` (same
    architecture and variable paths), built with one inference call if the
    class does not build itself, then set equal to G.

    Args: see `DVDGAN`.

    Returns:
        The `DVDGAN`, not yet compiled.
    """
    ema_generator = type(generator).from_config(generator.get_config())
    if not ema_generator.weights:
        z = tf.zeros([1, generator.latent_dim])
        labels = tf.zeros([1], tf.int32) if generator.num_classes else None
        ema_generator(z, labels, training=False)
    temporal_frames = getattr(temporal_discriminator, "num_frames", None)
    clip_frames = generator_lib.clip_frames(generator)
    if temporal_frames is not None and temporal_frames != clip_frames:
        raise ValueError(
            f"D_T takes {temporal_frames} frames but the clip has "
            f"{clip_frames} (G's {generator.num_frames} frames after "
            f"{clip_frames - generator.num_frames} context frames): set "
            "discriminators.build_temporal_discriminator.num_frames to the "
            "whole clip length"
        )
    return DVDGAN(
        generator,
        spatial_discriminator,
        temporal_discriminator,
        ema_generator,
        num_discriminator_steps=num_discriminator_steps,
        loss=loss,
        orthogonal_regularization=orthogonal_regularization,
        r1_gamma=r1_gamma,
        ema_decay=ema_decay,
        ema_start_step=ema_start_step,
        ema_rampup=ema_rampup,
        seed=seed,
        generator_temporal_weight=generator_temporal_weight,
    )
