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
checkpoint as it appears (`tf.train.checkpoints_iterator`; ends after
`--max_checkpoints` or when no new checkpoint arrives for
`--timeout_secs`; steps that already have a results file are skipped, so a
restarted job resumes, and steps written while an evaluation ran are
evaluated next rather than skipped). The generator is the EMA one
(`checkpointing.load_generator(..., use_ema=True)`), sampled with
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

Each metric family is an `evaluation.tasks` task; this module is the job
around them: it restores the checkpoint, builds the tasks from the flags,
runs them, writes the results and (with `--continuous`) waits for the next
checkpoint. Real clips come from `--real_file_pattern` TFRecords or, for
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
import os
import time

import gin
import tensorflow as tf
from absl import app
from absl import flags
from absl import logging

from dvdgan_tf import cli
from dvdgan_tf import configurables
from dvdgan_tf.evaluation import real_clips
from dvdgan_tf.evaluation import stats_cache
from dvdgan_tf.evaluation import tasks as tasks_lib
from dvdgan_tf.metrics import classifier as classifier_lib
from dvdgan_tf.metrics import inception_score
from dvdgan_tf.store import checkpointing

METRICS = ("fvd", "judge", "is", "fid")
EVAL_SUBDIR = "eval"
CACHE_SUBDIR = "cache"
RESULTS_TEMPLATE = "results-{step}.json"
# How often --continuous looks for new checkpoints.
POLL_SECONDS = 1.0
MetricResult = tasks_lib.MetricResult


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """What `evaluate_checkpoint` computes (one field per CLI flag).

    Attributes:
        metrics: subset of `METRICS`.
        seed: seed of the first generated set.
        num_runs: generated sets per metric (mean and std over them).
        batch_size: clips per generator call.
        use_ema: evaluate the EMA generator (the default) or the live one.
        judge_dir: directory of a judge from `tools/train_judge.py`.
        judge_num_clips: clips per run for the judge metrics.
        fvd_num_videos: N of the FVD protocol.
        fvd_num_frames: T of the FVD protocol; 0 = the model's T.
        is_protocol: "tganv2", "tgan" or "<samples>x<splits>".
        fid_num_videos: N of the classifier FID.
        real_file_pattern: TFRecords of real clips; empty for the synthetic
            dataset's generator.
        cache_dir: real-statistics cache; empty = `model_dir/eval/cache`.
        progress: show tqdm bars.
    """

    metrics: tuple[str, ...] = ("judge",)
    seed: int = 0
    num_runs: int = 1
    batch_size: int = 16
    use_ema: bool = True
    judge_dir: str = os.path.join("runs", "judge")
    judge_num_clips: int = 600
    fvd_num_videos: int = 2048
    fvd_num_frames: int = 0
    is_protocol: str = "tganv2"
    fid_num_videos: int = 2048
    real_file_pattern: str = ""
    cache_dir: str = ""
    progress: bool = True

    def __post_init__(self):
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown or not self.metrics:
            raise ValueError(
                f"Unknown or no metrics {unknown or list(self.metrics)}; "
                f"choose from {list(METRICS)}; received: "
                f"metrics={list(self.metrics)}"
            )
        for name in (
            "num_runs",
            "batch_size",
            "judge_num_clips",
            "fvd_num_videos",
            "fid_num_videos",
        ):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"Expected `{name}` >= 1; received: "
                    f"{name}={getattr(self, name)}"
                )
        if "is" in self.metrics:
            # Fails early if malformed.
            inception_score.protocol_from_spec(self.is_protocol)


