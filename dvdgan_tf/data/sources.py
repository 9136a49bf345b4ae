"""Enumerating the inputs of each source dataset (no decoding here).

Each `list_*` function turns a dataset as distributed into `Sources`: sorted
class names, per-split lists of inputs, and the inputs already known to be
unusable (e.g. Kinetics rows whose clip file is missing). Labels are always
indices into the **sorted** class-name list (DMVR's converter used a Python
set, which made label ids differ between runs).

* UCF-101: `<video_root>/<Class>/v_<Class>_gGG_cCC.avi` plus the official
  split lists (`classInd.txt`, `trainlist0N.txt`, `testlist0N.txt`). Paths are
  matched case-insensitively, which absorbs the `HandStandPushups` /
  `HandstandPushups` spelling mismatch between lists and archive.
* Kinetics: annotation CSVs (`label,youtube_id,time_start,time_end,split`)
  plus a directory (searched recursively) of trimmed clips named
  `<youtube_id>_<start:06d>_<end:06d>.mp4|.webm|.mkv`; where no trimmed
  clip exists, an untrimmed `<youtube_id>.<suffix>` is used and the
  [time_start, time_end) segment is cut out at decode time.
* Folder: `<root>/<class_name>/*.{mp4,avi,webm,mkv,mov}`, one split.
* BAIR: the original robot-pushing TFRecords; a split per sub-directory
  (`train/`, `test/`) or one "train" split; one input per file.
"""

from __future__ import annotations

import csv
import dataclasses
import os

from absl import logging

from dvdgan_tf.data import manifest as manifest_lib

# Containers the bundled FFmpeg opens as video, matched case-insensitively
# (the folder converter's --help lists them).
VIDEO_SUFFIXES = (
    ".3g2",
    ".3gp",
    ".asf",
    ".avi",
    ".f4v",
    ".flv",
    ".m2t",
    ".m2ts",
    ".m2v",
    ".m4v",
    ".mkv",
    ".mov",
    ".mp4",
    ".mpeg",
    ".mpg",
    ".mts",
    ".mxf",
    ".ogv",
    ".ts",
    ".vob",
    ".webm",
    ".wmv",
)
KINETICS_SUFFIXES = (".mp4", ".webm", ".mkv")
_KINETICS_SPLITS = {
    "train": "train",
    "val": "validation",
    "validate": "validation",
    "validation": "validation",
    "test": "test",
}


@dataclasses.dataclass(frozen=True)
class VideoSource:
    """One video file to convert into one clip.

    Attributes:
        key: unique, stable id (the input's name in manifests).
        path: the file.
        label: index into the sorted class names.
        label_name: the class name.
        media_id: source video id (file stem or YouTube id).
        start_seconds, end_seconds: segment of an untrimmed source, or None.
    """

    key: str
    path: str
    label: int
    label_name: str
    media_id: str
    start_seconds: float | None = None
    end_seconds: float | None = None


@dataclasses.dataclass(frozen=True)
class BairSource:
    """One BAIR TFRecord file (many trajectories)."""

    key: str
    path: str


@dataclasses.dataclass(frozen=True)
class Sources:
    """What a dataset provides: classes, inputs per split, known-bad inputs."""

    class_names: tuple[str, ...]
    splits: dict[str, list]
    unusable: tuple[manifest_lib.SkippedInput, ...] = ()


def _require_dir(path: str, what: str) -> None:
    if not os.path.isdir(path):
        raise FileNotFoundError(
            f"{what} {path!r} does not exist or is not a directory."
        )


def _require_file(path: str, what: str) -> None:
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{what} {path!r} does not exist.")


def _index_files(root: str, suffixes: tuple[str, ...]) -> dict[str, str]:
    """Lower-cased path relative to root -> actual path, for video files."""
    index = {}
    for directory, _, names in os.walk(root):
        for name in names:
            if name.lower().endswith(suffixes):
                path = os.path.join(directory, name)
                index[os.path.relpath(path, root).lower()] = path
    return index


def _canonical(listed: Sources) -> Sources:
    """Each split sorted by key and the unusable inputs sorted, so the
    shards of a conversion do not depend on the order of CSV rows, split
    list lines or directory listings (tests/data/test_canonical_order.py)."""
    return Sources(
        listed.class_names,
        {
            split: sorted(items, key=lambda source: source.key)
            for split, items in listed.splits.items()
        },
        tuple(
            sorted(listed.unusable, key=lambda s: (s.split, s.input, s.reason))
        ),
    )


