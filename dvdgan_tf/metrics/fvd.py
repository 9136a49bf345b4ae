"""Frechet Video Distance (FVD) by the reference protocol.

Reference: Unterthiner et al., "Towards Accurate Generative Models of Video:
A New Metric & Challenges" (arXiv 1812.01717), code in
google-research/google-research `frechet_video_distance/`. The protocol
(docs/DESIGN.md M1):

1. Videos are uint8 [N, T, H, W, 3] clips, T >= 9 (I3D reduces time 8x
   before a (2, 7, 7) VALID pool).
2. Time is folded into the batch and every frame is resized bilinearly
   straight to 224x224 with the **TF1 legacy pixel mapping**
   (`align_corners=False, half_pixel_centers=False`, no antialias, aspect
   ratio not kept, no crop): `tf.compat.v1.image.resize_bilinear`, which is
   what the reference code calls. TF2's `tf.image.resize` uses half-pixel
   centres and gives different pixels (and FVDs); it is not used.
3. Values are mapped to [-1, 1] with `2 * x / 255 - 1`, after the resize (as
   in the reference; resizing commutes with the affine map up to float
   round-off).
4. The embedding is the Kinetics-400 I3D's 400 pre-softmax logits averaged
   over the remaining time steps (`dvdgan_tf.metrics.i3d`), cast to float64.
5. FVD is the Frechet distance between Gaussians fitted to the real and the
   generated embeddings (`dvdgan_tf.metrics.frechet`: float64, unbiased
   1/(N-1) covariance, as the reference's TF-GAN call).

FVD is biased upward at small N and only comparable at equal N, clip length
and frame stride, so every number carries its protocol's name:
`FVDProtocol(2048, 16, 1).name == "fvd2048_16f"` (the default),
`FVDProtocol(256, 12, 2).name == "fvd256_12f_s2"`. The protocol does not
sample clips; the caller draws one clip of `num_frames` frames, taken every
`stride` source frames, per real video (training split, fixed seed; see
docs/DESIGN.md M1) and passes exactly `num_videos` real and generated clips.
"""

from __future__ import annotations

import dataclasses
import functools
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dvdgan_tf.metrics import frechet
from dvdgan_tf.metrics import i3d

DEFAULT_BATCH_SIZE = 8


@dataclasses.dataclass(frozen=True)
class FVDProtocol:
    """The sample count and clip shape an FVD number is computed at.

    Attributes:
        num_videos: clips per side (real and generated), e.g. 2048.
        num_frames: frames per clip, T >= 9.
        stride: step between the source frames of a clip (1 = consecutive).
    """

    num_videos: int = 2048
    num_frames: int = 16
    stride: int = 1

    def __post_init__(self):
        if self.num_videos < 2:
            raise ValueError(
                "Expected `num_videos` >= 2 (a covariance needs two "
                f"samples); received: num_videos={self.num_videos}"
            )
        if self.num_frames < i3d.MIN_FRAMES:
            raise ValueError(
                f"Expected `num_frames` >= {i3d.MIN_FRAMES}: I3D reduces "
                "time 8x before a (2, 7, 7) VALID pool; received: "
                f"num_frames={self.num_frames}"
            )
        if self.stride < 1:
            raise ValueError(
                f"Expected `stride` >= 1; received: stride={self.stride}"
            )

    @property
    def name(self) -> str:
        """Metric name, e.g. "fvd2048_16f" or "fvd256_12f_s2"."""
        suffix = f"_s{self.stride}" if self.stride != 1 else ""
        return f"fvd{self.num_videos}_{self.num_frames}f{suffix}"

    @property
    def clip_span(self) -> int:
        """Source frames one clip covers: (num_frames - 1) * stride + 1."""
        return (self.num_frames - 1) * self.stride + 1


