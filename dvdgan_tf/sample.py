"""Sampling CLI: videos from a trained generator as MP4, GIF and a PNG grid.

    python -m dvdgan_tf.sample --model_dir=runs/demo --num=4 \\
        --output=runs/demo/samples
    python -m dvdgan_tf.sample --saved_model=export/1000 --label=3,7 \\
        --label=playing_guitar --seed=42 --truncation=0.5 --output=samples
    python -m dvdgan_tf.sample --model_dir=runs/demo --interpolate=0,2 \\
        --steps=8 --output=samples

Sources: `--model_dir` restores the EMA generator of a training directory
(`checkpointing.load_generator`, latest checkpoint or `--step`);
`--saved_model` loads a model written by `tools/export_savedmodel.py` and
calls its `sample` signature. Both draw z with `generation.latents_from_seeds`
(truncated normal scaled by `--truncation`, one seed per video: `--seed`,
`--seed` + 1, ...), so the same flags give the same videos from either
source.

Labels (`--label`, repeatable, comma lists allowed): class indices or class
names. Default: spread evenly over the classes (`--num` <= N) or cycle
through all of them. Given labels are cycled up to `--num`.

Outputs in `--output`: `<index>_<class>_seed<seed>.mp4` (H.264) and `.gif`
per video, and `grid.png` (one row per video, one column per frame).

Class interpolation (`--interpolate=A,B --steps=S`, `--model_dir` only): one
z (from `--seed`), class embedding e = (1 - a) e(A) + a e(B) for S values of
a from 0 to 1. The `Generator` has no call argument for an embedding, so a
copy of it with an S-row class table holding the mixed embeddings is built
(`Generator.from_config` with num_classes = S, all other variables copied) and
called with labels 0..S-1; this uses only the generator's public
`class_embedding` layer and `get_config`. A SavedModel has no embedding
input, hence `--model_dir` only.

Playback rate: the training data's fps divided by its frame stride (metadata
of the model), unless `--fps` is given.

DVD-GAN-FP models (`--context=PATH`, required for them; `--conditioning`
is the same flag's old name): PATH is a
video file (its first C frames at the model's frame rate, centre-cropped and
resized to the model's size) or TFRecord shards (the first C frames of their
first clips, with their labels unless `--label` is given); see
`dvdgan_tf.inference.context_frames`. Video i continues context clip
i mod M. Each output is the whole clip, the C real frames (marked by a red
border) followed by the prediction.

    python -m dvdgan_tf.sample --model_dir=runs/fp --context=clip.mp4 \
        --num=4 --output=samples
    python -m dvdgan_tf.sample --model_dir=runs/fp --output=samples \
        --context='data/synthetic/test-00000-of-00004.tfrecord' --num=8
"""

from __future__ import annotations

import math
import os
import re
from typing import Sequence

import numpy as np
import tensorflow as tf
import tqdm
from absl import flags
from absl import logging

from dvdgan_tf import cli
from dvdgan_tf import video_io
from dvdgan_tf.inference import context_frames
from dvdgan_tf.inference import generation
from dvdgan_tf.inference import samplers
from dvdgan_tf.util import pixels

FORMATS = ("mp4", "gif", "png")
DEFAULT_NUM = 8


