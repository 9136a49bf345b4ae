"""Converts video datasets into dvdgan_tf's TFRecord layout.

One SequenceExample per clip, one JPEG per frame, sharded, with a
manifest.json (see BUILD.md, "Data: TFRecord format and converters").
Re-running the same command resumes: finished shards are kept.

Examples:
  python tools/make_tfrecords.py synthetic --output_dir=data/synthetic
  python tools/make_tfrecords.py ucf101 --video_root=UCF-101 \\
      --splits_dir=ucfTrainTestlist --output_dir=data/ucf101_s128
  python tools/make_tfrecords.py kinetics \\
      --annotations=k600/annotations/train.csv \\
      --annotations=k600/annotations/val.csv --video_dir=k600 \\
      --output_dir=data/k600
  python tools/make_tfrecords.py bair --input_dir=softmotion30_44k \\
      --output_dir=data/bair
  python tools/make_tfrecords.py folder --input_dir=my_videos \\
      --output_dir=data/mine
"""

from __future__ import annotations

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Run from a checkout without `pip install -e .` too.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import logging  # noqa: E402

from dvdgan_tf import cli  # noqa: E402
from dvdgan_tf.data import convert  # noqa: E402
from dvdgan_tf.data import sources  # noqa: E402
from dvdgan_tf.data import writer  # noqa: E402


def _add_common(parser: argparse.ArgumentParser, video: bool) -> None:
    parser.add_argument(
        "--output_dir",
        required=True,
        help="dataset directory to write (created; resumable)",
    )
    if video:
        parser.add_argument(
            "--fps",
            type=float,
            default=25.0,
            help="resample to this frame rate (default 25)",
        )
        parser.add_argument(
            "--size",
            type=int,
            default=128,
            help="short side of stored frames (default 128)",
        )
        parser.add_argument(
            "--min_frames",
            type=int,
            default=16,
            help="skip videos with fewer stored frames (16)",
        )
        parser.add_argument(
            "--max_frames",
            type=int,
            default=None,
            help="keep at most this many frames per clip",
        )
        parser.add_argument(
            "--keep_truncated",
            action="store_true",
            help="keep the frames that decode from a video that breaks off "
            "(fewer frames than its container declares, or a decode error "
            "mid-file) when at least --min_frames decode; default: skip it "
            "as 'truncated'",
        )
    parser.add_argument("--jpeg_quality", type=int, default=90)
    parser.add_argument(
        "--num_shards",
        type=int,
        default=None,
        help="shards per split (default: from --shard_size_mb)",
    )
    parser.add_argument(
        "--shard_size_mb",
        type=float,
        default=200.0,
        help="target shard size (default 200)",
    )
    parser.add_argument(
        "--seed", type=int, default=0, help="shuffles clips before sharding"
    )
    parser.add_argument(
        "--workers",
        type=int,
        default=max(1, os.cpu_count() or 1),
        help="parallel worker processes (default: CPU count)",
    )
    parser.add_argument(
        "--no_progress", action="store_true", help="hide the progress bar"
    )


