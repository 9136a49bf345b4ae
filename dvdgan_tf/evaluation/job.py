"""The evaluation job: metrics of a training run's checkpoints.

`run` evaluates the latest checkpoint (or `step`), or with `continuous` every
checkpoint as it appears (`checkpointing.list_checkpoint_steps` polled every
`POLL_SECONDS`; ends after `max_checkpoints` or when no new checkpoint
arrives for `timeout_secs`; steps that already have a results file are
skipped, so a restarted job resumes, and steps written while an evaluation
ran are evaluated next rather than skipped). `evaluate_checkpoint` does one
checkpoint: it restores the EMA (or live) generator, builds the
`evaluation.tasks` tasks that `EvalSettings` asks for, runs them and writes
the results.

`EvalSettings` is the one declaration of every setting: its fields carry
their defaults and help texts, and `dvdgan_tf.evaluate` derives its flags
from them (`settings_flags`).

Outputs in `model_dir/eval` (or `output_dir`): TensorBoard scalars tagged
`<metric>/<protocol>` and `results-<step>.json` with, per metric, its name,
protocol, N, seed, value and std (over `num_runs` generated sets with seeds
`seed`, `seed` + 1, ...; null for one run); `best.json` and `best/`, the
best checkpoint so far by `best_metric` (evaluation/best.py). The command
line and the metrics' protocols: `dvdgan_tf/evaluate.py`.
"""

from __future__ import annotations

import dataclasses
import os
import time

import tensorflow as tf
from absl import logging

from dvdgan_tf.evaluation import best as best_lib
from dvdgan_tf.evaluation import stats_cache
from dvdgan_tf.evaluation import tasks as tasks_lib
from dvdgan_tf.metrics import inception_score
from dvdgan_tf.store import checkpointing
from dvdgan_tf.util import errors
from dvdgan_tf.util import preemption

METRICS = ("fvd", "judge", "is", "fid")
EVAL_SUBDIR = "eval"
CACHE_SUBDIR = "cache"
RESULTS_TEMPLATE = "results-{step}.json"
# How often --continuous looks for new checkpoints.
POLL_SECONDS = 1.0
MetricResult = tasks_lib.MetricResult


def _setting(default, help_text: str, flag: bool = True):
    """A field of `EvalSettings`: its default, help text, and whether the
    command line exposes it as a flag of the same name."""
    return dataclasses.field(
        default=default, metadata={"help": help_text, "flag": flag}
    )


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """What `evaluate_checkpoint` computes: the one declaration of each
    setting, its default and its help text (`dvdgan_tf.evaluate` derives
    one flag per field from these)."""

    metrics: tuple[str, ...] = _setting(
        ("judge",),
        f"Subset of {list(METRICS)}; default: judge on the synthetic "
        "dataset, fvd otherwise.",
    )
    seed: int = _setting(0, "Seed of the first generated set.")
    num_runs: int = _setting(
        1, "Generated sets per metric; reports mean and std."
    )
    batch_size: int = _setting(16, "Clips per G call.")
    use_ema: bool = _setting(True, "Use the EMA generator (else the live one).")
    judge_dir: str = _setting(
        os.path.join("runs", "judge"),
        "Judge to use (judge), from tools/train_judge.py.",
    )
    judge_num_clips: int = _setting(
        600, "Generated clips per run for the judge."
    )
    fvd_num_videos: int = _setting(2048, "FVD N.")
    fvd_num_frames: int = _setting(
        0, "FVD T (>= 9); 0 = the model's clip length."
    )
    is_protocol: str = _setting(
        "tganv2", "tganv2 (2048x10), tgan (10000x1) or NxS."
    )
    fid_num_videos: int = _setting(2048, "Classifier FID N.")
    fid_real_stats: str = _setting(
        "sample",
        "FID's real side: sample (--fid_num_videos real clips) or split "
        "(every clip of --real_file_pattern, streamed, cached and resumable: "
        "the paper's Table 1 protocol; protocol name ends in _split).",
    )
    truncation_sweep: str = _setting(
        "",
        "Comma-separated truncation levels t (z = t * TN(0, 1) cut at 2): "
        "every metric's generated side is computed at each level (protocol "
        "+ _t<t>) and the best level per metric is reported (protocol + "
        "_tbest, and <metric>_truncation = that level). Empty: the "
        "untruncated prior only.",
    )
    real_file_pattern: str = _setting(
        "",
        "TFRecords of real clips; default for the synthetic dataset: "
        "regenerate it in memory.",
    )
    cache_dir: str = _setting(
        "", "Real-statistics cache; default model_dir/eval/cache."
    )
    best_metric: str = _setting(
        best_lib.AUTO,
        "Keep the best checkpoint by this metric (a name such as fvd, is, "
        "fid, judge_accuracy, or NAME/PROTOCOL): hard-linked into "
        "<output>/best/ out of keep_checkpoints rotation, recorded in "
        "<output>/best.json (export --best reads it). auto: the first of "
        "fvd, fid, is, judge_accuracy computed; none: keep nothing.",
    )
    progress: bool = _setting(True, "Show tqdm bars.", flag=False)

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
                raise errors.ConfigValueError(
                    f"Expected `{name}` >= 1; received: "
                    f"{name}={getattr(self, name)}"
                )
        if self.fid_real_stats not in ("sample", "split"):
            raise errors.ConfigValueError(
                "Expected `fid_real_stats` sample or split; received: "
                f"{self.fid_real_stats!r}"
            )
        if self.fid_real_stats == "split" and "fid" in self.metrics:
            if not self.real_file_pattern:
                raise errors.ConfigValueError(
                    "fid_real_stats=split reads a converted split: give "
                    "--real_file_pattern (e.g. 'data/k600_s64/train-*')."
                )
        truncation_levels(self.truncation_sweep)  # fails early if malformed
        if "is" in self.metrics:
            # Fails early if malformed.
            inception_score.protocol_from_spec(self.is_protocol)
        best_lib.check_metric(self.best_metric, self.metrics)


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
        tasks.append(
            tasks_lib.FIDTask(
                classifier,
                settings.fid_num_videos,
                real_stats=settings.fid_real_stats,
            )
        )
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
    levels = truncation_levels(settings.truncation_sweep)
    if levels:
        results = truncation_sweep(tasks, context, levels)
    else:
        results = tasks_lib.run_tasks(tasks, context)
    write_results(
        output_dir, step, model_dir, settings, results, time.time() - start
    )
    best_lib.update(
        model_dir,
        output_dir,
        step,
        results,
        settings.best_metric,
        "ema" if settings.use_ema else "live",
        os.path.join(output_dir, RESULTS_TEMPLATE.format(step=step)),
    )
    return step, results