def build_tasks(settings: EvalSettings, classifier=None) -> list:
    """The `evaluation.tasks` tasks for `settings.metrics`, in a fixed order.

    Raises:
        ValueError: 'is'/'fid' without a classifier.
    """
    if ("is" in settings.metrics or "fid" in settings.metrics) and (
        classifier is None
    ):
        raise ValueError(
            "Metrics 'is'/'fid' need a classifier: configure "
            "classifier.build_video_classifier in a --gin_file."
        )
    tasks = []
    if "judge" in settings.metrics:
        tasks.append(
            tasks_lib.JudgeTask(settings.judge_dir, settings.judge_num_clips)
        )
    if "fvd" in settings.metrics:
        tasks.append(
            tasks_lib.FVDTask(settings.fvd_num_videos, settings.fvd_num_frames)
        )
    if "is" in settings.metrics:
        tasks.append(
            tasks_lib.InceptionScoreTask(
                classifier,
                inception_score.protocol_from_spec(settings.is_protocol),
            )
        )
    if "fid" in settings.metrics:
        tasks.append(tasks_lib.FIDTask(classifier, settings.fid_num_videos))
    return tasks


def evaluate_checkpoint(
    model_dir: str,
    step: int | None,
    settings: EvalSettings,
    classifier=None,
    output_dir: str = "",
):
    """Computes the metrics of one checkpoint and writes its results.

    Args:
        model_dir: a training directory.
        step: checkpoint step; None = the latest.
        settings: what to compute.
        classifier: a `classifier.VideoClassifier` for `is`/`fid`.
        output_dir: where results and scalars go; empty = model_dir/eval.

    Returns:
        (step, list of `MetricResult`).

    Raises:
        checkpointing.CheckpointError: no (such) checkpoint.
        ValueError: a metric cannot be computed for this model (the message
            says why and what to do).
    """
    output_dir = output_dir or os.path.join(model_dir, EVAL_SUBDIR)
    tasks = build_tasks(settings, classifier)
    start = time.time()
    generator, step, metadata = checkpointing.load_generator(
        model_dir, step, use_ema=settings.use_ema
    )
    context = tasks_lib.EvalContext(
        generator=generator,
        metadata=metadata,
        seeds=tuple(settings.seed + run for run in range(settings.num_runs)),
        batch_size=settings.batch_size,
        progress=settings.progress,
        real_file_pattern=settings.real_file_pattern,
        cache=stats_cache.StatsCache(
            settings.cache_dir or os.path.join(output_dir, CACHE_SUBDIR),
            metadata.dataset_or_unknown,
            generator.resolution,
            metadata.frame_stride,
            settings.real_file_pattern,
        ),
    )
    logging.info(
        "Evaluating step %d of %s (%s generator): %s",
        step,
        model_dir,
        "EMA" if settings.use_ema else "live",
        ", ".join(settings.metrics),
    )
    results = tasks_lib.run_tasks(tasks, context)
    write_results(
        output_dir, step, model_dir, settings, results, time.time() - start
    )
    return step, results


def write_results(output_dir, step, model_dir, settings, results, seconds=None):
    """Writes TensorBoard scalars and `results-<step>.json` to `output_dir`."""
    tf.io.gfile.makedirs(output_dir)
    writer = tf.summary.create_file_writer(output_dir)
    with writer.as_default():
        for result in results:
            tf.summary.scalar(result.tag, result.value, step=step)
            if result.std is not None:
                tf.summary.scalar(result.tag + "_std", result.std, step=step)
    writer.flush()
    writer.close()
    record = {
        "step": int(step),
        "model_dir": model_dir,
        "generator": "ema" if settings.use_ema else "live",
        "num_runs": settings.num_runs,
        "seconds": None if seconds is None else round(seconds, 1),
        "metrics": [dataclasses.asdict(result) for result in results],
    }
    checkpointing.write_json_atomic(
        os.path.join(output_dir, RESULTS_TEMPLATE.format(step=step)), record
    )
    for result in results:
        std = "" if result.std is None else f" +- {result.std:.4g}"
        logging.info(
            "step %d  %-28s %-24s %.6g%s",
            step,
            result.name,
            result.protocol,
            result.value,
            std,
        )


