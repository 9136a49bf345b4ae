"""Evaluation job: metrics of a training run's checkpoints, as their own job.

    python -m dvdgan_tf.evaluate --model_dir=runs/demo --metrics=judge \\
        --judge_dir=runs/judge
    python -m dvdgan_tf.evaluate --model_dir=runs/k600_64 --metrics=fvd \\
        --real_file_pattern='data/k600/train-*.tfrecord'
    python -m dvdgan_tf.evaluate --model_dir=runs/ucf --metrics=is,fid \\
        --gin_file=my_c3d.gin --real_file_pattern=... --is_protocol=tganv2
    python -m dvdgan_tf.evaluate --model_dir=runs/demo --continuous \\
        --max_checkpoints=10 --timeout_secs=3600   # beside training

Evaluates the latest checkpoint (or `--step`), or with `--continuous` every
checkpoint as it appears (`checkpointing.list_checkpoint_steps` polled
every second; ends after `--max_checkpoints` or when no new checkpoint
arrives for
`--timeout_secs`; steps that already have a results file are skipped, so a
restarted job resumes, and steps written while an evaluation ran are
evaluated next rather than skipped). The best checkpoint by
`--best_metric` is kept out of rotation (`evaluation.best`). The generator
is the EMA one (`--use_ema=false`: the live one), sampled with
z ~ N(0, I) (the training prior, no truncation) from a stateless seed and,
for class-conditional models, labels spread evenly over the classes (judge)
or equal to the real clips' labels (FVD, IS/FID).

Metrics (`--metrics`, default `judge` on the synthetic dataset, else `fvd`):

- `fvd`: `dvdgan_tf.metrics.fvd` (I3D Kinetics-400 logits) under
  `FVDProtocol(--fvd_num_videos, --fvd_num_frames, stride=the model's frame
  stride)`; generated clips keep their first `--fvd_num_frames` frames.
- `judge`: `dvdgan_tf.metrics.judge` on the synthetic dataset: accuracy,
  appearance and motion accuracy of generated clips for the requested class,
  and the Frechet distance in the judge's feature space with its real-vs-real
  floor and the judge's own held-out accuracy as references.
- `is`, `fid`: with the classifier configured in gin
  (`classifier.build_video_classifier`, see `dvdgan_tf.metrics.classifier`);
  `--is_protocol` is `tganv2` (2048 x 10), `tgan` (10000 x 1) or `NxS`.

Each metric family is an `evaluation.tasks` task; the job around them
(restore, build the tasks, run, write, wait for the next checkpoint) is
`evaluation.job`, whose `EvalSettings` declares the settings this command
line exposes as flags (one flag per field, same name, same default).
Real clips come from `--real_file_pattern` TFRecords or, for
the synthetic dataset, are rendered in memory (`evaluation.real_clips`; the
judge draws 2N clips, N for the reference and N for the real-vs-real
floor). Real-side statistics are cached in `--cache_dir` (default
`model_dir/eval/cache`, `evaluation.stats_cache`).

Outputs in `model_dir/eval` (or `--output_dir`): TensorBoard scalars tagged
`<metric>/<protocol>` and `results-<step>.json` with, per metric, its name,
protocol, N, seed, value and std (over `--num_runs` generated sets with
seeds `--seed`, `--seed` + 1, ...; null for one run).
"""

from __future__ import annotations

import dataclasses

import gin
import tensorflow as tf
from absl import app
from absl import flags

from dvdgan_tf import cli
from dvdgan_tf import configurables
from dvdgan_tf.evaluation import job
from dvdgan_tf.evaluation import real_clips
from dvdgan_tf.metrics import classifier as classifier_lib
from dvdgan_tf.store import checkpointing

FLAGS = flags.FLAGS


def _define_setting_flag(field: dataclasses.Field, flag_values) -> None:
    """One absl flag for an `EvalSettings` field (type from the default)."""
    args = (field.name, field.default, field.metadata["help"])
    if field.name == "metrics":  # None = choose by dataset (main).
        flags.DEFINE_list(field.name, None, args[2], flag_values=flag_values)
    elif isinstance(field.default, bool):
        flags.DEFINE_bool(*args, flag_values=flag_values)
    elif isinstance(field.default, int):
        flags.DEFINE_integer(*args, flag_values=flag_values)
    else:
        flags.DEFINE_string(*args, flag_values=flag_values)