def _check_videos(videos, what: str = "videos"):
    videos = (
        videos.numpy()
        if isinstance(videos, tf.Tensor)
        else (np.asarray(videos))
    )
    shape = tuple(videos.shape)
    if len(shape) != 5 or shape[-1] != 3:
        raise ValueError(
            f"Expected `{what}` of shape [N, T, H, W, 3]; received: "
            f"shape={shape}"
        )
    if videos.dtype != np.uint8:
        raise ValueError(
            f"Expected `{what}` as uint8 in [0, 255] (FVD maps 0..255 to "
            f"[-1, 1] itself; convert model outputs with "
            f"pixels.to_uint8); received: dtype={videos.dtype}"
        )
    if shape[1] < i3d.MIN_FRAMES:
        raise ValueError(
            f"Expected `{what}` with at least {i3d.MIN_FRAMES} frames: I3D "
            "reduces time 8x before a (2, 7, 7) VALID pool; received: "
            f"T={shape[1]} (shape={shape})"
        )
    if shape[0] < 1 or shape[2] < 1 or shape[3] < 1:
        raise ValueError(
            f"Expected non-empty `{what}`; received: shape={shape}"
        )
    return videos


def resize_frames_legacy(frames, size: int = i3d.INPUT_SIZE) -> tf.Tensor:
    """Bilinear resize with TF1's legacy pixel mapping (FVD's resize).

    Output pixel i samples input coordinate i * in_size / out_size
    (`align_corners=False, half_pixel_centers=False`; the same kernel as
    `tf.compat.v1.image.resize_bilinear`, which the reference FVD code
    calls), unlike TF2's `tf.image.resize`, which samples
    (i + 0.5) * in_size / out_size - 0.5.

    Args:
        frames: uint8 or float [M, H, W, C].
        size: output height and width.

    Returns:
        float32 [M, size, size, C], in the input's value range.
    """
    # The op behind `tf.compat.v1.image.resize_bilinear`, called directly to
    # avoid its deprecation warning; it accepts uint8 and returns float32.
    return tf.raw_ops.ResizeBilinear(
        images=frames,
        size=(size, size),
        align_corners=False,
        half_pixel_centers=False,
    )


def preprocess(videos) -> tf.Tensor:
    """FVD's I3D input: legacy bilinear resize to 224x224, then [-1, 1].

    Args:
        videos: uint8 [N, T, H, W, 3] in [0, 255], T >= 9.

    Returns:
        float32 [N, T, 224, 224, 3] in [-1, 1].

    Raises:
        ValueError: on another rank, channel count or dtype, or T < 9.
    """
    videos = _check_videos(videos)
    return _preprocess(tf.convert_to_tensor(videos))


def _preprocess(videos: tf.Tensor) -> tf.Tensor:
    shape = tf.shape(videos)
    frames = tf.reshape(videos, tf.concat([[-1], shape[2:]], axis=0))
    frames = resize_frames_legacy(frames)
    frames = 2.0 * tf.cast(frames, tf.float32) / 255.0 - 1.0
    return tf.reshape(
        frames, [shape[0], shape[1], i3d.INPUT_SIZE, i3d.INPUT_SIZE, 3]
    )


@functools.lru_cache(maxsize=4)
def _embedding_fn(model: keras.Model):
    # One compiled graph per model for any batch size, length and frame size.
    @tf.function(
        input_signature=[tf.TensorSpec([None, None, None, None, 3], tf.uint8)]
    )
    def embed(videos):
        return model(_preprocess(videos), training=False)

    return embed


