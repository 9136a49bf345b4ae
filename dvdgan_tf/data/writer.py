"""Sharded, atomic, resumable TFRecord writing of one dataset split.

`write_split` turns a list of inputs into `<split>-NNNNN-of-MMMMM.tfrecord`
shards:

* **Plan.** Inputs are shuffled with a fixed seed and input i of the shuffled
  list goes to shard i mod N (MediaPipe's scheme: every shard mixes classes).
  N is `num_shards`, or estimated from the serialised size of the first few
  clips so that shards hold about `shard_size_mb`. The plan (N and a
  fingerprint of the inputs and settings) is saved in `.progress/`, so a
  re-run uses the same assignment.
* **Atomic shards.** A shard is written under a hidden temporary name
  (`.<shard>.tmp-<pid>`, which no reader glob matches), then a small JSON
  marker with its counts is written, then the shard is renamed into place.
  A shard counts as finished only when its file and marker agree, so a killed
  run never leaves a half-written shard that looks complete.
* **Resumable.** Re-running skips finished shards and removes leftover
  temporary files; re-running a finished conversion is a fast no-op.
* **Robust.** `load_clip` raising `ClipSkipped` (or any other exception) skips
  that input; it is counted and listed with the reason, and the run goes on.
* **Parallel.** Each worker process owns whole shards (spawned processes, so
  TF state is never forked), which keeps the output deterministic.

Only one conversion may write to an output directory at a time.
"""

from __future__ import annotations

import concurrent.futures
import dataclasses
import hashlib
import json
import math
import multiprocessing
import os
import signal
from typing import Any
from typing import Callable
from typing import Sequence

import numpy as np
import tensorflow as tf
import tqdm
from absl import logging

from dvdgan_tf.data import manifest as manifest_lib
from dvdgan_tf.data import records
from dvdgan_tf.util import atomic_files

PROGRESS_DIR = ".progress"
_ESTIMATE_CLIPS = 8


class ClipSkipped(Exception):
    """Raised by a clip loader for an input that must be skipped.

    A loader that yields several clips per input (BAIR: one file holds many
    trajectories) returns a list that may contain `ClipSkipped` instances for
    the records it could not use, with `input_name` naming the record.

    Attributes:
        reason: a short category first, then details, e.g.
            "too_short: 3 frames < min_frames=8".
        input_name: the skipped record when it is not the whole input.
    """

    def __init__(self, reason: str, input_name: str | None = None):
        super().__init__(reason)
        self.reason = reason
        self.input_name = input_name


class ClipNote:
    """Returned by a clip loader, beside its clips, for an input that was
    used but deserves a warning (e.g. "upsampled: 120 px < size 128").

    The writer lists notes in the manifest (`Manifest.notes`); the
    conversion prints one line with their counts.
    """

    def __init__(self, reason: str, input_name: str | None = None):
        self.reason = reason
        self.input_name = input_name

    def __repr__(self) -> str:
        return f"ClipNote({self.reason!r})"


@dataclasses.dataclass(frozen=True)
class WriterOptions:
    """How a split is sharded and encoded.

    Attributes:
        dataset_name: stored in every record's `example/dataset_name`.
        jpeg_quality: JPEG quality of the stored frames.
        num_shards: fixed shard count; None estimates it from shard_size_mb.
        shard_size_mb: target shard size when num_shards is None.
        seed: shuffles inputs before sharding.
        num_workers: worker processes (1 = in this process).
        progress: show a tqdm progress bar.
        settings: description of the clip loading settings (fps, size, ...);
            part of the plan fingerprint, so changing them is detected.
    """

    dataset_name: str
    jpeg_quality: int = records.DEFAULT_JPEG_QUALITY
    num_shards: int | None = None
    shard_size_mb: float = 200.0
    seed: int = 0
    num_workers: int = 1
    progress: bool = True
    settings: str = ""
    # Polled between shards (SIGTERM / Ctrl-C); not part of the fingerprint.
    should_stop: Callable[[], bool] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )


class ConversionInterrupted(RuntimeError):
    """A stop was requested; finished shards are kept (re-run to resume)."""


def _fingerprint(keys: Sequence[str], options: WriterOptions) -> str:
    digest = hashlib.sha256()
    for key in keys:
        digest.update(key.encode())
        digest.update(b"\0")
    digest.update(
        json.dumps(
            [
                options.dataset_name,
                options.jpeg_quality,
                options.seed,
                options.settings,
                manifest_lib.CONVERTER_VERSION,
            ]
        ).encode()
    )
    return digest.hexdigest()


def _load_safely(load_clip, item) -> list:
    """Returns a list of Clips and ClipSkipped; never raises."""
    try:
        loaded = load_clip(item)
    except ClipSkipped as e:
        return [e]
    except Exception as e:  # noqa: BLE001 -- one bad input must not stop a run
        return [ClipSkipped(f"error: {type(e).__name__}: {e}")]
    if isinstance(loaded, records.Clip):
        return [loaded]
    return list(loaded)


