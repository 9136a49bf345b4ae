"""TensorBoard summaries and console progress for training.

Written under ``model_dir/train``:

* scalars: every loss/score the train step reports (``losses/...``,
  ``scores/...``), learning rates, ``perf/steps_per_second`` and
  ``perf/examples_per_second``;
* ``samples/ema_generator``: an animated GIF of EMA-generator samples, one
  row per class (at most `MAX_SAMPLE_ROWS`), one column per fixed latent
  vector, so the same z can be followed across classes and across training;
  for DVD-GAN-FP, one row per fixed real clip (its class, if any): the
  columns continue its context frames (marked by a red border) with the
  fixed latents, and the last column is the real continuation;
* ``config/operative_gin``: the operative gin config as text.

GIFs use the TF2 image-plugin tensor layout ``[width, height, encoded_image]``
written with `tf.summary.write` and the image plugin's metadata
(docs/DESIGN.md K15): `tf.summary.image` can only write PNG stills.
TensorBoard serves such blobs with the image/gif content type, so they
animate in the browser.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import tensorflow as tf
from absl import logging
from tensorboard.plugins.image import metadata as image_metadata

from dvdgan_tf import video_io
from dvdgan_tf.inference import generation
from dvdgan_tf.util import pixels

MAX_SAMPLE_ROWS = 12
# DVD-GAN-FP: fixed real clips in the training-time sample GIF.
MAX_PREDICTION_ROWS = 6


def write_scalars(logs: Mapping[str, float], step: int) -> None:
    """Writes each value as a scalar under its own tag (default writer)."""
    for tag, value in logs.items():
        tf.summary.scalar(tag, float(value), step=step)


def format_progress(
    step: int,
    total_steps: int,
    logs: Mapping[str, float],
    steps_per_second: float,
    examples_per_second: float,
) -> str:
    """One console line: step, losses, speed."""
    values = " ".join(
        f"{tag.split('/')[-1]}={value:.4g}"
        for tag, value in sorted(logs.items())
        if tag.startswith("losses/")
    )
    return (
        f"step {step}/{total_steps} {values} "
        f"| {steps_per_second:.3g} steps/s, {examples_per_second:.3g} "
        "examples/s"
    )


def make_video_grid(videos: np.ndarray, rows: int, pad: int = 1) -> np.ndarray:
    """Tiles videos into one video, row-major, with black padding.

    Args:
        videos: float [rows * columns, T, H, W, 3] in [-1, 1], or uint8.
        rows: number of grid rows; must divide the number of videos.
        pad: pixels between tiles.

    Returns:
        uint8 [T, rows * (H + pad) - pad, columns * (W + pad) - pad, 3].

    Raises:
        ValueError: on a bad shape or a row count that does not divide the
            number of videos.
    """
    videos = np.asarray(videos)
    if videos.ndim != 5 or videos.shape[-1] != 3:
        raise ValueError(
            "Expected videos of shape [N, T, H, W, 3]; received shape "
            f"{videos.shape}."
        )
    count, frames = videos.shape[:2]
    if rows <= 0 or count % rows:
        raise ValueError(
            f"Expected `rows` to divide the {count} videos; received: "
            f"rows={rows}."
        )
    if videos.dtype != np.uint8:
        videos = pixels.to_uint8(videos)
    tiles = videos.reshape((rows, count // rows) + videos.shape[1:])
    return np.stack(
        [video_io.tile_grid(tiles[:, :, t], pad) for t in range(frames)]
    )


def write_gif(
    tag: str,
    frames: np.ndarray,
    step: int,
    fps: float = 8.0,
    description: str = "",
) -> bytes:
    """Writes an animated GIF image summary (TF2 image-plugin layout).

    Args:
        tag: summary tag.
        frames: uint8 [T, H, W, 3].
        step: global step.
        fps: playback rate.
        description: markdown shown in TensorBoard.

    Returns:
        The encoded GIF bytes.
    """
    gif = video_io.encode_gif(frames, fps=fps)
    height, width = frames.shape[1], frames.shape[2]
    tensor = tf.constant([str(width), str(height), gif], dtype=tf.string)
    metadata = image_metadata.create_summary_metadata(
        display_name=tag, description=description
    )
    tf.summary.write(tag, tensor, step=step, metadata=metadata)
    return gif


def write_text(tag: str, text: str, step: int) -> None:
    """Writes text (rendered as markdown: wrap code in a fenced block)."""
    tf.summary.text(tag, text, step=step)


def write_gin_config(config_text: str, step: int) -> None:
    """Writes the operative gin config as a preformatted text summary."""
    indented = "\n".join("    " + line for line in config_text.splitlines())
    write_text("config/operative_gin", indented, step)


class SampleGrid:
    """Fixed generator inputs for the periodic sample GIF.

    Rows are classes ``0 .. min(N, MAX_SAMPLE_ROWS) - 1`` (one row when the
    model is unconditional); columns are `columns` latent vectors drawn once
    from `seed`, shared by every row and every summary step.

    Args:
        num_classes: N (0 = unconditional).
        latent_dim: Z.
        columns: latent vectors per row.
        seed: integer seed of the fixed latents (column c has
            `inference.generation.prior_latents(seed, [c], Z)`).
        real_clips: DVD-GAN-FP only: uint8 [R, C + T, H, W, 3] fixed real
            clips, one row each (their first C frames condition G).
        real_labels: int [R] classes of `real_clips` (class-conditional FP).
        num_conditioning_frames: C (with `real_clips`).
    """

    def __init__(
        self,
        num_classes: int,
        latent_dim: int,
        columns: int = 4,
        seed: int = 0,
        real_clips=None,
        real_labels=None,
        num_conditioning_frames: int = 0,
    ):
        if columns <= 0:
            raise ValueError(
                f"Expected a positive number of columns; received: "
                f"columns={columns}"
            )
        self.columns = columns
        self.conditional = num_classes > 0
        self.num_conditioning_frames = int(num_conditioning_frames)
        self.real_clips = None
        if real_clips is not None:
            self.real_clips = np.asarray(real_clips)[:MAX_SAMPLE_ROWS]
            self.rows = len(self.real_clips)
            row_labels = (
                np.asarray(real_labels)[: self.rows]
                if self.conditional
                else None
            )
        else:
            self.rows = max(1, min(num_classes, MAX_SAMPLE_ROWS))
            row_labels = np.arange(self.rows) if self.conditional else None
        latents = generation.prior_latents(seed, range(columns), latent_dim)
        self.z = np.tile(latents.numpy(), (self.rows, 1))
        self.labels = (
            None
            if row_labels is None
            else np.repeat(row_labels, columns).astype(np.int32)
        )

    def generate(self, generator) -> np.ndarray:
        """Runs `generator` in inference mode on the fixed inputs.

        Uses `inference.generation.inference_fn` (traced once per generator), so
        periodic samples cost one graph execution, not an eager pass.

        Returns:
            uint8 [rows * columns, T, H, W, 3]; for DVD-GAN-FP
            [rows * (columns + 1), C + T, H, W, 3]: per row the predictions,
            then the real clip, context frames marked.
        """
        labels = tf.constant(self.labels) if self.labels is not None else None
        sample = generation.inference_fn(generator)
        if self.real_clips is None:
            return pixels.to_uint8(sample(tf.constant(self.z), labels))
        context = np.repeat(
            self.real_clips[:, : self.num_conditioning_frames],
            self.columns,
            axis=0,
        )
        clips = pixels.to_uint8(
            sample(
                tf.constant(self.z),
                labels,
                tf.constant(pixels.from_uint8(context)),
            )
        )
        clips = clips.reshape((self.rows, self.columns) + clips.shape[1:])
        clips = np.concatenate([clips, self.real_clips[:, None]], axis=1)
        clips = clips.reshape((-1,) + clips.shape[2:])
        return generation.mark_context(clips, self.num_conditioning_frames)

    def write(
        self,
        generator,
        step: int,
        tag: str = "samples/ema_generator",
        fps: float = 8.0,
    ) -> None:
        """Generates the grid and writes it as a GIF summary."""
        grid = make_video_grid(self.generate(generator), rows=self.rows)
        if self.real_clips is None:
            description = (
                f"EMA generator at step {step}: rows are classes "
                f"0..{self.rows - 1}, columns are {self.columns} fixed z."
            )
        else:
            description = (
                f"EMA generator at step {step}: rows are fixed real clips; "
                f"their first {self.num_conditioning_frames} frame(s) (red "
                f"border) are continued with {self.columns} fixed z; the last "
                "column is the real continuation."
            )
        write_gif(tag, grid, step, fps=fps, description=description)
        logging.info("Wrote sample GIF %s at step %d.", tag, step)
