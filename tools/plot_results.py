"""Figures and tables for docs/RESULTS.md: learning curves, per-class frame
grids, evaluation results by step (judge, FVD, FID, IS).

    python tools/plot_results.py curves --run=main=RUN --run="no D_T"=RUN2 \\
        --output=docs/images/learning_curves.png
    python tools/plot_results.py grid --model_dir=RUN \\
        --output=docs/images/samples.png
    python tools/plot_results.py table --run=main=RUN     # to stdout
    python tools/plot_results.py table --run="demo=runs/demo_seeds/seed*"

A `--run` whose MODEL_DIR is a glob (`*`, `?`, `[`) names the runs of one
config over several seeds (`tools/run_seeds.py` writes them as
`OUTPUT/seed<s>`): `table` then prints, per step, the median and
[min, max] over the seeds evaluated at that step and how many there are,
and `curves` draws the median with the range shaded.

`table` prints, per run, one row per evaluated step: minutes of training
and each metric the run's results hold: the judge's class / appearance /
motion accuracy and Frechet distance (what `make demo` prints at its end),
FVD, FID and IS (distances marked "lower is better").
`--eval_subdir=eval_live` reads the results of `evaluate --use_ema=false
--output_dir=RUN/eval_live` instead.

`curves` reads each run's `eval/results-<step>.json` (written by
`python -m dvdgan_tf.evaluate`, e.g. `--continuous` beside training) and
plots the same metrics, one panel each (distances on a log scale), against
training steps and against minutes of training. Minutes come from the
run's TensorBoard event files in `train/`: each event file is one training
process (a resumed run has several); its first event is written when the
training loop starts, so the minutes at step s are the durations of the
earlier processes plus the time from the start of s's process to its first
scalar at step >= s (graph tracing included, model building excluded).

`grid` renders, per class, the EMA generator's clip (z from
`generation.prior_latents(seed)`) next to a real clip of the same class
(rendered synthetic data at the model's size and frame stride), one row
per class, one column per frame. For DVD-GAN-FP models the generated clip
continues the real clip's first frames (marked in red). With an `--output`
ending in `.gif` it writes an animated GIF instead, one clip per cell, and
for DVD-GAN-FP models two more columns: the prediction from the reversed
real clip's first frames under the twin label, and that reversed clip
(`grid_panels`).
"""

from __future__ import annotations

import glob
import json
import math
import os
import sys
import textwrap

import numpy as np
from absl import app
from absl import flags

_COMMAND = ("curves", "grid", "table")


def _define_flags() -> None:
    flags.DEFINE_multi_string(
        "run",
        [],
        "curves, table: NAME=MODEL_DIR, repeatable (one per run); a glob "
        "MODEL_DIR groups the seeds of one config (median [min, max]).",
    )
    flags.DEFINE_string(
        "eval_subdir", "eval", "curves, table: results folder in MODEL_DIR."
    )
    flags.DEFINE_string("model_dir", None, "grid: the training directory.")
    flags.DEFINE_integer("seed", 0, "grid: seed of the generated clips.")
    flags.DEFINE_integer("scale", 3, "grid: pixel upscaling of the frames.")
    flags.DEFINE_string(
        "output", None, "curves, grid: PNG (or, for grid, GIF) to write."
    )
    flags.DEFINE_string("title", "", "Figure title.")


# Known metrics: (name in results-<step>.json, label, chance level or None,
# number format). Columns and panels appear for those a run has, in this
# order; other score names follow under their own name.
KNOWN = (
    ("judge_accuracy", "class accuracy", 1 / 12, ".3f"),
    ("judge_appearance_accuracy", "appearance accuracy", 1 / 3, ".3f"),
    ("judge_motion_accuracy", "motion accuracy", 1 / 4, ".3f"),
    ("judge_frechet_distance", "judge Frechet distance", None, ",.0f"),
    ("fvd", "FVD", None, ",.1f"),
    ("fid", "FID", None, ",.1f"),
    ("is", "IS", None, ".2f"),
)