def i3d_logits(
    videos,
    model: keras.Model | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> np.ndarray:
    """FVD embeddings: I3D logits averaged over time, by the FVD protocol.

    Args:
        videos: uint8 [N, T, H, W, 3] in [0, 255], T >= 9 (NumPy array or
            tensor). Any H, W: frames are resized to 224x224.
        model: an I3D from `i3d.load_i3d`/`i3d.build_i3d`; None means
            `i3d.load_i3d()` (the Kinetics-400 weights, loaded once).
        batch_size: videos per I3D call (memory: roughly 0.1-0.2 GB of
            activations per 16-frame video).

    Returns:
        float64 [N, 400] logits.

    Raises:
        ValueError: on bad `videos` (see `preprocess`) or `batch_size` < 1.
    """
    if batch_size < 1:
        raise ValueError(
            f"Expected `batch_size` >= 1; received: batch_size={batch_size}"
        )
    videos = _check_videos(videos)
    batches = (
        videos[start : start + batch_size]
        for start in range(0, videos.shape[0], batch_size)
    )
    return i3d_logits_from_batches(batches, model)


def i3d_logits_from_batches(
    batches, model: keras.Model | None = None
) -> np.ndarray:
    """`i3d_logits` over an iterable of batches, for sets too big for memory.

    Generated videos can be produced batch by batch (2048 clips of 16
    frames at 256x256 are 6.4 GB of uint8) and embedded as they come.

    Args:
        batches: iterable of uint8 [b, T, H, W, 3] arrays or tensors, T >= 9;
            b, H and W may vary between batches.
        model: see `i3d_logits`.

    Returns:
        float64 [sum of b, 400] logits, in iteration order.

    Raises:
        ValueError: on a bad batch (see `preprocess`; the message names the
            batch index), batches of different lengths T, or no batches.
    """
    model = model if model is not None else i3d.load_i3d()
    embed = _embedding_fn(model)
    start_time = time.time()
    outputs = []
    num_frames = None
    for index, batch in enumerate(batches):
        batch = _check_videos(batch, f"batches[{index}]")
        if num_frames is not None and batch.shape[1] != num_frames:
            # Embeddings of different clip lengths are not comparable.
            raise ValueError(
                f"Expected every batch to have T={num_frames} frames (as "
                f"batches[0]); received: T={batch.shape[1]} in "
                f"batches[{index}] (shape={tuple(batch.shape)})"
            )
        num_frames = batch.shape[1]
        outputs.append(embed(tf.convert_to_tensor(batch)).numpy())
    if not outputs:
        raise ValueError(
            "Expected at least one batch of videos; received an empty iterable."
        )
    logits = np.concatenate(outputs, axis=0).astype(np.float64)
    elapsed = time.time() - start_time
    logging.info(
        "I3D logits of %d videos in %.1f s (%.2f videos/s).",
        logits.shape[0],
        elapsed,
        logits.shape[0] / max(elapsed, 1e-9),
    )
    return logits


def _check_protocol_shape(videos, protocol: FVDProtocol, what: str):
    videos = _check_videos(videos, what)
    num_videos, num_frames = int(videos.shape[0]), int(videos.shape[1])
    if (num_videos, num_frames) != (protocol.num_videos, protocol.num_frames):
        raise ValueError(
            f"Protocol {protocol.name} needs {protocol.num_videos} {what} "
            f"clips of {protocol.num_frames} frames; received: "
            f"{num_videos} clips of {num_frames} frames (shape="
            f"{tuple(videos.shape)}). FVD is only comparable at equal N and "
            "length: pass exactly that many, or use FVDProtocol("
            f"num_videos={num_videos}, num_frames={num_frames}, ...)."
        )
    return videos


def fvd_from_logits(real_logits, fake_logits) -> float:
    """FVD from precomputed embeddings (e.g. real logits cached once).

    Args:
        real_logits: float [N1, 400] from `i3d_logits`.
        fake_logits: float [N2, 400] from `i3d_logits`.

    Returns:
        The Frechet distance between the fitted Gaussians.
    """
    mu_real, sigma_real = frechet.gaussian_statistics(real_logits)
    mu_fake, sigma_fake = frechet.gaussian_statistics(fake_logits)
    return frechet.frechet_distance(mu_real, sigma_real, mu_fake, sigma_fake)


def compute_fvd(
    real_videos,
    fake_videos,
    protocol: FVDProtocol,
    model: keras.Model | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> float:
    """FVD between real and generated clips under `protocol`.

    Args:
        real_videos: uint8 [protocol.num_videos, protocol.num_frames, H, W, 3]
            real clips (one per video, sampled every `protocol.stride`
            frames).
        fake_videos: uint8, same shape as the protocol requires (H, W may
            differ from the real clips': both are resized to 224x224).
        protocol: the `FVDProtocol`; report the result under
            `protocol.name`.
        model: see `i3d_logits`.
        batch_size: see `i3d_logits`.

    Returns:
        FVD as a Python float.

    Raises:
        ValueError: if either set does not match the protocol's N and T, or
            is not uint8 [N, T, H, W, 3].
    """
    real_videos = _check_protocol_shape(real_videos, protocol, "real")
    fake_videos = _check_protocol_shape(fake_videos, protocol, "generated")
    real_logits = i3d_logits(real_videos, model, batch_size)
    fake_logits = i3d_logits(fake_videos, model, batch_size)
    value = fvd_from_logits(real_logits, fake_logits)
    logging.info("%s = %.3f", protocol.name, value)
    return value
