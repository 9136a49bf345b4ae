"""Seed -> latent -> video: the one home of how generator inputs are drawn.

The TensorBoard sample grid (`summaries`), the
sampling CLI (`sample`), the SavedModel (`export`) and evaluation
(`evaluation.tasks`) all draw z, run the generator and convert pixels here,
as BigGAN-PyTorch's single `prepare_z_y` / `sample` serve its training,
sampling and metrics.

Latents (every draw is stateless Philox, so a seed reproduces its z on any
device, in any batch):

  | function             | z                                  | used by     |
  | -------------------- | ---------------------------------- | ----------- |
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
classes. Pixels are converted with `util.pixels` (the one uint8 <-> float
pair).

DVD-GAN-FP generators (``num_conditioning_frames`` C > 0) take real
context frames besides z: `inference_fn` passes them through, and
`generate_batches` / `generate_videos` take uint8 [M, C, H, W, 3]
`context` and return the **whole clip**, the C given frames followed by
the T predicted ones, which is what every consumer (judge, FVD, the sample
writers) compares with real clips. `models.generator.clip_frames(generator)`
is C + T.
"""

from __future__ import annotations

import functools

import numpy as np
import tensorflow as tf
import tqdm

from dvdgan_tf.models import generator as generator_lib
from dvdgan_tf.util import pixels

# Standard deviations at which `tf.random.stateless_truncated_normal` cuts.
TRUNCATION_BOUND = 2.0


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


@functools.lru_cache(maxsize=8)
def inference_fn(generator):
    """The generator's traced inference call, cached per generator.

    Returns:
        ``f(z, labels=None, conditioning_frames=None) -> float32
        [B, T, H, W, 3]`` (FP: the T predicted frames; context frames
        float in [-1, 1]) running ``generator(..., training=False)`` as one
        `tf.function`
        (traced once per input signature), so periodic and batched sampling
        cost one graph execution per call, not an eager pass. The cache
        holds the last 8 generators (by identity).
    """

    def call(z, labels=None, context=None):
        video = generator_lib.whole_clip(
            generator, z, labels, context, training=False
        )
        return tf.cast(video, tf.float32)

    return tf.function(call, reduce_retracing=True)


def check_context(context, num_videos: int, count: int, resolution: int):
    """Validates uint8 [M, C, H, W, 3] context frames for a model.

    Args:
        context: the frames, or None.
        num_videos: M.
        count: the model's C (`num_conditioning_frames`; 0 = synthesis).
        resolution: the model's H = W.

    Returns:
        The frames as a uint8 array, or None for a synthesis generator.

    Raises:
        ValueError: frames given to a synthesis generator, missing for an FP
            one, or of the wrong shape or dtype (the message names the
            expected shape).
    """
    count = int(count)
    if not count:
        if context is not None:
            raise ValueError(
                "Conditioning frames were given but this generator is not a "
                "DVD-GAN-FP model (num_conditioning_frames=0)"
            )
        return None
    size = int(resolution)
    expected = (int(num_videos), count, size, size, 3)
    if context is None:
        raise ValueError(
            f"This DVD-GAN-FP generator continues {count} real frame(s): "
            f"pass context frames uint8 {list(expected)}"
        )
    context = np.asarray(context)
    if context.dtype != np.uint8 or context.shape != expected:
        raise ValueError(
            f"Expected context frames uint8 {list(expected)} (M clips x "
            f"C = {count} frames of {size}x{size} RGB); received "
            f"{context.dtype} {list(context.shape)}"
        )
    return context


# Border colour and width that mark context frames in FP outputs.
CONTEXT_MARK = (255, 32, 32)
CONTEXT_MARK_WIDTH = 1


def mark_context(clips, num_conditioning: int) -> np.ndarray:
    """Draws a red border on the first `num_conditioning` frames.

    Args:
        clips: uint8 [..., T, H, W, 3] (a copy is returned).
        num_conditioning: C, the real frames at the start of each clip.

    Returns:
        uint8, the same shape: real context frames framed in
        `CONTEXT_MARK`, so a viewer tells them from predicted ones.
    """
    clips = np.array(clips, np.uint8, copy=True)
    if num_conditioning <= 0:
        return clips
    w = CONTEXT_MARK_WIDTH
    marked = clips[..., :num_conditioning, :, :, :]
    colour = np.asarray(CONTEXT_MARK, np.uint8)
    marked[..., :w, :, :] = colour
    marked[..., -w:, :, :] = colour
    marked[..., :, :w, :] = colour
    marked[..., :, -w:, :] = colour
    clips[..., :num_conditioning, :, :, :] = marked
    return clips


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


def evaluation_latents(seed: int, indices, latent_dim: int, truncation=None):
    """z of clips `indices` of the set drawn with `seed`.

    None: the untruncated prior (`prior_latents`); a level t >= 0:
    t * TN(0, 1) cut at +-2 from the same (seed, i) keys (a truncation
    sweep compares the levels on the same clip indices).
    """
    if truncation is None:
        return prior_latents(seed, indices, latent_dim)
    return tf.stack(
        [
            tf.random.stateless_truncated_normal(
                [latent_dim], seed=[int(seed), int(i)]
            )
            for i in np.asarray(indices).reshape(-1)
        ]
    ) * float(truncation)


def generate_batches(
    generator,
    num_videos: int,
    seed: int,
    labels=None,
    batch_size: int = 16,
    progress: bool = False,
    context=None,
    truncation=None,
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
        context: DVD-GAN-FP only (required there): uint8
            [M, C, H, W, 3], the real frames each clip continues.
        truncation: None (the prior) or a level (`evaluation_latents`).

    Yields:
        (uint8 [b, C + T, H, W, 3] clips, int32 [b] labels or None); C = 0
        for synthesis, else the given frames come first.
    """
    labels = spread_labels(generator.num_classes, num_videos, labels)
    context = check_context(
        context,
        num_videos,
        generator_lib.num_conditioning_frames(generator),
        generator.resolution,
    )
    sample = inference_fn(generator)
    with tqdm.tqdm(
        total=num_videos, unit="clip", disable=not progress, desc="generating"
    ) as bar:
        for start in range(0, num_videos, batch_size):
            indices = np.arange(start, min(start + batch_size, num_videos))
            z = evaluation_latents(
                seed, indices, generator.latent_dim, truncation
            )
            batch_labels = None if labels is None else labels[indices]
            label_tensor = (
                None if batch_labels is None else tf.constant(batch_labels)
            )
            batch_context = (
                None
                if context is None
                else tf.constant(pixels.from_uint8(context[indices]))
            )
            # FP: the context frames survive the uint8 -> float -> uint8
            # round trip exactly (util.pixels).
            clips = pixels.to_uint8(sample(z, label_tensor, batch_context))
            bar.update(len(indices))
            yield clips, batch_labels


def generate_videos(
    generator,
    num_videos: int,
    seed: int,
    labels=None,
    batch_size: int = 16,
    progress: bool = False,
    context=None,
    truncation=None,
):
    """`generate_batches`, concatenated.

    Returns:
        (uint8 [M, C + T, H, W, 3] clips, int32 [M] labels or None).
    """
    batches = list(
        generate_batches(
            generator,
            num_videos,
            seed,
            labels,
            batch_size,
            progress,
            context,
            truncation,
        )
    )
    videos = np.concatenate([video for video, _ in batches])
    if batches[0][1] is None:
        return videos, None
    return videos, np.concatenate([batch for _, batch in batches])