def run(
    model_dir: str,
    settings: EvalSettings,
    step: int | None = None,
    continuous: bool = False,
    max_checkpoints: int | None = None,
    timeout_secs: float | None = None,
    classifier=None,
    output_dir: str = "",
):
    """Evaluates one checkpoint, or each new one with `continuous`.

    Args:
        model_dir: a training directory.
        settings: what to compute.
        step: the checkpoint to evaluate (not with `continuous`).
        continuous: wait for and evaluate every new checkpoint.
        max_checkpoints: stop after evaluating this many (continuous).
        timeout_secs: stop when no new checkpoint arrives for this long
            (continuous); None waits forever.
        classifier: see `evaluate_checkpoint`.
        output_dir: see `evaluate_checkpoint`.

    Returns:
        The evaluated steps.
    """
    if not continuous:
        evaluated, _ = evaluate_checkpoint(
            model_dir, step, settings, classifier, output_dir
        )
        return [evaluated]
    if step is not None:
        raise ValueError(
            "--step and --continuous exclude each other; "
            f"received: step={step}, continuous=True"
        )
    results_dir = output_dir or os.path.join(model_dir, EVAL_SUBDIR)
    steps = []
    # Every step on disk without a results file is evaluated in order, so
    # none is skipped when evaluation is slower than training (unless the
    # manager's max_to_keep deleted it first). SIGTERM / Ctrl-C stop the job
    # after the checkpoint being evaluated (its results are written).
    last_new = time.monotonic()
    with cli.StopRequest("stopping after the current checkpoint") as stop:
        while not stop.triggered:
            pending = [
                found
                for found in checkpointing.list_checkpoint_steps(model_dir)
                if not tf.io.gfile.exists(
                    os.path.join(
                        results_dir, RESULTS_TEMPLATE.format(step=found)
                    )
                )
            ]
            for found in pending:
                last_new = time.monotonic()
                try:
                    evaluated, _ = evaluate_checkpoint(
                        model_dir, found, settings, classifier, output_dir
                    )
                except checkpointing.CheckpointError as e:
                    logging.warning("Skipping step %d: %s", found, e)
                    continue
                steps.append(evaluated)
                if max_checkpoints is not None and (
                    len(steps) >= max_checkpoints
                ):
                    logging.info(
                        "Evaluated %d checkpoint(s): %s", len(steps), steps
                    )
                    return steps
                if stop.triggered:
                    break
            if timeout_secs is not None and (
                time.monotonic() - last_new > timeout_secs
            ):
                logging.info(
                    "No new checkpoint for %.0f s: stopping.", timeout_secs
                )
                break
            if not stop.triggered:
                time.sleep(POLL_SECONDS)
    logging.info("Evaluated %d checkpoint(s): %s", len(steps), steps)
    return steps


