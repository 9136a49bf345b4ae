"""Scaling of the training step with clip length, resolution and batch.

    .venv/bin/python bench/scaling.py [--steps=5] [--out_dir=bench/results]

Runs `bench/train_step.py` once per point, each in a fresh process (so the
peak RSS is that configuration's), on gin/bench_cpu.gin (the first demo
config: 32x32, T = 8, ch = 8, B = 4) with one factor changed at a time:

  * T: 8, 12, 48 frames;
  * resolution: 32, 64, 128;
  * global batch: 2, 4, 8.

Writes `scaling.json` (every train_step result) and one PNG per factor
(seconds per step and peak RSS against the factor, with the numbers on the
points) to --out_dir. Numbers, not assertions.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
flags.DEFINE_integer("steps", 5, "Timed steps per point.", lower_bound=1)
flags.DEFINE_string(
    "out_dir", os.path.join(REPO, "bench", "results"), "Output directory."
)
flags.DEFINE_list(
    "factors", ["frames", "resolution", "batch"], "Which sweeps to run."
)
FLAGS = flags.FLAGS

SWEEPS = {
    "frames": ("NUM_FRAMES", [8, 12, 48], "clip length T (frames)"),
    "resolution": ("RESOLUTION", [32, 64, 128], "resolution (pixels)"),
    "batch": (
        "training.run.global_batch_size",
        [2, 4, 8],
        "global batch (clips)",
    ),
}


def run_point(binding: str, value: int, steps: int) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [
            sys.executable,
            os.path.join(REPO, "bench", "train_step.py"),
            "--gin_file=gin/bench_cpu.gin",
            f"--gin_param={binding} = {value}",
            f"--steps={steps}",
            "--warmup=1",
            f"--json={out.name}",
        ]
        completed = subprocess.run(
            command, cwd=REPO, capture_output=True, text=True
        )
        if completed.returncode:
            raise RuntimeError(completed.stderr[-3000:])
        with open(out.name) as f:
            return json.load(f)


def plot(factor: str, label: str, values, results, path: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    seconds = [r["seconds_per_step"]["median"] for r in results]
    memory = [r["peak_rss_gib"] for r in results]
    figure, (left, right) = pyplot.subplots(1, 2, figsize=(9, 3.6))
    for axis, ys, name, unit in (
        (left, seconds, "seconds per step", "s"),
        (right, memory, "peak RSS", "GiB"),
    ):
        axis.plot(values, ys, "o-")
        # The linear reference through the first point.
        axis.plot(
            values,
            [ys[0] * v / values[0] for v in values],
            "--",
            color="grey",
            label="linear from the first point",
        )
        for x, y in zip(values, ys):
            axis.annotate(
                f"{y:.2f} {unit}",
                (x, y),
                textcoords="offset points",
                xytext=(4, 6),
                fontsize=8,
            )
        axis.set_xlabel(label)
        axis.set_ylabel(f"{name} ({unit})")
        axis.set_xticks(values)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=7)
    figure.suptitle(
        f"DVD-GAN step vs {label} (bench_cpu.gin otherwise; 2-core CPU, fp32)"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    pyplot.close(figure)


def main(argv):
    del argv
    os.makedirs(FLAGS.out_dir, exist_ok=True)
    path = os.path.join(FLAGS.out_dir, "scaling.json")
    everything = {}
    if os.path.exists(path):
        with open(path) as f:
            everything = json.load(f)
    for factor in FLAGS.factors:
        binding, values, label = SWEEPS[factor]
        results = []
        for value in values:
            result = run_point(binding, value, FLAGS.steps)
            results.append(result)
            print(
                f"{factor}={value}: {result['seconds_per_step']['median']:.3f}"
                f" s/step, {result['peak_rss_gib']:.2f} GiB, "
                f"{result['utilisation_of_matmul_peak']:.1%} of peak",
                flush=True,
            )
        everything[factor] = {"values": values, "results": results}
        plot(
            factor,
            label,
            values,
            results,
            os.path.join(FLAGS.out_dir, f"scaling_{factor}.png"),
        )
        with open(path, "w") as f:
            json.dump(everything, f, indent=2)


if __name__ == "__main__":
    sys.path.insert(
        0, os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
    from dvdgan_tf import cli

    cli.run(main)
