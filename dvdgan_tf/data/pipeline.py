"""tf.data input pipeline over the per-frame-JPEG SequenceExample shards.

`make_dataset` is what training and evaluation call, per input pipeline,
through `strategy.distribute_datasets_from_function`:

  files matching `file_pattern` (sorted) -> this pipeline's shards
  (`files[input_pipeline_id::num_input_pipelines]`) -> [training: shuffle the
  file order, repeat] -> interleave TFRecord readers -> [training: shuffle
  records] -> parse (frames stay JPEG strings) -> choose T frame indices ->
  decode only those T JPEGs -> random (training) / centre (eval) square crop
  of side min(H, W) -> resize to `resolution` only if the stored size differs
  (same as resizing the short side first, cheaper; decided once from the
  first record, see `resize`) -> [optional flip] ->
  [-1, 1] -> batch(per-replica, drop_remainder) -> prefetch.

Choices not fixed by the DVD-GAN paper (which does not describe its input
pipeline) follow DeepMind's usual video recipe (DMVR, kinetics-i3d):
  * random temporal start in training, centred window in evaluation;
  * frame stride applied at read time (the records keep every frame);
  * short-side resize then square crop; no horizontal flip by default because
    some classes are direction-dependent (the synthetic set's left/right);
  * clips shorter than the window are read cyclically by default
    (`ShortClipPolicy.LOOP`), or dropped (`ShortClipPolicy.SKIP`).

Determinism: with `seed` set, file order, record shuffling, temporal starts,
crops and flips are all reproducible (stateless per-record seeds from
`tf.data.Dataset.random`); each input pipeline offsets the seed by its id.
"""

from __future__ import annotations

import functools
import io
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from dvdgan_tf.data import processors
from dvdgan_tf.data import records
from dvdgan_tf.data.processors import ShortClipPolicy

_FRAMES = "frames"
# Records hold whole clips (~0.1-1 MB); a read buffer of several records
# measured ~10% faster than TFRecordDataset's 256 KB default.
_READ_BUFFER_BYTES = 4 << 20
_LABEL = "label"


def _list_files(file_pattern: str | Sequence[str]) -> list[str]:
    patterns = (
        [file_pattern] if isinstance(file_pattern, str) else list(file_pattern)
    )
    if not patterns:
        raise ValueError("Expected a file pattern; received an empty list.")
    files = []
    for pattern in patterns:
        matched = tf.io.gfile.glob(pattern)
        if not matched:
            raise ValueError(
                f"No files match file_pattern={pattern!r}. Convert data with "
                "`tools/make_tfrecords.py` or fix the pattern (shards are "
                "named <output_dir>/<split>-NNNNN-of-MMMMM.tfrecord)."
            )
        files.extend(matched)
    return sorted(set(files))


def _stored_short_side(files: Sequence[str]) -> int | None:
    """Short side of the first frame of the first record (None if empty)."""
    for path in files:
        for serialized in tf.data.TFRecordDataset(path).take(1):
            example = tf.train.SequenceExample.FromString(serialized.numpy())
            frames = example.feature_lists.feature_list[records.IMAGE_KEY]
            if not frames.feature:
                return None
            # Pillow reads only the JPEG header here.
            width, height = Image.open(
                io.BytesIO(frames.feature[0].bytes_list.value[0])
            ).size
            return min(width, height)
    return None


def _check_labels(batch, num_classes: int, source) -> dict:
    """Fails on a label outside [0, num_classes), naming the data."""
    message = (
        f"A record of {source!r} has a label outside [0, {num_classes}) "
        "(the model's classes, from the data's manifest): the shards and "
        "the manifest disagree. Re-convert the dataset with "
        "tools/make_tfrecords.py. Labels of the batch:"
    )
    label = batch["label"]
    checks = [
        tf.debugging.assert_non_negative(label, message=message),
        tf.debugging.assert_less(label, num_classes, message=message),
    ]
    with tf.control_dependencies(checks):
        return {"video": batch["video"], "label": tf.identity(label)}


def _parse(serialized: tf.Tensor) -> dict[str, tf.Tensor]:
    context, sequence = tf.io.parse_single_sequence_example(
        serialized,
        context_features={
            records.LABEL_INDEX_KEY: tf.io.VarLenFeature(tf.int64)
        },
        sequence_features={
            records.IMAGE_KEY: tf.io.FixedLenSequenceFeature([], tf.string)
        },
    )
    labels = context[records.LABEL_INDEX_KEY].values
    encoded = sequence[records.IMAGE_KEY]
    checks = [
        tf.debugging.assert_positive(
            tf.size(labels),
            message=(
                f"A record lacks the key {records.LABEL_INDEX_KEY!r} (or it is "
                "empty): every clip needs a class index in its context."
            ),
        ),
        tf.debugging.assert_positive(
            tf.size(encoded),
            message=(
                f"A record has no frames under {records.IMAGE_KEY!r}: every "
                "clip needs at least one JPEG frame."
            ),
        ),
    ]
    with tf.control_dependencies(checks):
        return {
            _FRAMES: tf.identity(encoded),
            _LABEL: tf.cast(labels[0], tf.int32),
        }