def truncation_levels(spec: str) -> tuple[float, ...]:
    """Levels of `--truncation_sweep` ("0.25,0.5,1"), each >= 0.

    Raises:
        errors.ConfigValueError: a level that is not a finite number >= 0.
    """
    levels = []
    for part in filter(None, (p.strip() for p in spec.split(","))):
        try:
            level = float(part)
        except ValueError:
            level = float("nan")
        if not level >= 0 or level == float("inf"):
            raise errors.ConfigValueError(
                "--truncation_sweep takes comma-separated numbers >= 0 "
                f"(e.g. 0.25,0.5,1); received {spec!r}"
            )
        levels.append(level)
    return tuple(sorted(set(levels)))


def _level_name(level: float) -> str:
    return f"_t{level:g}"


def truncation_sweep(tasks, context, levels) -> list:
    """Runs every task at each truncation level, then the best per metric.

    Each result's protocol gets ``_t<level>``. Per (metric, protocol) the
    best level's value is repeated under ``<protocol>_tbest``, with
    ``<metric>_truncation`` holding that level (lower is better for
    distances, higher for scores and accuracies: `best.lower_is_better`),
    as the paper's "best over truncation levels" columns of Table 1.
    """
    results, by_metric = [], {}
    for level in levels:
        swept = dataclasses.replace(context, truncation=level)
        for result in tasks_lib.run_tasks(tasks, swept):
            renamed = dataclasses.replace(
                result, protocol=result.protocol + _level_name(level)
            )
            results.append(renamed)
            by_metric.setdefault((result.name, result.protocol), []).append(
                (level, result)
            )
    for (name, protocol), entries in by_metric.items():
        pick = min if best_lib.lower_is_better(name) else max
        level, best = pick(entries, key=lambda entry: entry[1].value)
        results.append(dataclasses.replace(best, protocol=protocol + "_tbest"))
        results.append(
            tasks_lib.MetricResult(
                f"{name}_truncation",
                protocol + "_tbest",
                best.num_samples,
                best.seed,
                level,
            )
        )
    return results


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


def check_schedule(step: int | None, continuous: bool) -> None:
    """A step and continuous evaluation exclude each other.

    Raises:
        ValueError: both given.
    """
    if continuous and step is not None:
        raise ValueError(
            "--step and --continuous exclude each other; "
            f"received: step={step}, continuous=True"
        )


def settings_flags() -> list[dataclasses.Field]:
    """The `EvalSettings` fields that are command-line flags."""
    return [
        field
        for field in dataclasses.fields(EvalSettings)
        if field.metadata.get("flag", False)
    ]


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
    check_schedule(step, continuous)
    results_dir = output_dir or os.path.join(model_dir, EVAL_SUBDIR)
    steps = []
    # Every step on disk without a results file is evaluated in order, so
    # none is skipped when evaluation is slower than training (unless the
    # manager's max_to_keep deleted it first). SIGTERM / Ctrl-C stop the job
    # after the checkpoint being evaluated (its results are written).
    last_new = time.monotonic()
    with preemption.StopRequest(
        "stopping after the current checkpoint"
    ) as stop:
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