# ----------------------------------------------------------------------------
# CLI.

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the CLI flags. Called under `__main__` only, so importing
    this module next to the other CLIs never defines a flag twice."""
    flags.DEFINE_string("model_dir", None, "Training directory.")
    flags.DEFINE_multi_string(
        "gin_file", [], "Gin files (the classifier for is/fid)."
    )
    flags.DEFINE_multi_string("gin_param", [], "Gin bindings.")
    flags.DEFINE_list(
        "metrics",
        None,
        f"Subset of {list(METRICS)}; default: judge on the "
        "synthetic dataset, fvd otherwise.",
    )
    flags.DEFINE_integer("step", None, "Checkpoint step; default latest.")
    flags.DEFINE_bool(
        "continuous", False, "Evaluate each new checkpoint as it appears."
    )
    flags.DEFINE_integer(
        "max_checkpoints", None, "With --continuous: stop after this many."
    )
    flags.DEFINE_float(
        "timeout_secs",
        None,
        "With --continuous: stop after this long without a new checkpoint.",
    )
    flags.DEFINE_bool("use_ema", True, "Use the EMA generator.")
    flags.DEFINE_integer("seed", 0, "Seed of the first generated set.")
    flags.DEFINE_integer(
        "num_runs", 1, "Generated sets per metric; reports mean and std."
    )
    flags.DEFINE_integer("batch_size", 16, "Clips per G call.")
    flags.DEFINE_string(
        "judge_dir", os.path.join("runs", "judge"), "Judge to use (judge)."
    )
    flags.DEFINE_integer(
        "judge_num_clips", 600, "Generated clips per run for the judge."
    )
    flags.DEFINE_integer("fvd_num_videos", 2048, "FVD N.")
    flags.DEFINE_integer(
        "fvd_num_frames", 0, "FVD T (>= 9); 0 = the model's clip length."
    )
    flags.DEFINE_string(
        "is_protocol", "tganv2", "tganv2 (2048x10), tgan (10000x1) or NxS."
    )
    flags.DEFINE_integer("fid_num_videos", 2048, "Classifier FID N.")
    flags.DEFINE_string(
        "real_file_pattern",
        "",
        "TFRecords of real clips; default for the "
        "synthetic dataset: regenerate it in memory.",
    )
    flags.DEFINE_string(
        "cache_dir", "", "Real-statistics cache; default model_dir/eval/cache."
    )
    flags.DEFINE_string(
        "output_dir", "", "Results and scalars; default model_dir/eval."
    )


def _classifier_from_gin(metrics):
    if "is" not in metrics and "fid" not in metrics:
        return None
    try:
        return gin.get_configurable(classifier_lib.build_video_classifier)()
    except TypeError as e:
        raise ValueError(
            "--metrics=is/fid need a classifier: bind at least "
            "classifier.build_video_classifier.{saved_model_dir, name, "
            "num_frames, height, width} and logits_key/features_key in a "
            f"--gin_file (see BUILD.md, 'IS / FID'). Gin said: {e}"
        ) from e


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.model_dir:
        raise cli.UsageError("--model_dir is required.")
    if not tf.io.gfile.isdir(FLAGS.model_dir):
        raise cli.UsageError(
            f"--model_dir={FLAGS.model_dir} is not a directory; pass a "
            "training directory (the --model_dir given to dvdgan_tf.train)."
        )
    if FLAGS.continuous and FLAGS.step is not None:
        raise cli.UsageError(
            "--step and --continuous exclude each other; "
            f"received: step={FLAGS.step}, continuous=True"
        )
    if FLAGS.output_dir:
        cli.check_output_dir(FLAGS.output_dir, "--output_dir")
    configurables.add_gin_search_path()
    try:
        gin.parse_config_files_and_bindings(
            FLAGS.gin_file, FLAGS.gin_param, finalize_config=False
        )
    except (ValueError, KeyError, SyntaxError, OSError) as error:
        raise cli.UsageError(
            f"Invalid gin configuration: {cli.describe(error)}"
        ) from None
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
    run(
        FLAGS.model_dir,
        settings,
        step=FLAGS.step,
        continuous=FLAGS.continuous,
        max_checkpoints=FLAGS.max_checkpoints,
        timeout_secs=FLAGS.timeout_secs,
        classifier=classifier,
        output_dir=FLAGS.output_dir,
    )


def _settings_from_flags(metrics) -> EvalSettings:
    return EvalSettings(
        metrics=tuple(metrics),
        seed=FLAGS.seed,
        num_runs=FLAGS.num_runs,
        batch_size=FLAGS.batch_size,
        use_ema=FLAGS.use_ema,
        judge_dir=FLAGS.judge_dir,
        judge_num_clips=FLAGS.judge_num_clips,
        fvd_num_videos=FLAGS.fvd_num_videos,
        fvd_num_frames=FLAGS.fvd_num_frames,
        is_protocol=FLAGS.is_protocol,
        fid_num_videos=FLAGS.fid_num_videos,
        real_file_pattern=FLAGS.real_file_pattern,
        cache_dir=FLAGS.cache_dir,
    )


if __name__ == "__main__":
    define_flags()
    app.run(cli.run_main(main))
