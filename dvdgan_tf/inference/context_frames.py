"""Real context frames for DVD-GAN-FP, from a video file or TFRecords.

    frames, labels = load_context(path, num_frames=C, resolution=64,
                                       frame_stride=1, fps=25.0, count=4)

* A **video file** (any suffix of `data.sources.VIDEO_SUFFIXES`) is decoded
  with `video_io.read_video`; its first C frames *at the model's frame
  rate* are kept (frame i is the source frame nearest to i / fps seconds,
  so a 30 fps file feeds a 25 fps / stride 2 model every 2.4th frame), the
  largest centred square is cropped and resized to the model's size: the
  evaluation-mode pipeline's crop and resize. One clip; labels None.
* A **TFRecord shard or glob** (`.tfrecord`, or a pattern that matches
  shards) is read with `data.pipeline.make_dataset` in evaluation mode (the
  first C frames of each clip at the model's stride, centred crop): the
  first `count` clips and their labels, in file order.

Errors name the file and what was expected: a video shorter than C frames
at the model's rate, no clip in the shards, an unreadable file.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf

from dvdgan_tf import video_io
from dvdgan_tf.data import manifest as manifest_lib
from dvdgan_tf.data import pipeline
from dvdgan_tf.data import processors
from dvdgan_tf.data import sources
from dvdgan_tf.util import pixels


def is_video_file(path: str) -> bool:
    return os.path.splitext(path)[1].lower() in sources.VIDEO_SUFFIXES


def frames_from_video(
    path: str, num_frames: int, resolution: int, fps: float
) -> np.ndarray:
    """The first `num_frames` frames of a video file at `fps`, resized.

    Returns:
        uint8 [1, C, resolution, resolution, 3].

    Raises:
        FileNotFoundError, video_io.VideoDecodeError: unreadable file.
        ValueError: the video is shorter than C frames at `fps`.
    """
    frames, source_fps = video_io.read_video(path)
    step = source_fps / fps if fps > 0 else 1.0
    indices = np.round(np.arange(num_frames) * step).astype(int)
    if indices[-1] >= len(frames):
        raise ValueError(
            f"{path}: {len(frames)} frame(s) at {source_fps:g} fps; the model "
            f"continues {num_frames} frame(s) at {fps:g} fps, which needs "
            f"{indices[-1] + 1} source frames. Use a longer video."
        )
    clip = tf.constant(frames[indices])
    square = processors.crop_square(clip, is_training=False, seed=None)
    if square.shape[1] != resolution:
        square = processors.resize_square(square, resolution)
    square = tf.clip_by_value(tf.round(tf.cast(square, tf.float32)), 0, 255)
    return tf.cast(square, tf.uint8).numpy()[None]


def clips_from_records(
    file_pattern: str,
    num_frames: int,
    resolution: int,
    frame_stride: int,
    count: int,
) -> tuple[np.ndarray, np.ndarray]:
    """The first C frames of the first `count` clips of TFRecord shards.

    Returns:
        (uint8 [M, C, R, R, 3], int32 [M] labels), M = min(count, clips).

    Raises:
        ValueError: no shard matches, or the shards hold no clip.
    """
    # Context of fewer stored frames than C: skipped, never looped.
    dataset = pipeline.read_clips(
        file_pattern,
        num_frames,
        frame_stride,
        resolution,
        short_clip_policy="skip",
    )
    videos, labels = [], []
    for batch in dataset.take(count):
        videos.append(batch["video"].numpy())
        labels.append(batch["label"].numpy())
    if not videos:
        raise ValueError(f"{file_pattern}: the TFRecord shards hold no clip")
    video = np.concatenate(videos)
    return pixels.to_uint8(video), np.concatenate(labels).astype(np.int32)


def _check_classes(shards, class_names) -> None:
    """Refuses shards of a dataset whose classes are not the model's."""
    if not class_names:
        return
    data_dir = os.path.dirname(shards[0])
    if not tf.io.gfile.exists(
        os.path.join(data_dir, manifest_lib.MANIFEST_NAME)
    ):
        return
    theirs = tuple(manifest_lib.read_manifest(data_dir).class_names)
    if theirs and theirs != tuple(class_names):
        raise ValueError(
            f"The shards in {data_dir} are of a dataset with other classes "
            f"({len(theirs)}: {', '.join(theirs[:4])}, ...) than the model's "
            f"({len(class_names)}: {', '.join(class_names[:4])}, ...): their "
            "labels would name other classes here. Pass shards of the "
            "model's dataset, or a video file (no label)."
        )


def load_context(
    path: str,
    num_frames: int,
    resolution: int,
    frame_stride: int,
    fps: float,
    count: int,
    class_names=None,
) -> tuple[np.ndarray, np.ndarray | None]:
    """Conditioning clips from a video file or TFRecord shards.

    Args:
        path: a video file, a TFRecord shard or a glob of shards.
        num_frames: C.
        resolution: the model's H = W.
        frame_stride: the model's stride between stored frames (records).
        fps: the model's frame rate (stored fps / stride; video files).
        count: clips wanted (records; a video file gives one).
        class_names: the model's classes; shards whose dataset (the
            manifest.json beside them) has other classes are refused, since
            their labels would name other classes in this model.

    Returns:
        (uint8 [M, C, R, R, 3], int32 [M] labels or None for a video file).

    Raises:
        ValueError: an unknown kind of file, or too short / empty input.
    """
    if is_video_file(path):
        return frames_from_video(path, num_frames, resolution, fps), None
    shards = tf.io.gfile.glob(path)
    if shards and all(".tfrecord" in os.path.basename(s) for s in shards):
        _check_classes(shards, class_names)
        return clips_from_records(
            path, num_frames, resolution, frame_stride, count
        )
    raise ValueError(
        f"--context={path}: expected a video file (one of "
        f"{', '.join(sources.VIDEO_SUFFIXES[:6])}, ...) or TFRecord shards "
        "(a .tfrecord file or a glob matching some)"
    )
