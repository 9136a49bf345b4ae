"""Tiny DVD-GAN pieces shared by the training tests (tiny_config shapes)."""

from __future__ import annotations

import functools

import keras
import numpy as np
import tensorflow as tf

from dvdgan_tf.gan import dvdgan as gan
from dvdgan_tf.models import discriminators
from dvdgan_tf.models import generator
from tests import tiny_config as tiny

# Toy models: one weight each, hand-computable scores (see test_gan.py).
TOY_REAL_VALUE = 0.5
FAKE_VALUE = -0.25
K = 2


class ConstantGenerator(keras.Model):
    """Constant videos (FAKE_VALUE * scale) that ignore z; one weight."""

    def __init__(self, num_classes=3, latent_dim=4, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.latent_dim = latent_dim
        self.num_frames, self.resolution = 4, 4
        self.scale = self.add_weight(shape=(), initializer="ones", name="scale")

    def call(self, z, labels=None, training=False):
        ones = tf.ones([tf.shape(z)[0], 4, 4, 4, 3])
        return ones * FAKE_VALUE * self.scale

    def get_config(self):
        return {"num_classes": self.num_classes, "latent_dim": self.latent_dim}


class MeanPixelSpatialDiscriminator(keras.Model):
    """Score = weight * sum over the K frames of each frame's mean pixel."""

    num_sampled_frames = K

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.weight = self.add_weight(shape=(), initializer="ones", name="w")

    def call(self, frames, labels=None, training=False):
        assert frames.shape[1] == K
        per_frame = tf.reduce_mean(frames, axis=[2, 3, 4])
        return self.weight * tf.reduce_sum(per_frame, axis=1)


class MeanPixelTemporalDiscriminator(keras.Model):
    """Score = weight * mean pixel of the (pooled) clip."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.weight = self.add_weight(shape=(), initializer="ones", name="w")

    def call(self, video, labels=None, training=False):
        return self.weight * tf.reduce_mean(video, axis=[1, 2, 3, 4])


def build_generator(
    num_classes=tiny.NUM_CLASSES,
    num_conditioning_frames=0,
    num_frames=tiny.FRAMES,
    conditioning_levels="all",
):
    """The tiny G; with C > 0 a DVD-GAN-FP G predicting `num_frames`."""
    return generator.build_generator(
        resolution=tiny.RESOLUTION,
        num_frames=num_frames,
        num_classes=num_classes,
        channel_multiplier=tiny.CHANNEL_MULTIPLIER,
        latent_dim=tiny.LATENT_DIM,
        embedding_dim=tiny.EMBEDDING_DIM,
        seed=0,
        num_conditioning_frames=num_conditioning_frames,
        conditioning_levels=conditioning_levels,
    )


def build_spatial_discriminator(
    num_sampled_frames=tiny.SAMPLED_FRAMES, num_classes=tiny.NUM_CLASSES
):
    return discriminators.build_spatial_discriminator(
        resolution=tiny.RESOLUTION,
        num_classes=num_classes,
        channel_multiplier=tiny.CHANNEL_MULTIPLIER,
        num_sampled_frames=num_sampled_frames,
        seed=1,
    )


def build_temporal_discriminator(num_classes=tiny.NUM_CLASSES):
    return discriminators.build_temporal_discriminator(
        resolution=tiny.RESOLUTION,
        num_frames=tiny.FRAMES,
        num_classes=num_classes,
        channel_multiplier=tiny.CHANNEL_MULTIPLIER,
        seed=2,
    )


def build_gan(num_sampled_frames=tiny.SAMPLED_FRAMES, **kwargs):
    """A compiled tiny DVDGAN (call inside the strategy scope)."""
    model = gan.build_dvdgan(
        build_generator(),
        build_spatial_discriminator(num_sampled_frames),
        build_temporal_discriminator(),
        **kwargs,
    )
    model.compile(
        generator_optimizer=make_generator_optimizer(),
        discriminator_optimizer=make_discriminator_optimizer(),
    )
    return model


def make_generator_optimizer():
    return keras.optimizers.Adam(1e-4, beta_1=0.0, beta_2=0.999, epsilon=1e-8)


def make_discriminator_optimizer():
    return keras.optimizers.Adam(5e-4, beta_1=0.0, beta_2=0.999, epsilon=1e-8)


def real_batch(batch_size, seed=0):
    """A fixed real batch: {"video": [B, T, H, W, 3] in [-1, 1], "label"}."""
    rng = np.random.default_rng(seed)
    video = rng.uniform(
        -1, 1, (batch_size, tiny.FRAMES, tiny.RESOLUTION, tiny.RESOLUTION, 3)
    ).astype(np.float32)
    labels = (np.arange(batch_size) % tiny.NUM_CLASSES).astype(np.int32)
    return {"video": video, "label": labels}


def make_constant_dataset(
    input_context,
    global_batch_size,
    num_frames=tiny.FRAMES,
    resolution=tiny.RESOLUTION,
    frame_stride=1,
    seed=0,
    num_classes=0,
    start_step=0,
    short_clip_policy="loop",
):
    """The same global batch forever, sharded by input pipeline.

    Every step sees the same data, so a resumed run and an uninterrupted
    one consume identical inputs.
    """
    # The batch is synthetic; these are kept for the builder API.
    del frame_stride, num_classes, start_step, short_clip_policy
    if (num_frames, resolution) != (tiny.FRAMES, tiny.RESOLUTION):
        raise ValueError(f"tiny data only: {num_frames}, {resolution}")
    batch = real_batch(global_batch_size, seed)
    if input_context is not None:
        per_replica = input_context.get_per_replica_batch_size(
            global_batch_size
        )
        start = input_context.input_pipeline_id * per_replica
        batch = {k: v[start : start + per_replica] for k, v in batch.items()}
    return tf.data.Dataset.from_tensors(batch).repeat()


def run_kwargs(model_dir, train_steps, global_batch_size=tiny.BATCH, **extra):
    """Explicit `training.run` arguments for a tiny run (no gin)."""
    kwargs = dict(
        model_dir=model_dir,
        generator_builder=build_generator,
        spatial_discriminator_builder=build_spatial_discriminator,
        temporal_discriminator_builder=build_temporal_discriminator,
        dataset_builder=make_constant_dataset,
        generator_optimizer=make_generator_optimizer,
        discriminator_optimizer=make_discriminator_optimizer,
        gan_builder=functools.partial(gan.build_dvdgan, ema_start_step=1),
        global_batch_size=global_batch_size,
        train_steps=train_steps,
        log_every=1,
        sample_every=1000,
        checkpoint_every=1000,
    )
    kwargs.update(extra)
    return kwargs


def weights_of(model) -> dict:
    """{variable path: numpy value} of a Keras model."""
    return {v.path: np.asarray(v) for v in model.weights}
