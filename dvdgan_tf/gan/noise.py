"""Training noise: z ~ N(0, I) and uniform classes for one (sub-)step.

The GAN step (`gan.dvdgan.DVDGAN`) draws G's inputs for every D and G
(sub-)step here, from a stateless Philox seed that is already specific to
the step, the sub-step and the replica (`gan.replicas.replica_seed`), so
replicas draw distinct noise and a seed reproduces its draw on any device.
Inference latents (the prior, truncation) are `inference.generation`'s.
"""

from __future__ import annotations

import tensorflow as tf

# Fold-in constants that separate the z and label streams of one seed.
_LATENT_STREAM = 0
_LABEL_STREAM = 1


def fold_seed(seed, value) -> tf.Tensor:
    """int64 [2]: `seed` with `value` folded in (int64 throughout, so the
    same inputs give the same seed whatever Python/TF int types come in)."""
    return tf.random.experimental.stateless_fold_in(
        tf.cast(seed, tf.int64), tf.cast(value, tf.int64)
    )


def training_inputs(seed, batch_size: int, latent_dim: int, num_classes: int):
    """z ~ N(0, I) and uniform classes for one training (sub-)step.

    Args:
        seed: int [2] stateless seed (already specific to the step, sub-step
            and replica).
        batch_size: B.
        latent_dim: Z.
        num_classes: N (0 = unconditional).

    Returns:
        (float32 [B, Z], int32 [B] or None when N = 0).
    """
    z = tf.random.stateless_normal(
        [batch_size, latent_dim], seed=fold_seed(seed, _LATENT_STREAM)
    )
    if num_classes == 0:
        return z, None
    labels = tf.random.stateless_uniform(
        [batch_size],
        seed=fold_seed(seed, _LABEL_STREAM),
        minval=0,
        maxval=num_classes,
        dtype=tf.int32,
    )
    return z, labels