def _ignore_interrupts() -> None:
    """Worker processes leave Ctrl-C to the parent, which stops cleanly."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _marker_path(output_dir: str, shard: str) -> str:
    return os.path.join(output_dir, PROGRESS_DIR, shard + ".json")


def _write_shard(
    output_dir: str,
    shard: str,
    items: Sequence[Any],
    load_clip: Callable[[Any], records.Clip],
    dataset_name: str,
    jpeg_quality: int,
    on_clip: Callable[[], None] | None = None,
) -> dict:
    """Writes one shard atomically; returns its marker content."""
    path = os.path.join(output_dir, shard)
    tmp = os.path.join(output_dir, f".{shard}.tmp-{os.getpid()}")
    num_examples = 0
    skipped, notes, lengths = [], [], []
    with tf.io.TFRecordWriter(tmp) as out:
        for item in items:
            for clip in _load_safely(load_clip, item):
                if isinstance(clip, (ClipNote, ClipSkipped)):
                    listed = notes if isinstance(clip, ClipNote) else skipped
                    listed.append(
                        {
                            "input": clip.input_name or item.key,
                            "reason": clip.reason,
                        }
                    )
                    continue
                try:
                    out.write(
                        records.serialize_clip(clip, dataset_name, jpeg_quality)
                    )
                    num_examples += 1
                    lengths.append(int(clip.frames.shape[0]))
                except ValueError as e:
                    skipped.append({"input": item.key, "reason": f"error: {e}"})
            if on_clip is not None:
                on_clip()
    marker = {
        "file": shard,
        "num_examples": num_examples,
        "num_bytes": tf.io.gfile.stat(tmp).length,
        "skipped": skipped,
        "notes": notes,
        "clip_frames": [min(lengths), max(lengths)] if lengths else None,
    }
    atomic_files.write_text(_marker_path(output_dir, shard), json.dumps(marker))
    tf.io.gfile.rename(tmp, path, overwrite=True)
    return marker


def _is_finished(output_dir: str, shard: str) -> dict | None:
    marker_path = _marker_path(output_dir, shard)
    path = os.path.join(output_dir, shard)
    if not (tf.io.gfile.exists(marker_path) and tf.io.gfile.exists(path)):
        return None
    with tf.io.gfile.GFile(marker_path) as f:
        marker = json.load(f)
    if tf.io.gfile.stat(path).length != marker["num_bytes"]:
        return None
    return marker


def _remove_leftovers(output_dir: str, split: str) -> None:
    for name in tf.io.gfile.listdir(output_dir):
        if name.startswith(f".{split}-") and ".tmp-" in name:
            logging.info("Removing unfinished shard %s", name)
            tf.io.gfile.remove(os.path.join(output_dir, name))


def _plan_num_shards(items, load_clip, options: WriterOptions) -> int:
    if options.num_shards is not None:
        return max(1, min(options.num_shards, len(items)))
    # Serialise the clips of the first few inputs (at most _ESTIMATE_CLIPS
    # clips) and extrapolate: bytes/clip x clips/input x inputs.
    sizes, clips_per_input = [], []
    for item in items[:_ESTIMATE_CLIPS]:
        clips = [
            c
            for c in _load_safely(load_clip, item)
            if isinstance(c, records.Clip)
        ]
        clips_per_input.append(len(clips))
        for clip in clips[: _ESTIMATE_CLIPS - len(sizes)]:
            sizes.append(
                len(
                    records.serialize_clip(
                        clip, options.dataset_name, options.jpeg_quality
                    )
                )
            )
        if len(sizes) >= _ESTIMATE_CLIPS:
            break
    if not sizes:
        return 1
    total = float(np.mean(sizes)) * float(np.mean(clips_per_input)) * len(items)
    return max(
        1, min(len(items), math.ceil(total / (options.shard_size_mb * 2**20)))
    )


def write_split(
    output_dir: str,
    split: str,
    items: Sequence[Any],
    load_clip: Callable[[Any], records.Clip],
    options: WriterOptions,
) -> tuple[
    manifest_lib.SplitInfo,
    tuple[manifest_lib.SkippedInput, ...],
    tuple[manifest_lib.SkippedInput, ...],
]:
    """Writes (or finishes writing) the shards of one split.

    Args:
        output_dir: dataset directory (created if needed).
        split: split name used in shard names, e.g. "train".
        items: the inputs, each with a unique, stable `key` string attribute
            (a path or id); picklable when `options.num_workers > 1`.
        load_clip: item -> records.Clip (or a list of Clips, ClipSkipped
            and ClipNote), raising ClipSkipped for an unusable input; a
            module-level function when num_workers > 1.
        options: sharding and encoding options.

    Returns:
        (the split's SplitInfo, the inputs skipped in it, the notes on
        inputs it used).

    Raises:
        ValueError: `items` is empty or has duplicate keys, or `output_dir`
            holds an unfinished conversion of this split with different
            inputs or settings.
    """
    if not items:
        raise ValueError(f"No inputs for split {split!r}; nothing to convert.")
    keys = [item.key for item in items]
    if len(set(keys)) != len(keys):
        raise ValueError(f"Duplicate input keys in split {split!r}.")
    tf.io.gfile.makedirs(os.path.join(output_dir, PROGRESS_DIR))
    _remove_leftovers(output_dir, split)

    order = np.random.default_rng(options.seed).permutation(len(items))
    shuffled = [items[i] for i in order]
    fingerprint = _fingerprint(keys, options)
    plan_path = os.path.join(output_dir, PROGRESS_DIR, f"{split}.plan.json")
    if tf.io.gfile.exists(plan_path):
        with tf.io.gfile.GFile(plan_path) as f:
            plan = json.load(f)
        if plan["fingerprint"] != fingerprint:
            raise ValueError(
                f"{output_dir!r} already holds a conversion of split {split!r} "
                "from different inputs or settings. Use a new --output_dir, "
                f"or delete {output_dir!r} to start over."
            )
        num_shards = plan["num_shards"]
    else:
        num_shards = _plan_num_shards(shuffled, load_clip, options)
        atomic_files.write_text(
            plan_path,
            json.dumps({"fingerprint": fingerprint, "num_shards": num_shards}),
        )

    shards = [
        manifest_lib.shard_name(split, i, num_shards) for i in range(num_shards)
    ]
    assignment = [shuffled[i::num_shards] for i in range(num_shards)]
    markers = {shard: _is_finished(output_dir, shard) for shard in shards}
    todo = [i for i, shard in enumerate(shards) if markers[shard] is None]
    logging.info(
        "Split %s: %d inputs in %d shards, %d to write.",
        split,
        len(items),
        num_shards,
        len(todo),
    )
    if todo:
        total = sum(len(assignment[i]) for i in todo)
        with tqdm.tqdm(
            total=total,
            desc=f"{split}",
            unit="clip",
            disable=not options.progress,
        ) as bar:
            stop = options.should_stop or (lambda: False)
            if options.num_workers <= 1 or len(todo) == 1:
                for i in todo:
                    if stop():
                        break
                    markers[shards[i]] = _write_shard(
                        output_dir,
                        shards[i],
                        assignment[i],
                        load_clip,
                        options.dataset_name,
                        options.jpeg_quality,
                        on_clip=lambda: bar.update(1),
                    )
            else:
                context = multiprocessing.get_context("spawn")
                with concurrent.futures.ProcessPoolExecutor(
                    max_workers=min(options.num_workers, len(todo)),
                    mp_context=context,
                    initializer=_ignore_interrupts,
                ) as pool:
                    futures = {
                        pool.submit(
                            _write_shard,
                            output_dir,
                            shards[i],
                            assignment[i],
                            load_clip,
                            options.dataset_name,
                            options.jpeg_quality,
                        ): i
                        for i in todo
                    }
                    for future in concurrent.futures.as_completed(futures):
                        i = futures[future]
                        markers[shards[i]] = future.result()
                        bar.update(len(assignment[i]))
                        if stop():
                            # Shards being written finish; queued ones don't.
                            pool.shutdown(wait=True, cancel_futures=True)
                            for done in futures:
                                if done.done() and not done.cancelled():
                                    markers[shards[futures[done]]] = (
                                        done.result()
                                    )
                            break
        missing = [shard for shard in shards if markers[shard] is None]
        if missing:
            raise ConversionInterrupted(
                f"Stopped with {len(shards) - len(missing)} of {len(shards)} "
                f"{split!r} shards of {output_dir} written (kept); re-run the "
                "same command to resume."
            )

    shard_infos = tuple(
        manifest_lib.ShardInfo(
            file=shard,
            num_examples=markers[shard]["num_examples"],
            num_bytes=markers[shard]["num_bytes"],
        )
        for shard in shards
    )

    def entries(kind):  # markers of older conversions have no "notes"
        return tuple(
            sorted(
                (
                    manifest_lib.SkippedInput(
                        input=s["input"], split=split, reason=s["reason"]
                    )
                    for shard in shards
                    for s in markers[shard].get(kind, ())
                ),
                key=lambda s: s.input,
            )
        )

    skipped, notes = entries("skipped"), entries("notes")
    # Markers of older conversions have no clip lengths: then none.
    lengths = [markers[shard].get("clip_frames") for shard in shards]
    known = [pair for pair in lengths if pair]
    complete = known and all("clip_frames" in markers[s] for s in shards)
    info = manifest_lib.SplitInfo(
        num_examples=sum(s.num_examples for s in shard_infos),
        num_bytes=sum(s.num_bytes for s in shard_infos),
        shards=shard_infos,
        min_clip_frames=min(p[0] for p in known) if complete else None,
        max_clip_frames=max(p[1] for p in known) if complete else None,
    )
    return info, skipped, notes