def list_folder(
    root: str, split: str = "train", exclude: tuple[str, ...] = ()
) -> Sources:
    """Lists `<root>/<class_name>/<video>` as one split.

    A video is a file whose suffix is in `VIDEO_SUFFIXES` (any case). Every
    other file under `root` is accounted for in `Sources.unusable`, reason
    ``not_a_video`` (or ``not_in_a_class_folder`` for files directly in
    `root` or deeper than one level), so the manifest lists it; a folder
    without videos is not a class. Directories in `exclude` (the
    conversion's own output when it lies inside `root`) are not walked.

    Raises:
        FileNotFoundError: `root` is not a directory.
        ValueError: no class directory under `root` holds a video.
    """
    _require_dir(root, "Folder dataset root")
    by_class, unusable = {}, []
    excluded = {os.path.realpath(path) for path in exclude}
    for directory, subdirs, names in os.walk(root):
        subdirs[:] = sorted(
            name
            for name in subdirs
            if os.path.realpath(os.path.join(directory, name)) not in excluded
        )
        relative_dir = os.path.relpath(directory, root)
        depth = 0 if relative_dir == "." else relative_dir.count(os.sep) + 1
        for name in sorted(names):
            relative = os.path.normpath(os.path.join(relative_dir, name))
            is_video = name.lower().endswith(VIDEO_SUFFIXES)
            if depth == 1 and is_video and not name.startswith("."):
                by_class.setdefault(relative_dir, []).append(name)
                continue
            if name.startswith("."):
                reason = "hidden_file"
            elif is_video:
                reason = (
                    "not_in_a_class_folder: expected <root>/<class>/<video>"
                )
            else:
                suffix = os.path.splitext(name)[1] or "(none)"
                reason = (
                    f"not_a_video: suffix {suffix!r} is not one of the video "
                    "suffixes (make_tfrecords.py folder --help)"
                )
            unusable.append(manifest_lib.SkippedInput(relative, split, reason))
    for name in sorted(os.listdir(root)):
        directory = os.path.join(root, name)
        if os.path.realpath(directory) in excluded:
            continue
        if os.path.isdir(directory) and name not in by_class:
            logging.warning(
                "Folder %s holds no videos; it is not a class.", directory
            )
    if not by_class:
        raise ValueError(
            f"No class directories with videos under {root!r}: expected "
            f"<root>/<class_name>/<video>, video suffixes "
            f"{', '.join(VIDEO_SUFFIXES)} (any case)."
        )
    class_names = tuple(sorted(by_class))
    items = [
        VideoSource(
            key=f"{name}/{video}",
            path=os.path.join(root, name, video),
            label=label,
            label_name=name,
            media_id=os.path.splitext(video)[0],
        )
        for label, name in enumerate(class_names)
        for video in by_class[name]
    ]
    return Sources(
        class_names=class_names, splits={split: items}, unusable=tuple(unusable)
    )


def _read_lines(path: str) -> list[str]:
    with open(path) as f:
        return [line.strip() for line in f if line.strip()]


def list_ucf101(
    video_root: str, splits_dir: str, split_number: int = 1
) -> Sources:
    """Lists UCF-101's train and test clips for one official split.

    Args:
        video_root: folder of class folders of .avi files (`UCF-101/`).
        splits_dir: folder with `classInd.txt`, `trainlist0N.txt`,
            `testlist0N.txt` (`ucfTrainTestlist/`).
        split_number: 1, 2 or 3.

    Raises:
        FileNotFoundError: a folder or list file is missing.
        ValueError: bad split number or an empty class list.
    """
    if split_number not in (1, 2, 3):
        raise ValueError(
            f"Expected split_number in (1, 2, 3); received: {split_number}"
        )
    _require_dir(video_root, "UCF-101 video root")
    _require_dir(splits_dir, "UCF-101 split list folder")
    class_index = os.path.join(splits_dir, "classInd.txt")
    _require_file(class_index, "UCF-101 class index")
    listed = [line.split()[1] for line in _read_lines(class_index)]
    if not listed:
        raise ValueError(f"{class_index!r} lists no classes.")
    class_names = tuple(sorted(listed))
    if list(class_names) != listed:
        logging.warning(
            "classInd.txt order differs from sorted order; labels follow the "
            "sorted class names."
        )
    by_lower = {name.lower(): i for i, name in enumerate(class_names)}
    index = _index_files(video_root, (".avi",))
    splits, unusable = {}, []
    for split, list_name in (
        ("train", f"trainlist0{split_number}.txt"),
        ("test", f"testlist0{split_number}.txt"),
    ):
        list_path = os.path.join(splits_dir, list_name)
        _require_file(list_path, "UCF-101 split list")
        items = []
        for line in _read_lines(list_path):
            relative = line.split()[0]
            class_dir = relative.split("/")[0]
            label = by_lower.get(class_dir.lower())
            if label is None:
                unusable.append(
                    manifest_lib.SkippedInput(
                        relative, split, f"unknown_label: {class_dir!r}"
                    )
                )
                continue
            path = index.get(relative.lower())
            if path is None:
                unusable.append(
                    manifest_lib.SkippedInput(
                        relative, split, "missing: not under the video root"
                    )
                )
                continue
            stem = os.path.splitext(os.path.basename(path))[0]
            items.append(
                VideoSource(
                    key=relative,
                    path=path,
                    label=label,
                    label_name=class_names[label],
                    media_id=stem,
                )
            )
        splits[split] = items
    return _canonical(Sources(class_names, splits, tuple(unusable)))


