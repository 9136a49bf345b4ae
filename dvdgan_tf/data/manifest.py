"""The JSON manifest describing one converted dataset directory.

Layout of a dataset directory written by `tools/make_tfrecords.py`:

  <data_dir>/manifest.json
  <data_dir>/<split>-NNNNN-of-MMMMM.tfrecord     (one per shard)
  <data_dir>/.progress/                          (resume bookkeeping)

`manifest.json` holds the sorted class names (label i is class_names[i]),
per-split example counts and shard list (file, examples, bytes), the stored
frame size (short side), fps, JPEG quality, the converter version and every
input that was skipped, with the reason.
"""

from __future__ import annotations

import dataclasses
import json
import os

import tensorflow as tf

from dvdgan_tf.util import atomic_files

MANIFEST_NAME = "manifest.json"
CONVERTER_VERSION = "1.0"
SHARD_SUFFIX = ".tfrecord"


@dataclasses.dataclass(frozen=True)
class ShardInfo:
    """One TFRecord shard: file name (relative to the data dir), counts."""

    file: str
    num_examples: int
    num_bytes: int


@dataclasses.dataclass(frozen=True)
class SkippedInput:
    """An input the converter could not use, and why."""

    input: str
    split: str
    reason: str


@dataclasses.dataclass(frozen=True)
class SplitInfo:
    """The shards of one split, and the shortest and longest clip (frames;
    None in manifests written before they were recorded)."""

    num_examples: int
    num_bytes: int
    shards: tuple[ShardInfo, ...]
    min_clip_frames: int | None = None
    max_clip_frames: int | None = None


@dataclasses.dataclass(frozen=True)
class Manifest:
    """Everything a reader or a person needs to know about a dataset dir.

    Attributes:
        dataset_name: e.g. "ucf101-s128-25fps-q90".
        class_names: sorted; label index i means class_names[i].
        splits: split name -> SplitInfo.
        storage_size: short side of the stored frames in pixels.
        fps: frame rate of the stored frames.
        jpeg_quality: JPEG quality of the stored frames.
        converter_version: CONVERTER_VERSION of the writing code.
        skipped: inputs that were skipped, with reasons.
        notes: inputs that were used with a warning ("upsampled: ...",
            "short: ..."), same layout as `skipped`.
        source: free-form description of the inputs (paths, options).
    """

    dataset_name: str
    class_names: tuple[str, ...]
    splits: dict[str, SplitInfo]
    storage_size: int
    fps: float
    jpeg_quality: int
    converter_version: str = CONVERTER_VERSION
    skipped: tuple[SkippedInput, ...] = ()
    source: dict[str, str] = dataclasses.field(default_factory=dict)
    notes: tuple[SkippedInput, ...] = ()

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @property
    def storage_bytes(self) -> int:
        return sum(s.num_bytes for s in self.splits.values())

    @property
    def skipped_by_reason(self) -> dict[str, int]:
        """Skipped inputs per reason category ("missing", "truncated", ...)."""
        return _by_reason(self.skipped)

    @property
    def notes_by_reason(self) -> dict[str, int]:
        """Used inputs with a warning, per category ("upsampled", ...)."""
        return _by_reason(self.notes)

    def to_json(self) -> dict:
        data = dataclasses.asdict(self)
        data["storage_bytes"] = self.storage_bytes
        data["num_examples"] = {
            k: v.num_examples for k, v in self.splits.items()
        }
        data["num_skipped"] = len(self.skipped)
        data["num_skipped_by_reason"] = self.skipped_by_reason
        data["num_notes_by_reason"] = self.notes_by_reason
        return data

    @classmethod
    def from_json(cls, data: dict) -> "Manifest":
        splits = {
            name: SplitInfo(
                num_examples=int(split["num_examples"]),
                num_bytes=int(split["num_bytes"]),
                shards=tuple(ShardInfo(**s) for s in split["shards"]),
                min_clip_frames=split.get("min_clip_frames"),
                max_clip_frames=split.get("max_clip_frames"),
            )
            for name, split in data["splits"].items()
        }
        return cls(
            dataset_name=data["dataset_name"],
            class_names=tuple(data["class_names"]),
            splits=splits,
            storage_size=int(data["storage_size"]),
            fps=float(data["fps"]),
            jpeg_quality=int(data["jpeg_quality"]),
            converter_version=str(data["converter_version"]),
            skipped=tuple(SkippedInput(**s) for s in data.get("skipped", [])),
            source=dict(data.get("source", {})),
            notes=tuple(SkippedInput(**s) for s in data.get("notes", [])),
        )


def _by_reason(entries) -> dict[str, int]:
    counts: dict[str, int] = {}
    for entry in entries:
        category = entry.reason.split(":")[0]
        counts[category] = counts.get(category, 0) + 1
    return dict(sorted(counts.items()))


def shard_name(split: str, index: int, num_shards: int) -> str:
    """`<split>-NNNNN-of-MMMMM.tfrecord`."""
    return f"{split}-{index:05d}-of-{num_shards:05d}{SHARD_SUFFIX}"


def shard_pattern(data_dir: str, split: str) -> str:
    """The glob matching every shard of `split` (for `make_dataset`)."""
    return os.path.join(data_dir, f"{split}-*-of-*{SHARD_SUFFIX}")


