"""Converts video datasets into dvdgan_tf's TFRecord layout.

One SequenceExample per clip, one JPEG per frame, sharded, with a
manifest.json (see docs/DATA.md).
Re-running the same command resumes: finished shards are kept.
Also run as `python -m dvdgan_tf.convert` or `python tools/make_tfrecords.py`.

Examples:
  dvdgan-convert synthetic --output_dir=data/synthetic
  dvdgan-convert ucf101 --video_root=UCF-101 \\
      --splits_dir=ucfTrainTestlist --output_dir=data/ucf101_s128
  dvdgan-convert kinetics \\
      --annotations=k600/annotations/train.csv \\
      --annotations=k600/annotations/val.csv --video_dir=k600 \\
      --output_dir=data/k600
  dvdgan-convert bair --input_dir=softmotion30_44k \\
      --output_dir=data/bair
  dvdgan-convert folder --input_dir=my_videos \\
      --output_dir=data/mine --clip_frames=48 --eval_fraction=0.1
"""

from __future__ import annotations

import dataclasses
import os
import sys
import textwrap

from absl import flags
from absl import logging

from dvdgan_tf import cli
from dvdgan_tf.data import convert
from dvdgan_tf.data import sources
from dvdgan_tf.data import writer

DATASETS = {
    "ucf101": "UCF-101 .avi tree + split lists",
    "kinetics": "Kinetics annotation CSV(s) + folder of trimmed clips",
    "bair": "original BAIR robot-pushing TFRecords (softmotion30_44k)",
    "folder": "<root>/<class>/<video>; a video is a file with one of the "
    "suffixes (any case) " + " ".join(sources.VIDEO_SUFFIXES) + "; every "
    "other file under the root is listed in the manifest as skipped "
    "(not_a_video, hidden_file, not_in_a_class_folder)",
    "synthetic": "built-in shape x motion set (12 classes)",
}
# Flags each dataset requires (absl has no sub-commands: every flag is
# defined once, and main() checks what the chosen dataset needs).
_REQUIRED = {
    "ucf101": ("video_root", "splits_dir"),
    "kinetics": ("annotations", "video_dir"),
    "bair": ("input_dir",),
    "folder": ("input_dir",),
    "synthetic": (),
}
# Defaults that differ by dataset (None on the flag = this table's value).
# Several shards even for the small synthetic set, so that two input
# pipelines (multi-worker) each get their own and reading interleaves; one
# worker: rendering it (~13 s) is cheaper than spawning TF workers.
_DEFAULTS = {
    "synthetic": {"size": 64, "min_frames": 1, "num_shards": 4, "workers": 1},
    "bair": {"min_frames": 2},
}