def metric_columns(results_list) -> tuple:
    """The `KNOWN`-style rows of the metrics present in any of the runs'
    `read_results` outputs (the judge's reference values left out)."""
    from dvdgan_tf.evaluation import best

    present = {
        name
        for results in results_list
        for values in results.values()
        for name in values
        if name not in best.REFERENCE_VALUES
    }
    known = tuple(row for row in KNOWN if row[0] in present)
    names = {row[0] for row in KNOWN}
    return known + tuple(
        (name, name, None, ".4g") for name in sorted(present - names)
    )


def read_results(
    model_dir: str, eval_subdir: str = "eval"
) -> dict[int, dict[str, float]]:
    """{step: {metric name: value}} from the run's results files,
    `model_dir/<eval_subdir>/results-*.json`."""
    results = {}
    pattern = os.path.join(model_dir, eval_subdir, "results-*.json")
    for path in sorted(glob.glob(pattern)):
        try:
            with open(path) as f:
                record = json.load(f)
            results[int(record["step"])] = {
                metric["name"]: float(metric["value"])
                for metric in record["metrics"]
            }
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(
                f"{path} is not a results file of dvdgan_tf.evaluate "
                f"({type(error).__name__}: {error}). Delete it and score "
                "that checkpoint again (python -m dvdgan_tf.evaluate "
                f"--model_dir={model_dir} --continuous --timeout_secs=0 "
                "scores the checkpoints without results)."
            ) from None
    if not results:
        raise ValueError(
            f"{model_dir}/{eval_subdir} holds no results-*.json: run python -m "
            f"dvdgan_tf.evaluate --model_dir={model_dir} --metrics=judge "
            "--continuous first"
        )
    return dict(sorted(results.items()))