def resolve_labels(
    label_flags: Sequence[str], class_names: Sequence[str], num: int | None
) -> tuple[list[int] | None, int]:
    """The label of every video, and the number of videos.

    Args:
        label_flags: `--label` values (indices or names, comma lists allowed).
        class_names: the model's N class names (empty: unconditional).
        num: `--num`, or None (the number of labels given, else 8).

    Returns:
        (labels, num): `labels` is None for an unconditional model.

    Raises:
        ValueError: labels for an unconditional model, a bad label, num < 1.
    """
    tokens = [t.strip() for flag in label_flags for t in flag.split(",")]
    tokens = [t for t in tokens if t]
    if num is None:
        num = len(tokens) or DEFAULT_NUM
    if num < 1:
        raise ValueError(f"--num must be >= 1; received num={num}")
    num_classes = len(class_names)
    if not num_classes:
        if tokens:
            raise ValueError(
                f"The model is unconditional (num_classes=0); drop --label "
                f"(received {tokens})."
            )
        return None, num
    if tokens:
        given = [samplers.parse_label(t, class_names) for t in tokens]
        return [given[i % len(given)] for i in range(num)], num
    if num <= num_classes:
        return [i * num_classes // num for i in range(num)], num
    return [i % num_classes for i in range(num)], num


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "class"


def _check_formats(formats: Sequence[str]) -> list[str]:
    formats = [f.strip().lower() for f in formats if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(
            f"--formats must be a non-empty subset of {list(FORMATS)}; "
            f"received {formats}"
        )
    return formats


def _write_clips(
    output_dir: str, stems: Sequence[str], videos: np.ndarray, formats, fps
) -> list[str]:
    written = []
    if videos.dtype != np.uint8:
        videos = pixels.to_uint8(videos)
    for stem, video in zip(stems, videos):
        if "mp4" in formats:
            written.append(os.path.join(output_dir, f"{stem}.mp4"))
            video_io.write_video(written[-1], video, fps=fps)
        if "gif" in formats:
            written.append(os.path.join(output_dir, f"{stem}.gif"))
            video_io.write_gif(written[-1], video, fps=fps)
    return written


def write_samples(
    sampler,
    output_dir: str,
    labels: list[int] | None,
    num: int,
    seed: int = 0,
    truncation: float = 1.0,
    formats: Sequence[str] = FORMATS,
    fps: float | None = None,
    batch_size: int = 8,
    progress: bool = True,
    context: np.ndarray | None = None,
) -> list[str]:
    """Generates `num` videos and writes them; returns the written paths.

    Video i uses seed `seed + i` and label `labels[i]` (None: unconditional)
    and, for DVD-GAN-FP, continues `context[i % M]` (uint8
    [M, C, H, W, 3]); its context frames are marked in the outputs.

    Raises:
        ValueError: bad formats, batch size or truncation.
    """
    formats = _check_formats(formats)
    if batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1; received {batch_size}")
    if truncation < 0:
        raise ValueError(f"--truncation must be >= 0; received {truncation}")
    fps = fps or sampler.info.fps
    tf.io.gfile.makedirs(output_dir)
    seeds = seed + np.arange(num, dtype=np.int64)
    names = sampler.info.class_names
    stems = [
        f"{i:03d}_{_slug(names[labels[i]])}_seed{seeds[i]}"
        if labels is not None
        else f"{i:03d}_seed{seeds[i]}"
        for i in range(num)
    ]
    written, all_videos = [], []
    with tqdm.tqdm(
        total=num, unit="video", disable=not progress, desc="sampling"
    ) as bar:
        for start in range(0, num, batch_size):
            stop = min(start + batch_size, num)
            batch_labels = (
                None if labels is None else np.asarray(labels[start:stop])
            )
            extra = {}
            if context is not None:
                rows = np.arange(start, stop) % len(context)
                extra["context"] = context[rows]
            videos = sampler.generate(
                seeds[start:stop], batch_labels, truncation, **extra
            )
            videos = generation.mark_context(
                pixels.to_uint8(videos),
                sampler.info.num_conditioning_frames,
            )
            written += _write_clips(
                output_dir, stems[start:stop], videos, formats, fps
            )
            if "png" in formats:
                all_videos.append(videos)
            bar.update(stop - start)
    if "png" in formats:
        written.append(os.path.join(output_dir, "grid.png"))
        video_io.write_png_grid(written[-1], np.concatenate(all_videos))
    return written


def write_interpolation(
    sampler,
    output_dir: str,
    label_a: int,
    label_b: int,
    steps: int,
    seed: int = 0,
    truncation: float = 1.0,
    formats: Sequence[str] = FORMATS,
    fps: float | None = None,
) -> list[str]:
    """Writes a class interpolation (see module docstring); returns paths.

    Raises:
        ValueError: a sampler that cannot interpolate (SavedModel), or bad
            steps/formats.
    """
    formats = _check_formats(formats)
    if not hasattr(sampler, "interpolate"):
        raise ValueError(
            "--interpolate needs --model_dir: a SavedModel has no class "
            "embedding input to mix."
        )
    videos = sampler.interpolate(seed, label_a, label_b, steps, truncation)
    tf.io.gfile.makedirs(output_dir)
    names = sampler.info.class_names
    stem = (
        f"interpolation_{_slug(names[label_a])}_to_{_slug(names[label_b])}"
        f"_seed{seed}"
    )
    stems = [f"{stem}_step{k:02d}" for k in range(steps)]
    written = _write_clips(
        output_dir, stems, videos, formats, fps or sampler.info.fps
    )
    if "png" in formats:
        written.append(os.path.join(output_dir, f"{stem}.png"))
        video_io.write_png_grid(written[-1], pixels.to_uint8(videos))
    return written


def _define_flags() -> None:
    flags.DEFINE_string("saved_model", None, "Exported SavedModel version dir.")
    flags.DEFINE_string("model_dir", None, "Training dir (EMA generator).")
    flags.DEFINE_integer("step", None, "Checkpoint step (--model_dir); latest.")
    flags.DEFINE_multi_string(
        "label", [], "Class index or name; repeatable, comma lists allowed."
    )
    flags.DEFINE_integer("num", None, "Videos (default: #labels or 8).")
    flags.DEFINE_integer("seed", 0, "Seed of video 0; video i uses seed + i.")
    flags.DEFINE_float("truncation", 1.0, "z = truncation * TN(0,1) cut at 2.")
    flags.DEFINE_string("output", None, "Output directory.", required=True)
    flags.DEFINE_list("formats", list(FORMATS), "Subset of mp4,gif,png.")
    flags.DEFINE_float("fps", None, "Playback fps (default: from metadata).")
    flags.DEFINE_integer("batch_size", 8, "Videos per generator call.")
    flags.DEFINE_list(
        "interpolate", [], "A,B: interpolate the class embedding from A to B."
    )
    flags.DEFINE_integer("steps", 8, "Interpolation steps (--interpolate).")
    flags.DEFINE_string(
        "context",
        None,
        "DVD-GAN-FP: video file or TFRecord shard(s) whose first frames the "
        "model continues (alias: --conditioning).",
    )
    flags.DEFINE_alias("conditioning", "context")


def check_flags(f) -> None:
    """Rejects flag values that would silently give wrong videos.

    Raises:
        cli.UsageError: a non-finite or negative truncation, fps <= 0,
            num/steps/batch_size < 1, neither or both sources; the output
            directory is unusable.
    """
    if not math.isfinite(f.truncation) or f.truncation < 0:
        raise cli.UsageError(
            f"--truncation must be a finite number >= 0 (1 = the training "
            f"prior, 0 = the mean video); received {f.truncation}"
        )
    if f.fps is not None and (not math.isfinite(f.fps) or f.fps <= 0):
        raise cli.UsageError(
            f"--fps must be a positive frame rate; received {f.fps}"
        )
    for name in ("num", "steps", "batch_size"):
        value = getattr(f, name)
        if value is not None and value < 1:
            raise cli.UsageError(f"--{name} must be >= 1; received {value}")
    cli.check_output_dir(f.output, "--output")


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise cli.UsageError(f"Unexpected arguments: {argv[1:]}")
    check_flags(flags.FLAGS)
    _sample(flags.FLAGS)


def _sample(f) -> None:
    sampler = samplers.load_sampler(f.saved_model, f.model_dir, f.step)
    info = sampler.info
    if f.interpolate:
        if len(f.interpolate) != 2:
            raise ValueError(
                f"--interpolate takes two labels A,B; received {f.interpolate}"
            )
        label_a, label_b = (
            samplers.parse_label(token, info.class_names)
            for token in f.interpolate
        )
        written = write_interpolation(
            sampler,
            f.output,
            label_a,
            label_b,
            f.steps,
            f.seed,
            f.truncation,
            f.formats,
            f.fps,
        )
    else:
        context, labels_from_records = _context(f, info)
        label_flags = f.label
        if not label_flags and labels_from_records is not None:
            label_flags = [str(label) for label in labels_from_records]
        default_num = f.num
        if default_num is None and context is not None:
            default_num = len(context)
        labels, num = resolve_labels(label_flags, info.class_names, default_num)
        written = write_samples(
            sampler,
            f.output,
            labels,
            num,
            f.seed,
            f.truncation,
            f.formats,
            f.fps,
            f.batch_size,
            context=context,
        )
    logging.info(
        "Step %d: wrote %d files to %s", info.step, len(written), f.output
    )
    for path in written:
        logging.info("  %s", path)


def _context(f, info):
    """(uint8 [M, C, H, W, 3] or None, int32 [M] record labels or None)."""
    count = info.num_conditioning_frames
    if not count:
        if f.context:
            raise cli.UsageError(
                "--context (--conditioning) is for DVD-GAN-FP models; this "
                "model "
                "generates from noise alone (num_conditioning_frames=0)"
            )
        return None, None
    if not f.context:
        raise cli.UsageError(
            f"This DVD-GAN-FP model continues {count} real frame(s): pass "
            "--context=VIDEO_FILE or --context=SHARD.tfrecord (alias "
            "--conditioning)"
        )
    frames, labels = context_frames.load_context(
        f.context,
        count,
        info.resolution,
        info.frame_stride,
        info.fps,
        f.num or DEFAULT_NUM,
        class_names=info.class_names,
    )
    if not info.num_classes:
        labels = None
    return frames, labels


def console_main() -> None:
    """Entry point of the `dvdgan-sample` command (setup.cfg)."""
    _define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