def define_flags(flag_values=flags.FLAGS) -> None:
    """Defines every dataset's flags (only when run as a program)."""

    def define(kind, name, default, help_text, enum_values=None):
        if kind == "enum":
            flags.DEFINE_enum(
                name, default, enum_values, help_text, flag_values=flag_values
            )
        else:
            getattr(flags, f"DEFINE_{kind}")(
                name, default, help_text, flag_values=flag_values
            )

    define(
        "string",
        "output_dir",
        None,
        "Dataset directory to write (created; resumable).",
    )
    # ucf101
    define(
        "string",
        "video_root",
        None,
        "ucf101: folder of class folders of .avi (UCF-101/).",
    )
    define(
        "string",
        "splits_dir",
        None,
        "ucf101: folder with classInd.txt, "
        "trainlist0N.txt, testlist0N.txt (ucfTrainTestlist/).",
    )
    define(
        "enum",
        "split_number",
        "1",
        "ucf101: official split.",
        enum_values=["1", "2", "3"],
    )
    # kinetics
    define(
        "multi_string",
        "annotations",
        [],
        "kinetics: CSV with label,"
        "youtube_id,time_start,time_end,split (repeatable).",
    )
    define(
        "string",
        "video_dir",
        None,
        "kinetics: folder (searched "
        "recursively) of <id>_<start:06d>_<end:06d>.mp4.",
    )
    define(
        "string",
        "name",
        "kinetics",
        "kinetics: dataset name prefix, e.g. kinetics600.",
    )
    # bair, folder
    define(
        "string",
        "input_dir",
        None,
        "bair: folder with train/ and test/ "
        "TFRecord folders; folder: the <root> of <root>/<class>/<video>.",
    )
    define(
        "enum",
        "camera",
        "image_aux1",
        "bair: which camera.",
        enum_values=list(convert.BAIR_CAMERAS),
    )
    define("string", "split", "train", "folder: split name for the shards.")
    define(
        "float",
        "eval_fraction",
        0.0,
        "folder: also write a held-out split (--eval_split) of about this "
        "fraction of each class's videos, chosen by a hash of the video's "
        "path: whole videos, never clips of a video in both splits.",
    )
    define("string", "eval_split", "test", "folder: the held-out split's name.")
    # cutting videos into clips (video datasets)
    define(
        "integer",
        "clip_frames",
        None,
        "Video datasets: cut each video into clips of this many stored "
        "frames (default: one clip per video, up to --max_frames).",
    )
    define(
        "integer",
        "clip_stride",
        None,
        "With --clip_frames: frames between clip starts (default: "
        "--clip_frames, back to back).",
    )
    define(
        "integer",
        "max_clips_per_video",
        None,
        "With --clip_frames: keep at most this many clips of a video (the "
        "first ones; default: all).",
    )
    # synthetic
    define(
        "integer",
        "num_clips",
        1200,
        "synthetic: training clips (100 per class).",
    )
    define("integer", "num_test_clips", 240, "synthetic: test clips.")
    define("integer", "num_frames", 24, "synthetic: frames per clip.")
    # decoding (video datasets) and the frame size
    define("float", "fps", 25.0, "Video datasets: resample to this frame rate.")
    define(
        "integer",
        "size",
        None,
        "Short side of stored frames (default "
        "128; synthetic: frame size, default 64).",
    )
    define(
        "integer",
        "min_frames",
        None,
        "Skip videos with fewer stored frames (default 16; bair 2).",
    )
    define(
        "integer", "max_frames", None, "Keep at most this many frames per clip."
    )
    define(
        "bool",
        "keep_truncated",
        False,
        "Video datasets: keep the frames "
        "that decode from a video that breaks off (fewer frames than its "
        "container declares, or a decode error mid-file) when at least "
        "--min_frames decode; default: skip it as 'truncated'.",
    )
    # writing
    define("integer", "jpeg_quality", 90, "JPEG quality of stored frames.")
    define(
        "integer",
        "num_shards",
        None,
        "Shards per split (default: from --shard_size_mb; synthetic 4).",
    )
    define("float", "shard_size_mb", 200.0, "Target shard size.")
    define("integer", "seed", 0, "Shuffles clips before sharding.")
    define(
        "integer",
        "workers",
        None,
        "Parallel worker processes (default: CPU count; synthetic 1).",
    )
    define("bool", "no_progress", False, "Hide the progress bar.")


def _value(flag_values, dataset: str, name: str, fallback):
    value = flag_values[name].value
    if value is None:
        value = _DEFAULTS.get(dataset, {}).get(name, fallback)
    return value


def _options(flag_values, dataset: str) -> convert.ConvertOptions:
    def value(name, fallback=None):
        return _value(flag_values, dataset, name, fallback)

    return convert.ConvertOptions(
        jpeg_quality=flag_values.jpeg_quality,
        num_shards=value("num_shards"),
        shard_size_mb=flag_values.shard_size_mb,
        seed=flag_values.seed,
        num_workers=value("workers", max(1, os.cpu_count() or 1)),
        progress=not flag_values.no_progress,
        fps=flag_values.fps,
        size=value("size", 128),
        min_frames=value("min_frames", 16),
        max_frames=flag_values.max_frames,
        keep_truncated=flag_values.keep_truncated,
        clip_frames=flag_values.clip_frames,
        clip_stride=flag_values.clip_stride,
        max_clips_per_video=flag_values.max_clips_per_video,
    )


def _usage(flag_values) -> str:
    datasets = "\n".join(
        textwrap.fill(
            f"{name:10s} {text}",
            79,
            initial_indent="  ",
            subsequent_indent=" " * 13,
        )
        for name, text in DATASETS.items()
    )
    return (
        f"{__doc__}\nUSAGE: dvdgan-convert DATASET --output_dir=DIR "
        f"[flags]\n\nDATASET:\n{datasets}\n\nflags:\n{flag_values.get_help()}"
    )


