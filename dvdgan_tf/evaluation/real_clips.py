"""Real clips for the real side of a metric, as uint8 batches.

Two sources:

* TFRecords (`file_pattern`): `pipeline.make_dataset` in eval mode (centred
  window and crop, file order, no repeat), at the model's resolution and
  frame stride.
* The synthetic dataset, when no pattern is given: `synthetic.render_clip`
  with a fixed seed (`REAL_SEED`), the same distribution the dataset's files
  are drawn from, rendered a batch at a time.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
import tqdm

from dvdgan_tf.data import manifest as manifest_lib
from dvdgan_tf.data import pipeline
from dvdgan_tf.data import synthetic
from dvdgan_tf.util import errors
from dvdgan_tf.util import pixels

SYNTHETIC = "synthetic"
# Seed of the real synthetic clips; far from the judge's training (0) and
# control (1) seeds, so the judge never saw them.
REAL_SEED = 1_000_003


def is_synthetic(dataset) -> bool:
    """Whether a metadata `dataset` name is the built-in synthetic set.

    Converted data is named "<name>-s<size>-<fps>fps-q<quality>"
    (`data.convert.dataset_name`), e.g. "synthetic-s64-25fps-q90".
    """
    return str(dataset).split("-", 1)[0] == SYNTHETIC


def _synthetic_batches(
    num_clips, num_frames, stride, resolution, seed, batch_size
):
    # The clips of synthetic.generate_clips(num_clips, ..., seed), rendered
    # a batch at a time.
    span = (num_frames - 1) * stride + 1
    labels = synthetic.balanced_labels(num_clips, seed)
    for start in range(0, num_clips, batch_size):
        indices = range(start, min(start + batch_size, num_clips))
        videos = np.stack(
            [
                synthetic.render_clip(seed, i, int(labels[i]), span, resolution)
                for i in indices
            ]
        )
        yield videos[:, ::stride], labels[start : start + len(indices)]


def _naming_corrupt_shards(records, file_pattern):
    """Iterates `records`; a checksum failure names the damaged shard(s)."""
    iterator = iter(records)
    while True:
        try:
            element = next(iterator)
        except StopIteration:
            return
        except tf.errors.DataLossError as error:
            corrupt = manifest_lib.find_corrupt_shards(
                sorted(tf.io.gfile.glob(file_pattern))
            )
            where = f"corrupt shard(s) {corrupt}" if corrupt else "a record"
            raise ValueError(
                f"The real clips {file_pattern!r} have {where} "
                f"({errors.describe(error)}). Restore or re-convert them; "
                "the results of this checkpoint were not written."
            ) from None
        yield element


def _record_batches(
    num_clips,
    num_frames,
    frame_stride,
    resolution,
    file_pattern,
    seed,
    batch_size,
    skip_short=False,
    skip=0,
):
    records = pipeline.read_clips(
        file_pattern,
        num_frames,
        frame_stride,
        resolution,
        seed,
        short_clip_policy="skip" if skip_short else "loop",
    )
    if skip:
        records = records.skip(skip)
    videos, labels, count = [], [], 0
    for element in _naming_corrupt_shards(records, file_pattern):
        videos.append(pixels.to_uint8(element["video"]))
        labels.append(element["label"].numpy())
        count += 1
        if len(videos) == batch_size or count == num_clips:
            yield (
                np.concatenate(videos),
                np.concatenate(labels).astype(np.int32),
            )
            videos, labels = [], []
        if count == num_clips:
            return
    if num_clips is None:  # the whole split
        if videos:
            yield (
                np.concatenate(videos),
                np.concatenate(labels).astype(np.int32),
            )
        return
    skipped = (
        f" long enough for {num_frames} frames at stride {frame_stride} "
        "(DVD-GAN-FP skips shorter clips instead of looping them)"
        if skip_short
        else ""
    )
    raise ValueError(
        f"Too few real clips for the protocol: {file_pattern!r} holds "
        f"{count} clips{skipped}, the protocol needs {num_clips}. Lower the "
        "protocol's N (and say so) or use a larger split."
    )


def real_clip_batches(
    num_clips: int,
    num_frames: int,
    frame_stride: int,
    resolution: int,
    dataset: str,
    file_pattern: str = "",
    seed: int = REAL_SEED,
    batch_size: int = 16,
    progress: bool = False,
    skip_short: bool = False,
    skip: int = 0,
):
    """Real clips for the real side of a metric, as uint8 batches.

    Args:
        num_clips: clips needed; None: every clip of `file_pattern` (the
            whole split, in file order).
        num_frames: T.
        frame_stride: step between stored frames of a clip.
        resolution: H = W (centre crop after a short-side resize).
        dataset: the model's dataset name (metadata).
        file_pattern: TFRecord glob; empty for the synthetic generator.
        seed: clip seed of the synthetic generator.
        batch_size: clips per yielded batch.
        progress: show a tqdm bar.
        skip_short: drop (instead of looping) stored clips shorter than the
            window (DVD-GAN-FP: a looped clip continues into its start).
        skip: clips of `file_pattern` to pass over first (a resumed whole
            split; they are still decoded, not classified).

    Yields:
        (uint8 [b, T, H, W, 3], int32 [b]), `num_clips` clips in all.

    Raises:
        ValueError: no source for a non-synthetic dataset, or the records
            hold fewer than `num_clips` clips (raised when they run out).
    """
    if file_pattern:
        batches = _record_batches(
            num_clips,
            num_frames,
            frame_stride,
            resolution,
            file_pattern,
            seed,
            batch_size,
            skip_short,
            skip,
        )
    elif num_clips is None:
        raise ValueError(
            "Whole-split real statistics read a converted split: pass "
            "--real_file_pattern (the rendered synthetic clips have no "
            "split)."
        )
    elif is_synthetic(dataset):
        batches = _synthetic_batches(
            num_clips, num_frames, frame_stride, resolution, seed, batch_size
        )
    else:
        raise ValueError(
            f"Real clips of dataset {dataset!r} come from its TFRecords: "
            "pass --real_file_pattern (e.g. 'data/<dataset>/"
            "train-*.tfrecord'). Only the synthetic dataset can be "
            "regenerated in memory."
        )
    with tqdm.tqdm(
        total=num_clips, unit="clip", disable=not progress, desc="real clips"
    ) as bar:
        for videos, labels in batches:
            bar.update(len(videos))
            yield videos, labels


def load_real_clips(
    num_clips: int,
    num_frames: int,
    frame_stride: int,
    resolution: int,
    dataset: str,
    file_pattern: str = "",
    seed: int = REAL_SEED,
    progress: bool = False,
    skip_short: bool = False,
):
    """`real_clip_batches`, concatenated.

    Returns:
        (uint8 [num_clips, T, H, W, 3], int32 [num_clips]).
    """
    batches = list(
        real_clip_batches(
            num_clips,
            num_frames,
            frame_stride,
            resolution,
            dataset,
            file_pattern,
            seed,
            progress=progress,
            skip_short=skip_short,
        )
    )
    return (
        np.concatenate([videos for videos, _ in batches]),
        np.concatenate([labels for _, labels in batches]),
    )