def define_flags(flag_values=FLAGS) -> None:
    """Defines the CLI flags. Called under `__main__` only, so importing
    this module next to the other CLIs never defines a flag twice."""
    flags.DEFINE_string(
        "model_dir", None, "Training directory.", flag_values=flag_values
    )
    flags.DEFINE_multi_string(
        "gin_file",
        [],
        "Gin files (the classifier for is/fid).",
        flag_values=flag_values,
    )
    flags.DEFINE_multi_string(
        "gin_param", [], "Gin bindings.", flag_values=flag_values
    )
    flags.DEFINE_integer(
        "step",
        None,
        "Checkpoint step; default latest.",
        flag_values=flag_values,
    )
    flags.DEFINE_bool(
        "continuous",
        False,
        "Evaluate each new checkpoint as it appears.",
        flag_values=flag_values,
    )
    flags.DEFINE_integer(
        "max_checkpoints",
        None,
        "With --continuous: stop after this many.",
        flag_values=flag_values,
    )
    flags.DEFINE_float(
        "timeout_secs",
        None,
        "With --continuous: stop after this long without a new checkpoint.",
        flag_values=flag_values,
    )
    flags.DEFINE_string(
        "output_dir",
        "",
        "Results and scalars; default model_dir/eval.",
        flag_values=flag_values,
    )
    for field in job.settings_flags():
        _define_setting_flag(field, flag_values)


def _classifier_from_gin(metrics):
    if "is" not in metrics and "fid" not in metrics:
        return None
    try:
        return gin.get_configurable(classifier_lib.build_video_classifier)()
    except TypeError as e:
        raise ValueError(
            "--metrics=is/fid need a classifier: bind at least "
            "classifier.build_video_classifier.{saved_model_dir (or "
            "c3d_weights), name, num_frames, height, width} and "
            "logits_key/features_key in a --gin_file (UCF-101's C3D: "
            "--gin_file=c3d_ucf101.gin; see docs/EVALUATION.md, 'IS / "
            f"FID'). Gin said: {e}"
        ) from e


def _settings_from_flags(metrics) -> job.EvalSettings:
    values = {
        field.name: FLAGS[field.name].value for field in job.settings_flags()
    }
    values["metrics"] = tuple(metrics)
    return job.EvalSettings(**values)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.model_dir:
        raise cli.UsageError("--model_dir is required.")
    if not tf.io.gfile.isdir(FLAGS.model_dir):
        # Missing input, like a missing checkpoint: a runtime failure (1).
        raise FileNotFoundError(
            f"--model_dir={FLAGS.model_dir} is not a directory; pass a "
            "training directory (the --model_dir given to dvdgan_tf.train)."
        )
    try:
        job.check_schedule(FLAGS.step, FLAGS.continuous)
    except ValueError as error:
        raise cli.UsageError(str(error)) from None
    if FLAGS.output_dir:
        cli.check_output_dir(FLAGS.output_dir, "--output_dir")
    configurables.add_gin_search_path()
    cli.parse_gin(FLAGS.gin_file, FLAGS.gin_param, finalize_config=False)
    metrics = FLAGS.metrics
    if not metrics:
        metadata = checkpointing.read_metadata(FLAGS.model_dir)
        metrics = (
            ["judge"] if real_clips.is_synthetic(metadata.dataset) else ["fvd"]
        )
    try:
        settings = _settings_from_flags(metrics)
    except ValueError as error:
        raise cli.UsageError(str(error)) from None
    classifier = _classifier_from_gin(settings.metrics)
    gin.finalize()
    job.run(
        FLAGS.model_dir,
        settings,
        step=FLAGS.step,
        continuous=FLAGS.continuous,
        max_checkpoints=FLAGS.max_checkpoints,
        timeout_secs=FLAGS.timeout_secs,
        classifier=classifier,
        output_dir=FLAGS.output_dir,
    )


def console_main() -> None:
    """Entry point of the `dvdgan-evaluate` command (setup.cfg)."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