def list_kinetics(annotation_paths: list[str], video_dir: str) -> Sources:
    """Lists Kinetics clips from annotation CSVs and a folder of clips.

    Class names are the sorted labels of the "train" rows (all rows when no
    row is marked train). Rows whose clip file is absent, or whose label is
    not a training class, are reported as unusable.

    Raises:
        FileNotFoundError: a CSV or the video folder is missing.
        ValueError: a CSV lacks a required column, or no labelled row exists.
    """
    _require_dir(video_dir, "Kinetics video folder")
    rows = []
    for path in annotation_paths:
        _require_file(path, "Kinetics annotation CSV")
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            missing = {"label", "youtube_id", "time_start", "time_end"} - set(
                reader.fieldnames or []
            )
            if missing:
                raise ValueError(
                    f"{path!r} lacks column(s) {sorted(missing)}; expected "
                    "label,youtube_id,time_start,time_end[,split]."
                )
            default_split = os.path.splitext(os.path.basename(path))[0]
            for row in reader:
                split = (row.get("split") or default_split).strip().lower()
                row["split"] = _KINETICS_SPLITS.get(split, split)
                rows.append(row)
    train_labels = {
        r["label"].strip()
        for r in rows
        if r["split"] == "train" and r["label"].strip()
    }
    labels = train_labels or {
        r["label"].strip() for r in rows if r["label"].strip()
    }
    if not labels:
        raise ValueError(
            f"No labelled rows in {annotation_paths}; cannot build classes."
        )
    class_names = tuple(sorted(labels))
    label_of = {name: i for i, name in enumerate(class_names)}
    index = {}
    # Sorted walk: when two files could serve one clip, the first in path
    # order wins, whatever order the filesystem lists them in.
    for directory, subdirs, names in os.walk(video_dir):
        subdirs.sort()
        for name in sorted(names):
            stem, suffix = os.path.splitext(name)
            if suffix.lower() in KINETICS_SUFFIXES:
                index.setdefault(stem, os.path.join(directory, name))
    splits, unusable = {}, []
    for row in rows:
        start, end = int(float(row["time_start"])), int(float(row["time_end"]))
        stem = f"{row['youtube_id']}_{start:06d}_{end:06d}"
        split, label_name = row["split"], row["label"].strip()
        if label_name not in label_of:
            unusable.append(
                manifest_lib.SkippedInput(
                    stem, split, f"unknown_label: {label_name!r}"
                )
            )
            continue
        path = index.get(stem)
        segment = (None, None)
        if path is None and row["youtube_id"] in index:
            # An untrimmed download named by its YouTube id: cut the
            # annotated segment out of it at decode time.
            path = index[row["youtube_id"]]
            segment = (float(start), float(end))
        if path is None:
            unusable.append(
                manifest_lib.SkippedInput(stem, split, "missing: no clip file")
            )
            continue
        splits.setdefault(split, []).append(
            VideoSource(
                key=stem,
                path=path,
                label=label_of[label_name],
                label_name=label_name,
                media_id=row["youtube_id"],
                start_seconds=segment[0],
                end_seconds=segment[1],
            )
        )
    return _canonical(Sources(class_names, splits, tuple(unusable)))


def list_bair(root: str) -> Sources:
    """Lists the original BAIR robot-pushing TFRecord files by split.

    Raises:
        FileNotFoundError: `root` is missing.
        ValueError: no TFRecord files under it.
    """
    _require_dir(root, "BAIR root")
    splits = {}
    for directory, _, names in os.walk(root):
        files = sorted(
            n for n in names if ".tfrecord" in n and not n.startswith(".")
        )
        if not files:
            continue
        relative = os.path.relpath(directory, root)
        split = "train" if relative == "." else os.path.basename(directory)
        splits.setdefault(split, []).extend(
            BairSource(
                key=os.path.join(relative, n), path=os.path.join(directory, n)
            )
            for n in files
        )
    if not splits:
        raise ValueError(f"No *.tfrecord* files under {root!r}.")
    return Sources(class_names=("robot_pushing",), splits=splits)