def _options(args, **overrides) -> convert.ConvertOptions:
    values = dict(
        jpeg_quality=args.jpeg_quality,
        num_shards=args.num_shards,
        shard_size_mb=args.shard_size_mb,
        seed=args.seed,
        num_workers=args.workers,
        progress=not args.no_progress,
        should_stop=getattr(args, "should_stop", None),
    )
    for name in ("fps", "size", "min_frames", "max_frames", "keep_truncated"):
        if hasattr(args, name):
            values[name] = getattr(args, name)
    values.update(overrides)
    return convert.ConvertOptions(**values)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="make_tfrecords.py",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    commands = parser.add_subparsers(
        dest="dataset", required=True, metavar="DATASET"
    )

    ucf = commands.add_parser("ucf101", help="UCF-101 .avi tree + split lists")
    ucf.add_argument(
        "--video_root",
        required=True,
        help="folder of class folders of .avi (UCF-101/)",
    )
    ucf.add_argument(
        "--splits_dir",
        required=True,
        help="folder with classInd.txt, trainlist0N.txt, "
        "testlist0N.txt (ucfTrainTestlist/)",
    )
    ucf.add_argument("--split_number", type=int, default=1, choices=(1, 2, 3))
    _add_common(ucf, video=True)

    kinetics = commands.add_parser(
        "kinetics", help="Kinetics annotation CSV(s) + folder of trimmed clips"
    )
    kinetics.add_argument(
        "--annotations",
        action="append",
        required=True,
        help="CSV with label,youtube_id,time_start,time_end,split (repeatable)",
    )
    kinetics.add_argument(
        "--video_dir",
        required=True,
        help="folder (searched recursively) of <id>_<start:06d>_<end:06d>.mp4",
    )
    kinetics.add_argument(
        "--name",
        default="kinetics",
        help="dataset name prefix, e.g. kinetics600",
    )
    _add_common(kinetics, video=True)

    bair = commands.add_parser(
        "bair", help="original BAIR robot-pushing TFRecords (softmotion30_44k)"
    )
    bair.add_argument(
        "--input_dir",
        required=True,
        help="folder with train/ and test/ TFRecord folders",
    )
    bair.add_argument(
        "--camera", default="image_aux1", choices=convert.BAIR_CAMERAS
    )
    bair.add_argument("--min_frames", type=int, default=2)
    _add_common(bair, video=False)

    folder = commands.add_parser(
        "folder",
        help="<root>/<class>/<video>",
        description="Converts <root>/<class>/<video>; a video is a file with "
        "one of the suffixes (any case) "
        + " ".join(sources.VIDEO_SUFFIXES)
        + ". Every other file under the root is listed in the manifest as "
        "skipped (not_a_video, hidden_file, not_in_a_class_folder).",
    )
    folder.add_argument("--input_dir", required=True)
    folder.add_argument(
        "--split",
        default="train",
        help="split name for the shards (default train)",
    )
    _add_common(folder, video=True)

    synthetic = commands.add_parser(
        "synthetic", help="built-in shape x motion set (12 classes)"
    )
    synthetic.add_argument(
        "--num_clips",
        type=int,
        default=1200,
        help="training clips (default 100 per class)",
    )
    synthetic.add_argument("--num_test_clips", type=int, default=240)
    synthetic.add_argument("--num_frames", type=int, default=24)
    synthetic.add_argument(
        "--size", type=int, default=64, help="frame size in pixels (default 64)"
    )
    _add_common(synthetic, video=False)
    # Several shards even for this small set, so that two input pipelines
    # (multi-worker) each get their own and reading interleaves. One worker:
    # rendering the default set (~13 s) is cheaper than spawning TF workers.
    synthetic.set_defaults(num_shards=4, workers=1)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Runs one conversion; SIGTERM / Ctrl-C stop it after the shards being
    written (kept; the same command resumes), exit status 130."""
    args = build_parser().parse_args(argv)
    logging.set_verbosity(logging.INFO)
    logging.use_absl_handler()
    cli.check_output_dir(args.output_dir, "--output_dir")
    with cli.StopRequest("finishing the shards being written") as stop:
        try:
            return _convert(args, lambda: stop.triggered)
        except writer.ConversionInterrupted as interrupted:
            print(f"interrupted: {interrupted}", file=sys.stderr, flush=True)
            return cli.INTERRUPTED_EXIT


def _convert(args, should_stop) -> int:
    args.should_stop = should_stop
    if args.dataset == "ucf101":
        result = convert.convert_ucf101(
            args.video_root,
            args.splits_dir,
            args.output_dir,
            split_number=args.split_number,
            options=_options(args),
        )
    elif args.dataset == "kinetics":
        result = convert.convert_kinetics(
            args.annotations,
            args.video_dir,
            args.output_dir,
            name=args.name,
            options=_options(args),
        )
    elif args.dataset == "bair":
        result = convert.convert_bair(
            args.input_dir,
            args.output_dir,
            camera=args.camera,
            options=_options(args, min_frames=args.min_frames),
        )
    elif args.dataset == "folder":
        result = convert.convert_folder(
            args.input_dir,
            args.output_dir,
            split=args.split,
            options=_options(args),
        )
    else:
        result = convert.convert_synthetic(
            args.output_dir,
            num_clips=args.num_clips,
            num_test_clips=args.num_test_clips,
            num_frames=args.num_frames,
            size=args.size,
            seed=args.seed,
            options=_options(args, min_frames=1),
        )
    counts = ", ".join(
        f"{k}={v.num_examples}" for k, v in result.splits.items()
    )
    logging.info(
        "Wrote %s to %s: %s clips, %d skipped, %.1f MB.",
        result.dataset_name,
        args.output_dir,
        counts,
        len(result.skipped),
        result.storage_bytes / 2**20,
    )
    return 0


if __name__ == "__main__":
    sys.exit(cli.run_main(main)(sys.argv[1:]))