def training_minutes(model_dir: str) -> dict[int, float]:
    """{logged step: minutes of training} from the train/ event files."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2

    segments = []
    for path in glob.glob(os.path.join(model_dir, "train", "events.out.*")):
        start, steps = None, {}
        for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
            event = event_pb2.Event.FromString(record)
            if start is None:
                start = event.wall_time
            if event.summary.value and event.step not in steps:
                steps[int(event.step)] = event.wall_time
        if start is not None and steps:
            segments.append((start, steps))
    segments.sort(key=lambda segment: segment[0])
    minutes, before = {}, 0.0
    for start, steps in segments:
        for step, wall in steps.items():
            minutes.setdefault(step, (before + wall - start) / 60.0)
        before += max(steps.values()) - start
    return dict(sorted(minutes.items()))


def minutes_at(step: int, minutes: dict[int, float]) -> float:
    """Minutes at the first logged step >= `step` (the checkpoint's)."""
    later = [s for s in minutes if s >= step]
    if not later:
        return float("nan")
    return minutes[min(later)]


def expand_run(model_dir: str) -> list[str]:
    """The model_dirs a `--run` names: a glob's matches, else itself."""
    if not any(char in model_dir for char in "*?["):
        return [model_dir]
    matches = sorted(
        path for path in glob.glob(model_dir) if os.path.isdir(path)
    )
    if not matches:
        raise ValueError(f"--run glob {model_dir!r} matches no directory")
    return matches


def seed_statistics(
    model_dirs, eval_subdir: str = "eval", columns=None, results=None
):
    """Per step: median, min and max of each metric over the runs.

    `results`: the runs' `read_results` outputs, if the caller has them
    already (else read here).

    Returns:
        {step: {"seeds": n, "minutes": (median, min, max),
        metric: (median, min, max)}}, over the runs evaluated at that step,
        for the metrics of `columns` (default: those the runs have).
    """
    if results is None:
        results = [read_results(path, eval_subdir) for path in model_dirs]
    per_run = [
        (run_results, training_minutes(path))
        for run_results, path in zip(results, model_dirs)
    ]
    if columns is None:
        columns = metric_columns([results for results, _ in per_run])
    steps = sorted({step for results, _ in per_run for step in results})
    table = {}
    for step in steps:
        present = [(r[step], m) for r, m in per_run if step in r]
        row = {"seeds": len(present)}
        series = {
            "minutes": [minutes_at(step, m) for _, m in present],
            **{
                metric: [values.get(metric, math.nan) for values, _ in present]
                for metric, *_ in columns
            },
        }
        for key, values in series.items():
            values = np.asarray(values, np.float64)
            finite = values[np.isfinite(values)]
            row[key] = (
                (
                    float(np.median(finite)),
                    float(finite.min()),
                    float(finite.max()),
                )
                if finite.size
                else (math.nan, math.nan, math.nan)
            )
        table[step] = row
    return table


def _spread(stat, fmt: str) -> str:
    median, low, high = stat
    return f"{median:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def format_table(runs: list[tuple[str, str]], eval_subdir: str = "eval"):
    """Results of each run by step (judge accuracies and distance, FVD, FID,
    IS: whichever the run has), as Markdown table lines; a run naming
    several seeds (a glob) shows median [min, max] over them."""
    from dvdgan_tf.evaluation import best

    lines = []
    for name, pattern in runs:
        model_dirs = expand_run(pattern)
        per_run = [read_results(path, eval_subdir) for path in model_dirs]
        columns = metric_columns(per_run)
        chance = ", ".join(
            f"{label.split()[0]} {level:.2g}"
            for _, label, level, _ in columns
            if level is not None
        )
        chance = f"; chance: {chance}" if chance else ""
        header = " | ".join(
            label + (" (lower is better)" if best.lower_is_better(m) else "")
            for m, label, _, _ in columns
        )
        if len(model_dirs) > 1 or pattern != model_dirs[0]:
            lines += [
                f"{name} ({len(model_dirs)} seeds: {pattern}/{eval_subdir}; "
                f"median [min, max]{chance})",
                "",
                f"| step | seeds | minutes | {header} |",
                "|---" * (3 + len(columns)) + "|",
            ]
            stats = seed_statistics(model_dirs, eval_subdir, columns, per_run)
            for step, row in stats.items():
                cells = [str(step), str(row["seeds"])]
                cells.append(_spread(row["minutes"], ".1f"))
                for metric, _, _, fmt in columns:
                    cells.append(_spread(row[metric], fmt))
                lines.append("| " + " | ".join(cells) + " |")
            lines.append("")
            continue
        model_dir = model_dirs[0]
        results = per_run[0]
        minutes = training_minutes(model_dir)
        lines += [
            f"{name} ({model_dir}/{eval_subdir}{chance})",
            "",
            f"| step | minutes | {header} |",
            "|---" * (2 + len(columns)) + "|",
        ]
        for step, values in results.items():
            cells = [str(step), f"{minutes_at(step, minutes):.1f}"]
            for metric, _, _, fmt in columns:
                cells.append(f"{values.get(metric, float('nan')):{fmt}}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    return lines


def plot_curves(
    runs: list[tuple[str, str]],
    output: str,
    title: str,
    eval_subdir: str = "eval",
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from dvdgan_tf.evaluation import best

    read = []  # (name, model_dirs, their results), each read once
    for name, pattern in runs:
        dirs = expand_run(pattern)
        read.append((name, dirs, [read_results(d, eval_subdir) for d in dirs]))
    columns = metric_columns([r for _, _, results in read for r in results])
    figure, axes = plt.subplots(
        2, len(columns), figsize=(4 * len(columns), 7.5), squeeze=False
    )
    for name, model_dirs, results in read:
        stats = seed_statistics(model_dirs, eval_subdir, columns, results)
        steps = list(stats)
        times = [stats[step]["minutes"][0] for step in steps]
        for column, (metric, *_) in enumerate(columns):
            median, low, high = (
                [stats[step][metric][i] for step in steps] for i in range(3)
            )
            for row, xs in enumerate((steps, times)):
                (line,) = axes[row, column].plot(
                    xs, median, marker="o", label=name
                )
                if low != high:  # several seeds: their range
                    axes[row, column].fill_between(
                        xs, low, high, color=line.get_color(), alpha=0.2
                    )
    for column, (metric, label, chance, _) in enumerate(columns):
        for row, xlabel in enumerate(("training step", "training minutes")):
            axis = axes[row, column]
            axis.set_xlabel(xlabel)
            axis.set_ylabel(label)
            axis.grid(alpha=0.3)
            if chance is not None:
                axis.axhline(
                    chance, color="grey", linestyle=":", label="chance"
                )
                axis.axhline(0.8, color="grey", linestyle="--", linewidth=0.8)
                axis.set_ylim(0, 1.02)
            elif best.lower_is_better(metric):
                axis.set_yscale("log")
    axes[0, 0].legend(fontsize=8)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    figure.savefig(output, dpi=90)
    print(f"wrote {output}")


def grid_panels(model_dir: str, seed: int):
    """The clips `grid` shows, one row per class.

    Returns:
        (panels, names, step): panels a list of (title, uint8 [N, T, H, W,
        3]) with N the number of classes, T the whole clip: the EMA
        generator's clip of each class (z from `generation.prior_latents(seed)`)
        and a real clip of that class. For DVD-GAN-FP models the generated
        clip continues the real clip's first C frames (marked in red), and
        two more panels show the reversal check: the same generator and z
        given the first C frames of the time-reversed real clip under the
        twin label (`synthetic.reversed_label`), and that reversed real clip.
        names: the class name of each row; step: the checkpoint's step.
    """
    import numpy as np

    from dvdgan_tf.data import synthetic
    from dvdgan_tf.evaluation import real_clips
    from dvdgan_tf.inference import generation
    from dvdgan_tf.models import generator as generator_lib
    from dvdgan_tf.store import checkpointing

    generator, step, metadata = checkpointing.load_generator(model_dir)
    if metadata.dataset is not None and not real_clips.is_synthetic(
        metadata.dataset
    ):
        raise ValueError(
            f"grid shows one row per class of the built-in synthetic set; "
            f"{model_dir} was trained on {metadata.dataset!r}. For its "
            f"samples run python -m dvdgan_tf.sample --model_dir={model_dir} "
            "--output=DIR (one video per class with --num)."
        )
    num_classes = int(generator.num_classes)
    frames = generator_lib.clip_frames(generator)
    # Plenty of balanced real clips; the first of each class is shown.
    real, labels = real_clips.load_real_clips(
        4 * num_classes,
        frames,
        metadata.frame_stride,
        int(generator.resolution),
        metadata.dataset_or_unknown,
    )
    rows = [int(np.flatnonzero(labels == y)[0]) for y in range(num_classes)]
    real, labels = real[rows], labels[rows]
    count = generator_lib.num_conditioning_frames(generator)

    def generate(clips, given):
        context = clips[:, :count] if count else None
        fake, _ = generation.generate_videos(
            generator, num_classes, seed, labels=given, context=context
        )
        return generation.mark_context(fake, count)

    panels = [("generated (EMA G)", generate(real, labels)), ("real", real)]
    if count:
        backwards, twins = synthetic.time_reversed(real, labels)
        panels += [
            ("reversed context, twin label", generate(backwards, twins)),
            ("real, reversed", backwards),
        ]
    names = metadata.class_names or synthetic.class_names()
    return panels, [names[y] for y in labels], step


def _figure(canvas, row_names, column_titles, title, scale, centres=None):
    """A labelled matplotlib figure of `canvas`: equal rows, and columns
    titled at `centres` (fractions of the width; default equal columns)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    canvas = np.repeat(np.repeat(canvas, scale, 0), scale, 1)
    height, width = canvas.shape[:2]
    lines = max(name.count("\n") + 1 for name in column_titles)
    inches = height / 80 + 0.5 + 0.15 * lines
    figure = plt.figure(figsize=(width / 80 + 1.8, inches), dpi=80)
    bottom = 0.15 * lines / inches
    axis = figure.add_axes([0.16, bottom, 0.83, height / 80 / inches])
    axis.imshow(canvas, interpolation="nearest")
    row = height / len(row_names)
    axis.set_yticks([(i + 0.5) * row for i in range(len(row_names))])
    axis.set_yticklabels(row_names, fontsize=8)
    if centres is None:
        centres = [
            (i + 0.5) / len(column_titles) for i in range(len(column_titles))
        ]
    axis.set_xticks([c * width for c in centres])
    axis.set_xticklabels(column_titles, fontsize=7)
    axis.tick_params(length=0)
    axis.set_title(title, fontsize=9)
    return figure


def plot_grid(model_dir: str, output: str, seed: int, scale: int, title: str):
    """PNG: per row the panels' frames side by side, one column per frame
    (the first two panels). GIF: every panel, one clip per cell, animated
    over the frames."""
    import matplotlib.pyplot as plt
    import numpy as np

    from dvdgan_tf import video_io

    def grid(images):  # white, 1 px apart
        return video_io.tile_grid(images, pad=1, fill=255)

    panels, names, step = grid_panels(model_dir, seed)
    title = title or f"{model_dir}, step {step}"
    os.makedirs(os.path.dirname(os.path.abspath(output)), exist_ok=True)
    if output.lower().endswith(".gif"):
        titles = [textwrap.fill(name, 12) for name, _ in panels]
        clips = np.stack([clips for _, clips in panels], axis=1)
        images = []  # clips: [N, panels, T, H, W, 3]
        for t in range(clips.shape[2]):
            figure = _figure(grid(clips[:, :, t]), names, titles, title, scale)
            figure.canvas.draw()
            images.append(np.asarray(figure.canvas.buffer_rgba())[..., :3])
            plt.close(figure)
        video_io.write_gif(output, np.stack(images), fps=4.0)
    else:
        fake, real = panels[0][1], panels[1][1]
        gap = np.full_like(fake[:, :1], 255)
        tiles = np.concatenate([fake, gap, real], axis=1)  # [N, 2T + 1, ...]
        frames = fake.shape[1]
        centres = [frames / 2, frames + 1 + frames / 2]
        figure = _figure(
            grid(tiles),
            names,
            [panels[0][0], panels[1][0]],
            title,
            scale,
            centres=[c / (2 * frames + 1) for c in centres],
        )
        figure.savefig(output, dpi=80)
        plt.close(figure)
    print(f"wrote {output}")


def main(argv):
    if len(argv) != 2 or argv[1] not in _COMMAND:
        raise app.UsageError(f"Usage: {argv[0]} {' | '.join(_COMMAND)} [flags]")
    f = flags.FLAGS
    if argv[1] in ("curves", "grid") and not f.output:
        raise app.UsageError(f"{argv[1]} needs --output=PNG")
    if argv[1] in ("curves", "table"):
        runs = []
        for spec in f.run:
            name, sep, model_dir = spec.partition("=")
            if not sep or not model_dir:
                raise app.UsageError(
                    f"--run takes NAME=MODEL_DIR; received {spec!r}"
                )
            runs.append((name, model_dir))
        if not runs:
            raise app.UsageError(f"{argv[1]} needs at least one --run=NAME=DIR")
        if argv[1] == "table":
            print("\n".join(format_table(runs, f.eval_subdir)))
        else:
            plot_curves(runs, f.output, f.title, f.eval_subdir)
    else:
        if not f.model_dir:
            raise app.UsageError("grid needs --model_dir")
        plot_grid(f.model_dir, f.output, f.seed, f.scale, f.title)


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(__file__)))
    _define_flags()
    from dvdgan_tf import cli

    cli.run(main)