def write_manifest(data_dir: str, manifest: Manifest) -> str:
    """Writes `<data_dir>/manifest.json` atomically; returns its path."""
    path = os.path.join(data_dir, MANIFEST_NAME)
    atomic_files.write_text(
        path, json.dumps(manifest.to_json(), indent=2) + "\n"
    )
    return path


def read_manifest(data_dir: str) -> Manifest:
    """Reads `<data_dir>/manifest.json`.

    Raises:
        FileNotFoundError: the directory has no manifest (not converted, or
            the conversion has not finished).
        ValueError: the manifest is not valid JSON or lacks fields (the
            message names the file).
    """
    path = os.path.join(data_dir, MANIFEST_NAME)
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"No {MANIFEST_NAME} in {data_dir!r}: convert a dataset there with "
            "`tools/make_tfrecords.py`, or let an interrupted conversion "
            "finish (re-run the same command; it resumes)."
        )
    with tf.io.gfile.GFile(path) as f:
        text = f.read()
    try:
        return Manifest.from_json(json.loads(text))
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(
            f"{path} is not a valid manifest ({type(error).__name__}: "
            f"{error}). Restore the file, or re-run the conversion that "
            f"wrote {data_dir!r} (finished shards are kept and the manifest "
            "is written again)."
        ) from None


def size_and_length_warnings(
    manifest: Manifest, split: str, resolution: int, window: int
) -> list[str]:
    """What training on `split` at `resolution` with clips of `window`
    stored frames ((T - 1) * frame_stride + 1) does silently: enlarge
    stored frames smaller than the model, loop clips shorter than the
    window. One sentence each; empty when neither happens."""
    warnings = []
    if manifest.storage_size < resolution:
        warnings.append(
            f"stored frames (short side {manifest.storage_size} px) are "
            f"upsampled to the model's {resolution} px: convert with "
            f"--size>={resolution} for sharp inputs"
        )
    info = manifest.splits.get(split)
    if info is not None and info.min_clip_frames is not None:
        if info.min_clip_frames < window:
            warnings.append(
                f"some {split!r} clips are shorter ({info.min_clip_frames} "
                f"frames) than the {window}-frame window (T frames at the "
                "frame stride): they are looped, or skipped with "
                "short_clip_policy='skip'"
            )
    return warnings


def check_training_data(data_dir: str, split: str) -> str:
    """Fails fast on a missing dataset; returns its `split` shard pattern.

    Called before any model is built, so a wrong DATA_DIR costs seconds.

    Raises:
        ValueError: the directory, its manifest or the split's shards are
            missing (the message says what to run or set).
    """
    if not tf.io.gfile.isdir(data_dir):
        raise ValueError(
            f"The data directory does not exist: data_dir={data_dir!r}. "
            "Create it with `python tools/make_tfrecords.py ...` or point "
            "DATA_DIR (training.run.data_dir) at a converted dataset."
        )
    try:
        manifest = read_manifest(data_dir)
    except FileNotFoundError as error:
        raise ValueError(str(error)) from None
    pattern = shard_pattern(data_dir, split)
    if not tf.io.gfile.glob(pattern):
        raise ValueError(
            f"No {split!r} shards in data_dir={data_dir!r} (nothing matches "
            f"{pattern!r}). Convert that split, or set training.run.split."
        )
    check_shards(data_dir, manifest, split)
    return pattern


def check_shards(data_dir: str, manifest: Manifest, split: str) -> None:
    """Every shard the manifest lists for `split` is there, whole.

    Checks existence and byte size against the manifest (cheap: one stat
    per shard); a shard on disk that the manifest does not list is an error
    too, since the reader's glob would train on it.

    Raises:
        ValueError: names every missing, resized or unlisted shard.
    """
    info = manifest.splits.get(split)
    if info is None:
        raise ValueError(
            f"The manifest of {data_dir!r} has no split {split!r} (it has "
            f"{sorted(manifest.splits)}); set training.run.split."
        )
    problems = []
    for shard in info.shards:
        path = os.path.join(data_dir, shard.file)
        if not tf.io.gfile.exists(path):
            problems.append(f"{path}: missing")
            continue
        size = tf.io.gfile.stat(path).length
        if size != shard.num_bytes:
            problems.append(
                f"{path}: {size} bytes, the manifest says {shard.num_bytes}"
            )
    listed = {shard.file for shard in info.shards}
    for path in sorted(tf.io.gfile.glob(shard_pattern(data_dir, split))):
        if os.path.basename(path) not in listed:
            problems.append(f"{path}: not in the manifest")
    if problems:
        shown = "; ".join(problems[:10])
        more = f"; and {len(problems) - 10} more" if len(problems) > 10 else ""
        raise ValueError(
            f"The {split!r} shards of {data_dir!r} do not match its "
            f"manifest: {shown}{more}. Restore the files, or re-run "
            "tools/make_tfrecords.py with the same arguments: it rewrites "
            "missing and resized shards (and delete unlisted ones)."
        )


def find_corrupt_shards(paths) -> list[str]:
    """The shards among `paths` whose records fail their checksums.

    Reads every record, so it is meant for the failure path (after a
    `DataLossError`), where it names the files to restore.
    """
    corrupt = []
    for path in paths:
        try:
            for _ in tf.data.TFRecordDataset(path):
                pass
        except (tf.errors.DataLossError, tf.errors.OutOfRangeError):
            corrupt.append(path)
    return corrupt
