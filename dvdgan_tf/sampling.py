"""Seed -> latent -> video: the one home of how generator inputs are drawn.

Training (`gan.DVDGAN`), the TensorBoard sample grid (`summaries`), the
sampling CLI (`sample`), the SavedModel (`export`) and evaluation
(`evaluation.tasks`) all draw z, run the generator and convert pixels here,
as BigGAN-PyTorch's single `prepare_z_y` / `sample` serve its training,
sampling and metrics.

Latents (every draw is stateless Philox, so a seed reproduces its z on any
device, in any batch):

  | function             | z                                  | used by     |
  | -------------------- | ---------------------------------- | ----------- |
  | `training_inputs`    | N(0, I) [B, Z] + uniform classes,  | training    |
  |                      | one seed per (sub-)step            |             |
  | `prior_latents`      | z_i = N(0, I) with key [seed, i]   | evaluation, |
  |                      | (clip i of a run's seed)           | sample grid |
  | `latents_from_seeds` | z_b = truncation * TN(0, 1) with   | sample CLI, |
  |                      | key [seed_b, 0]                    | SavedModel  |

Truncation (`latents_from_seeds`): z = truncation * TN(0, 1), TN the
standard normal truncated to [-TRUNCATION_BOUND, TRUNCATION_BOUND] =
[-2, 2] (`tf.random.stateless_truncated_normal`). This is the convention of
BigGAN-PyTorch and the TF-Hub BigGAN modules ("scale a truncated normal"),
not the resample-above-threshold variant of the BigGAN paper, because it
stays defined at 0: truncation 0 gives z = 0, the same video for every seed;
truncation 1 is close to the training prior. Evaluation uses the untruncated
prior (`prior_latents`), as the paper's metrics do.

Running the generator: `inference_fn(generator)` is the one cached,
traced inference call (``training=False``, float32 out); `generate_batches`
and `generate_videos` batch it over M clips with labels spread over the
classes. Pixels: `to_uint8` (NumPy) and `to_uint8_tensor` (in-graph, for
the SavedModel) both compute ``round((x + 1) * 127.5)`` clipped to
[0, 255].
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf
import tqdm

# Standard deviations at which `tf.random.stateless_truncated_normal` cuts.
TRUNCATION_BOUND = 2.0

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


def prior_latents(seed: int, indices, latent_dim: int) -> tf.Tensor:
    """Untruncated z of clips `indices` of the set drawn with `seed`.

    z_i = stateless_normal([Z], seed=[seed, i]): a function of (seed, i)
    only, independent of batching.

    Args:
        seed: the set's integer seed.
        indices: int [B] clip indices.
        latent_dim: Z.

    Returns:
        float32 [B, Z].
    """
    return tf.stack(
        [
            tf.random.stateless_normal([latent_dim], seed=[int(seed), int(i)])
            for i in np.asarray(indices).reshape(-1)
        ]
    )


def latents_from_seeds(
    seeds: tf.Tensor, latent_dim: int, truncation: float | tf.Tensor = 1.0
) -> tf.Tensor:
    """Per-example truncated latents, a pure function of each seed.

    Args:
        seeds: int64 [B], one seed per example.
        latent_dim: Z.
        truncation: scalar >= 0; z = truncation * TN(0, 1) truncated to
            [-2, 2]; 0 gives z = 0.

    Returns:
        float32 [B, Z].
    """
    seeds = tf.cast(tf.convert_to_tensor(seeds), tf.int64)
    truncation = tf.cast(truncation, tf.float32)

    def one_latent(seed):
        return tf.random.stateless_truncated_normal(
            [latent_dim], seed=tf.stack([seed, tf.zeros_like(seed)])
        )

    latents = tf.map_fn(
        one_latent,
        seeds,
        fn_output_signature=tf.TensorSpec([latent_dim], tf.float32),
    )
    return truncation * latents


def to_uint8(video) -> np.ndarray:
    """float [-1, 1] -> uint8 [0, 255], rounded and clipped (any shape).

    Args:
        video: float array or tensor, values nominally in [-1, 1].

    Returns:
        uint8 NumPy array of the same shape.
    """
    video = np.asarray(video, dtype=np.float32)
    return np.clip(np.round((video + 1.0) * 127.5), 0, 255).astype(np.uint8)


def to_uint8_tensor(video: tf.Tensor) -> tf.Tensor:
    """`to_uint8` as TensorFlow ops (inside a SavedModel signature)."""
    return tf.cast(
        tf.clip_by_value(tf.round((video + 1.0) * 127.5), 0.0, 255.0),
        tf.uint8,
    )


@functools.lru_cache(maxsize=8)
def inference_fn(generator):
    """The generator's traced inference call, cached per generator.

    Returns:
        ``f(z, labels=None, initial_states=None) -> float32 [B, T, H, W, 3]``
        running ``generator(..., training=False)`` as one `tf.function`
        (traced once per input signature), so periodic and batched sampling
        cost one graph execution per call, not an eager pass. The cache
        holds the last 8 generators (by identity).
    """

    def call(z, labels=None, initial_states=None):
        if initial_states is None:
            video = generator(z, labels, training=False)
        else:
            video = generator(
                z, labels, initial_states=initial_states, training=False
            )
        return tf.cast(video, tf.float32)

    return tf.function(call, reduce_retracing=True)


def spread_labels(num_classes: int, num_videos: int, labels=None):
    """Labels of M generated clips: given ones checked, or i mod N.

    Returns:
        int32 [M], or None for an unconditional generator (N = 0).

    Raises:
        ValueError: `labels` does not hold M entries.
    """
    if not int(num_classes):
        return None
    labels = (
        np.arange(num_videos) % int(num_classes)
        if labels is None
        else np.asarray(labels).reshape(-1)
    )
    if labels.shape[0] != num_videos:
        raise ValueError(
            f"Expected {num_videos} labels; received {labels.shape[0]}"
        )
    return labels.astype(np.int32)


def generate_batches(
    generator,
    num_videos: int,
    seed: int,
    labels=None,
    batch_size: int = 16,
    progress: bool = False,
):
    """Samples clips from the prior (`prior_latents`), batch by batch.

    Args:
        generator: a `Generator` (normally the EMA one).
        num_videos: M.
        seed: z of clip i is `prior_latents(seed, [i])`, independent of the
            batch size.
        labels: int [M] classes for a class-conditional generator; None
            spreads them evenly (i mod N). Ignored when N = 0.
        batch_size: clips per generator call.
        progress: show a tqdm bar.

    Yields:
        (uint8 [b, T, H, W, 3] clips, int32 [b] labels or None).
    """
    labels = spread_labels(generator.num_classes, num_videos, labels)
    sample = inference_fn(generator)
    with tqdm.tqdm(
        total=num_videos, unit="clip", disable=not progress, desc="generating"
    ) as bar:
        for start in range(0, num_videos, batch_size):
            indices = np.arange(start, min(start + batch_size, num_videos))
            z = prior_latents(seed, indices, generator.latent_dim)
            batch_labels = None if labels is None else labels[indices]
            video = sample(
                z, None if batch_labels is None else tf.constant(batch_labels)
            )
            bar.update(len(indices))
            yield to_uint8(video), batch_labels


def generate_videos(
    generator,
    num_videos: int,
    seed: int,
    labels=None,
    batch_size: int = 16,
    progress: bool = False,
):
    """`generate_batches`, concatenated.

    Returns:
        (uint8 [M, T, H, W, 3] clips, int32 [M] labels or None).
    """
    batches = list(
        generate_batches(
            generator, num_videos, seed, labels, batch_size, progress
        )
    )
    videos = np.concatenate([video for video, _ in batches])
    if batches[0][1] is None:
        return videos, None
    return videos, np.concatenate([batch for _, batch in batches])