def run(flag_values, dataset: str, should_stop=None) -> int:
    """Runs one conversion with parsed flags (see `main`)."""
    if dataset not in DATASETS:
        raise cli.UsageError(
            f"Unknown dataset {dataset!r}; choose one of {list(DATASETS)} "
            "(dvdgan-convert --help)."
        )
    missing = [
        f"--{name}"
        for name in _REQUIRED[dataset]
        if not flag_values[name].value
    ]
    if not flag_values.output_dir:
        missing.insert(0, "--output_dir")
    if missing:
        raise cli.UsageError(f"{dataset} needs {', '.join(missing)}.")
    if not 0.0 <= flag_values.eval_fraction < 1.0:
        raise cli.UsageError(
            "Expected --eval_fraction in [0, 1); received: "
            f"{flag_values.eval_fraction}"
        )
    if flag_values.eval_fraction and dataset != "folder":
        raise cli.UsageError(
            f"--eval_fraction applies to the folder dataset; {dataset} has "
            "its own splits."
        )
    try:
        options = _options(flag_values, dataset)
    except ValueError as error:
        raise cli.UsageError(str(error)) from None
    options = dataclasses.replace(options, should_stop=should_stop)
    output_dir = flag_values.output_dir
    if dataset == "ucf101":
        result = convert.convert_ucf101(
            flag_values.video_root,
            flag_values.splits_dir,
            output_dir,
            split_number=int(flag_values.split_number),
            options=options,
        )
    elif dataset == "kinetics":
        result = convert.convert_kinetics(
            flag_values.annotations,
            flag_values.video_dir,
            output_dir,
            name=flag_values.name,
            options=options,
        )
    elif dataset == "bair":
        result = convert.convert_bair(
            flag_values.input_dir,
            output_dir,
            camera=flag_values.camera,
            options=options,
        )
    elif dataset == "folder":
        result = convert.convert_folder(
            flag_values.input_dir,
            output_dir,
            split=flag_values.split,
            eval_fraction=flag_values.eval_fraction,
            eval_split=flag_values.eval_split,
            options=options,
        )
    else:
        result = convert.convert_synthetic(
            output_dir,
            num_clips=flag_values.num_clips,
            num_test_clips=flag_values.num_test_clips,
            num_frames=flag_values.num_frames,
            size=options.size,
            seed=flag_values.seed,
            options=options,
        )
    counts = ", ".join(
        f"{k}={v.num_examples}" for k, v in result.splits.items()
    )
    logging.info(
        "Wrote %s to %s: %s clips, %d skipped, %.1f MB.",
        result.dataset_name,
        output_dir,
        counts,
        len(result.skipped),
        result.storage_bytes / 2**20,
    )
    return 0


def main(argv: list[str] | None = None) -> int:
    """Runs one conversion; SIGTERM / Ctrl-C stop it after the shards being
    written (kept; the same command resumes), exit status 130.

    Args:
        argv: the command line without the program name, e.g.
            ``["synthetic", "--output_dir=data/synthetic"]`` (parsed with
            absl into a fresh `FlagValues`, so tests can call this).
    """
    flag_values = flags.FlagValues()
    define_flags(flag_values)
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] in ("-h", "--help", "--helpfull"):
        print(_usage(flag_values))
        raise SystemExit(0 if argv else cli.USAGE_EXIT)
    try:
        positional = flag_values(["make_tfrecords.py", *argv])[1:]
    except flags.Error as error:
        raise cli.UsageError(str(error)) from None
    if len(positional) != 1:
        raise cli.UsageError(
            f"Expected one DATASET of {list(DATASETS)}; received: {positional}"
        )
    logging.set_verbosity(logging.INFO)
    logging.use_absl_handler()
    cli.check_output_dir(flag_values.output_dir, "--output_dir")
    with cli.StopRequest("finishing the shards being written") as stop:
        try:
            return run(flag_values, positional[0], lambda: stop.triggered)
        except writer.ConversionInterrupted as interrupted:
            print(f"interrupted: {interrupted}", file=sys.stderr, flush=True)
            return cli.INTERRUPTED_EXIT


def console_main() -> None:
    """Entry point of the `dvdgan-convert` command (setup.cfg)."""
    sys.exit(cli.run_main(lambda argv: main(argv[1:]))(sys.argv))


if __name__ == "__main__":
    console_main()