def read_clips(
    file_pattern: str | Sequence[str],
    num_frames: int,
    frame_stride: int,
    resolution: int,
    seed: int | None = None,
    short_clip_policy: ShortClipPolicy | str = ShortClipPolicy.LOOP,
) -> tf.data.Dataset:
    """Evaluation reading: every clip once, in file order, batches of one.

    `make_dataset` in eval mode (centred crop, no flip, no repeat) with a
    batch of one, so no clip is dropped as a remainder; what the metrics'
    real side and DVD-GAN-FP's context frames read. DVD-GAN-FP readers pass
    ``short_clip_policy="skip"``: a looped clip would continue into its own
    first frames.

    Returns:
        A dataset of {"video": float32 [1, T, H, W, 3], "label": int32 [1]}.
    """
    return make_dataset(
        None,
        file_pattern=file_pattern,
        global_batch_size=1,
        num_frames=num_frames,
        frame_stride=frame_stride,
        resolution=resolution,
        is_training=False,
        seed=seed,
        repeat=False,
        short_clip_policy=short_clip_policy,
    )


def make_dataset(
    input_context: tf.distribute.InputContext | None,
    *,
    file_pattern: str | Sequence[str],
    global_batch_size: int,
    num_frames: int,
    frame_stride: int = 1,
    resolution: int,
    is_training: bool = True,
    seed: int | None = None,
    short_clip_policy: ShortClipPolicy | str = ShortClipPolicy.LOOP,
    random_flip: bool = False,
    resize: bool | None = None,
    repeat: bool | None = None,
    shuffle_buffer_size: int = 256,
    interleave_cycle_length: int = 8,
    num_classes: int = 0,
    start_step: int = 0,
) -> tf.data.Dataset:
    """Builds the batched clip dataset for one input pipeline.

    Args:
        input_context: from `distribute_datasets_from_function`, or None for a
            single pipeline with the global batch.
        file_pattern: glob (or list of globs) of TFRecord shards, e.g.
            "data/synthetic/train-*.tfrecord".
        global_batch_size: batch over all replicas; each pipeline yields
            `input_context.get_per_replica_batch_size(global_batch_size)`.
        num_frames: T, frames per output clip.
        frame_stride: step between output frames in the stored sequence
            (2 for DVD-GAN's Kinetics synthesis, 1 for prediction).
        resolution: H = W of the output frames.
        is_training: random window/crop and shuffling; otherwise centred
            window and crop, records in file order.
        seed: makes the pipeline reproducible; None draws fresh randomness.
        short_clip_policy: LOOP (default) or SKIP for clips shorter than
            `(num_frames - 1) * frame_stride + 1`; strings "loop"/"skip" work.
        random_flip: flip clips horizontally at random (training only).
        resize: resample the cropped square to `resolution`. None (default)
            decides from the first record: resize iff its short side differs
            from `resolution` (the converters store every clip of a dataset
            at one short side). Pass True for data of mixed sizes; a record
            whose size differs from the first one's then fails with "... is
            not compatible with expected shape [T, R, R, 3]".
        repeat: cycle over the data forever; default `is_training`.
        shuffle_buffer_size: records in the shuffle buffer (training). A
            record is a whole clip, still JPEG: ~2 MB for a 10 s Kinetics
            clip at 128 px, so 256 records hold ~0.5 GB per pipeline.
        interleave_cycle_length: shards read concurrently.
        num_classes: N > 0 checks every batch's labels against [0, N) (one
            op per batch) and fails with a message naming the files; 0 skips
            the check.
        start_step: training steps already done (a resumed run). With a
            `seed`, it is folded into the shuffle seeds, so a resumed run
            reads a new order instead of replaying the head of the data; 0
            keeps the seed as given.

    Returns:
        Dataset of {"video": float32 [B, T, H, W, 3] in [-1, 1],
        "label": int32 [B]}, B = per-replica batch, static shapes.

    Raises:
        ValueError: no file matches, fewer shards than input pipelines, or an
            argument is out of range.
    """
    for name, value, minimum in (
        ("global_batch_size", global_batch_size, 1),
        ("num_frames", num_frames, 1),
        ("frame_stride", frame_stride, 1),
        ("resolution", resolution, 1),
        ("shuffle_buffer_size", shuffle_buffer_size, 1),
        ("interleave_cycle_length", interleave_cycle_length, 1),
    ):
        if int(value) < minimum:
            raise ValueError(
                f"Expected {name} >= {minimum}; received: {name}={value}"
            )
    try:
        policy = ShortClipPolicy(
            short_clip_policy.value
            if isinstance(short_clip_policy, ShortClipPolicy)
            else str(short_clip_policy).lower()
        )
    except ValueError:
        raise ValueError(
            "Expected short_clip_policy in "
            f"{[p.value for p in ShortClipPolicy]}; received: "
            f"short_clip_policy={short_clip_policy!r}"
        ) from None
    if repeat is None:
        repeat = is_training

    if input_context is None:
        pipeline_id, num_pipelines = 0, 1
        batch_size = global_batch_size
    else:
        pipeline_id = input_context.input_pipeline_id
        num_pipelines = input_context.num_input_pipelines
        batch_size = input_context.get_per_replica_batch_size(global_batch_size)

    files = _list_files(file_pattern)
    if len(files) < num_pipelines:
        raise ValueError(
            f"{len(files)} shard(s) match {file_pattern!r} but there are "
            f"{num_pipelines} input pipelines; each pipeline needs at least "
            "one shard. Re-convert with more shards (--num_shards)."
        )
    files = files[pipeline_id::num_pipelines]
    if resize is None:
        stored = _stored_short_side(files)
        resize = stored != resolution
        logging.info(
            "make_dataset: stored short side %s, resolution %d -> %s.",
            stored,
            resolution,
            "resize" if resize else "no resize",
        )
    pipeline_seed = None if seed is None else int(seed) + pipeline_id
    if pipeline_seed is not None and start_step:
        # A different, reproducible stream for every resume point.
        pipeline_seed = int(
            np.random.SeedSequence(
                [pipeline_seed, int(start_step)]
            ).generate_state(1)[0]
        )

    options = tf.data.Options()
    options.deterministic = seed is not None or not is_training
    options.experimental_optimization.map_parallelization = True
    options.experimental_optimization.map_fusion = True  # parse + process

    dataset = tf.data.Dataset.from_tensor_slices(files)
    if is_training:
        dataset = dataset.shuffle(
            len(files), seed=pipeline_seed, reshuffle_each_iteration=True
        )
    if repeat:
        dataset = dataset.repeat()
    dataset = dataset.interleave(
        lambda path: tf.data.TFRecordDataset(
            path, buffer_size=_READ_BUFFER_BYTES
        ),
        cycle_length=min(interleave_cycle_length, len(files)),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=seed is not None or not is_training,
    )
    if is_training:
        dataset = dataset.shuffle(
            shuffle_buffer_size,
            seed=pipeline_seed,
            reshuffle_each_iteration=True,
        )
    # One independent stateless seed pair per record.
    seeds = tf.data.Dataset.random(seed=pipeline_seed).batch(
        2, drop_remainder=True
    )
    dataset = tf.data.Dataset.zip((dataset, seeds))
    dataset = dataset.map(
        lambda serialized, element_seed: (_parse(serialized), element_seed),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    span = processors.window_length(num_frames, frame_stride)
    if policy is ShortClipPolicy.SKIP:
        dataset = dataset.filter(
            lambda example, _: tf.shape(example[_FRAMES])[0] >= span
        )

    def process(example, element_seed):
        time_seed, crop_seed, flip_seed = tf.unstack(
            tf.random.experimental.stateless_split(element_seed, 3)
        )
        indices = processors.sample_frame_indices(
            tf.shape(example[_FRAMES])[0],
            num_frames,
            frame_stride,
            is_training,
            time_seed,
        )
        encoded = tf.gather(example[_FRAMES], indices)
        video = processors.decode_frames(encoded, num_frames)
        video = processors.crop_square(video, is_training, crop_seed)
        if resize:
            video = processors.resize_square(video, resolution)
        if random_flip and is_training:
            video = processors.random_flip_left_right(video, flip_seed)
        # No clipping needed: bilinear (antialiased) weights are convex, so
        # resized values stay within [0, 255].
        video = processors.normalize_to_unit_range(video)
        video = tf.ensure_shape(video, [num_frames, resolution, resolution, 3])
        return {"video": video, "label": example[_LABEL]}

    dataset = dataset.map(process, num_parallel_calls=tf.data.AUTOTUNE)
    dataset = dataset.batch(batch_size, drop_remainder=True)
    if num_classes:
        dataset = dataset.map(
            functools.partial(
                _check_labels, num_classes=num_classes, source=file_pattern
            )
        )
    dataset = dataset.prefetch(tf.data.AUTOTUNE)
    return dataset.with_options(options)
