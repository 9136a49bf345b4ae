"""The best checkpoint of a run by one metric, kept out of rotation.

After each evaluated checkpoint the evaluation job calls `update`: if the
chosen metric improved on what `<results folder>/best.json` records, the
checkpoint's files are hard-linked (or copied) into `<results folder>/best/`
(`checkpointing.keep_checkpoint`), so `training.run.keep_checkpoints`
rotation cannot delete them, and best.json is rewritten:

    {"metric": "fvd/fvd2048_16f", "value": 212.3, "step": 40000,
     "lower_is_better": true, "generator": "ema",
     "checkpoint": "<model_dir>/eval/best/ckpt-40000",
     "results": "<model_dir>/eval/results-40000.json"}

`export --best`, `sample --step=<best step>` and `evaluate --step=...` then
find it (`checkpointing.resolve_checkpoint` looks among kept checkpoints).

Which direction is better: Frechet distances (FVD, FID, the judge's)
are lower-is-better, everything else (IS, judge accuracies) higher.
`--best_metric=auto` picks the first of fvd, fid, is, judge_accuracy that
the evaluation computed.
"""

from __future__ import annotations

import os

import tensorflow as tf
from absl import logging

from dvdgan_tf.evaluation import tasks as tasks_lib
from dvdgan_tf.store import checkpointing

BEST_FILE = "best.json"
AUTO = "auto"
NONE = "none"
AUTO_ORDER = ("fvd", "fid", "is", "judge_accuracy")
# Reference values the judge reports beside its scores, not scores of the
# generator (also skipped by tools/plot_results.py).
REFERENCE_VALUES = ("judge_frechet_floor", "judge_real_accuracy")
# Metric name prefix of each `--metrics` entry.
_FAMILY = {"fvd": "fvd", "fid": "fid", "is": "is", "judge": "judge_"}


def lower_is_better(name: str) -> bool:
    """Distances (FVD, FID, judge Frechet distance) improve downwards."""
    return name in ("fvd", "fid") or "frechet" in name


def check_metric(metric: str, metrics: tuple[str, ...]) -> None:
    """Fails before any work if `metric` cannot come out of `metrics`.

    Raises:
        ValueError: `metric` names a score that none of `metrics` computes.
    """
    if metric in (AUTO, NONE):
        return
    name = metric.split("/", 1)[0]
    if name in REFERENCE_VALUES or not any(
        name == prefix or (prefix.endswith("_") and name.startswith(prefix))
        for prefix in (_FAMILY[m] for m in metrics)
    ):
        raise ValueError(
            f"--best_metric={metric} is not computed by --metrics="
            f"{','.join(metrics)}: name a metric of those (e.g. fvd, is, "
            f"fid, judge_accuracy, judge_frechet_distance, or NAME/PROTOCOL "
            f"as in results-<step>.json), or auto / none."
        )


def pick(
    results: list[tasks_lib.MetricResult], metric: str
) -> tasks_lib.MetricResult | None:
    """The result `metric` selects: a name ('fvd'), a tag
    ('fvd/fvd2048_16f') or 'auto'; None for 'none' or when 'auto' finds
    nothing.

    Raises:
        ValueError: `metric` matches no result, or a name matches several
            (two protocols of one metric: name the tag).
    """
    scores = [r for r in results if r.name not in REFERENCE_VALUES]
    if metric == NONE:
        return None
    if metric == AUTO:
        for name in AUTO_ORDER:
            found = [r for r in scores if r.name == name]
            if found:
                return found[0]
        return None
    found = [r for r in scores if metric in (r.name, r.tag)]
    if len(found) == 1:
        return found[0]
    tags = ", ".join(r.tag for r in (found or scores))
    raise ValueError(
        f"--best_metric={metric} matches "
        + ("several results" if found else "no result")
        + f"; choose one of: {tags}."
    )


def read(results_dir: str) -> dict | None:
    """The record in `results_dir/best.json`, or None."""
    path = os.path.join(results_dir, BEST_FILE)
    if not tf.io.gfile.exists(path):
        return None
    return checkpointing.read_json(path, "best-checkpoint record")


def update(
    model_dir: str,
    results_dir: str,
    step: int,
    results: list[tasks_lib.MetricResult],
    metric: str,
    generator: str,
    results_file: str = "",
) -> dict | None:
    """Keeps checkpoint `step` if its `metric` beats the recorded best.

    Args:
        model_dir: the training directory (its ``checkpoints/``).
        results_dir: the evaluation's output folder (best.json, best/).
        step: the evaluated checkpoint.
        results: its results.
        metric: see `pick`.
        generator: "ema" or "live" (recorded; a record of the other
            generator is replaced, not compared).
        results_file: the results file, recorded.

    Returns:
        The new record if `step` became the best, else None.
    """
    chosen = pick(results, metric)
    if chosen is None:
        return None
    lower = lower_is_better(chosen.name)
    previous = read(results_dir)
    if (
        previous is not None
        and previous.get("metric") == chosen.tag
        and previous.get("generator") == generator
    ):
        old = float(previous["value"])
        better = chosen.value < old if lower else chosen.value > old
        if not better:
            return None
    keep_dir = os.path.join(results_dir, checkpointing.KEPT_SUBDIR)
    try:
        prefix = checkpointing.keep_checkpoint(model_dir, step, keep_dir)
    except checkpointing.CheckpointError as error:
        logging.warning("Best checkpoint not kept: %s", error)
        return None
    record = {
        "metric": chosen.tag,
        "value": chosen.value,
        "step": int(step),
        "lower_is_better": lower,
        "generator": generator,
        "checkpoint": prefix,
        "results": results_file,
    }
    checkpointing.write_json_atomic(
        os.path.join(results_dir, BEST_FILE), record
    )
    checkpointing.drop_kept(keep_dir, step)
    logging.info(
        "New best %s = %.6g at step %d (%s); kept as %s",
        chosen.tag,
        chosen.value,
        step,
        "was %.6g at step %d" % (previous["value"], previous["step"])
        if previous
        else "first",
        prefix,
    )
    return record
