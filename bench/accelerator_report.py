"""The table of bench/accelerator_check.sh, from the files it wrote.

    python bench/accelerator_report.py --out=runs/accelerator_check \\
        --hardware=h100-80g [--dry_run]
    python bench/accelerator_report.py --hardware_for="NVIDIA H100 80GB HBM3"

Reads OUT/step_<precision>_<jit|nojit>.json (bench/train_step.py),
OUT/plan_<precision>.json (tools/plan.py), OUT/demo_log.txt and the judge
results of OUT/demo, and prints one Markdown table: for each step variant
steps/s, clips/s, utilisation of the hardware's dense peak (bfloat16 or
TF32, `dvdgan_tf.training.hardware`) and of the matmul peak measured in
the same process, and the measured allocator peak against the planner's
prediction; then the demo's training speed and judge scores.
--hardware_for prints the planner's kind for an nvidia-smi GPU name.
"""

from __future__ import annotations

import glob
import json
import os
import re
import statistics
import sys

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

from absl import flags  # noqa: E402

from dvdgan_tf import cli  # noqa: E402
from dvdgan_tf.training import hardware as hardware_lib  # noqa: E402

flags.DEFINE_string("out", "runs/accelerator_check", "The check's folder.")
flags.DEFINE_string("hardware", "h100-80g", "Planner hardware kind.")
flags.DEFINE_bool("dry_run", False, "Say the numbers are a CPU dry run.")
flags.DEFINE_string("hardware_for", None, "Print the kind of this GPU name.")
FLAGS = flags.FLAGS

_PRECISIONS = ("float32", "mixed_bfloat16")
_STEPS_PER_SECOND = re.compile(r"\| ([0-9.]+) steps/s")


def _read(path):
    with open(path) as f:
        return json.load(f)


def step_rows(out: str, kind: hardware_lib.Hardware) -> list[str]:
    """One table row per step-bench variant found in `out`."""
    rows = []
    for precision in _PRECISIONS:
        plan_path = os.path.join(out, f"plan_{precision}.json")
        plan = _read(plan_path) if os.path.exists(plan_path) else None
        for jit in ("nojit", "jit"):
            path = os.path.join(out, f"step_{precision}_{jit}.json")
            if not os.path.exists(path):
                rows.append(f"| {precision} | {jit} | missing: {path} |")
                continue
            step = _read(path)
            seconds = step["seconds_per_step"]["median"]
            achieved = step["achieved_gflops_per_second"] * 1e9
            peak = (
                kind.bfloat16_tflops
                if precision == "mixed_bfloat16"
                else kind.float32_tflops
            ) * 1e12
            measured = step.get("device_peak_gib")
            predicted = None
            if plan is not None:
                memory = plan["memory"]
                per_replica = step["global_batch"] // step["replicas"]
                predicted = (
                    memory["total"]
                    + (per_replica - memory["batch_size"]) * memory["per_clip"]
                ) / 2**30
            rows.append(
                "| "
                + " | ".join(
                    [
                        precision,
                        "yes" if step["jit"] else "no",
                        f"{1 / seconds:.2f}",
                        f"{step['clips_per_second']:.1f}",
                        f"{step['step_gflops']:.1f}",
                        f"{achieved / peak:.1%}",
                        f"{step['utilisation_of_matmul_peak']:.1%}",
                        _memory_cell(measured, predicted),
                    ]
                )
                + " |"
            )
    return rows


def _size(gib: float) -> str:
    return f"{gib * 1024:.1f} MiB" if gib < 1 else f"{gib:.2f} GiB"


def _memory_cell(measured, predicted) -> str:
    """ "measured / planned (error)"; sizes in GiB (MiB below 1 GiB)."""
    if measured is None and predicted is None:
        return "-"
    if measured is None:
        return f"not measured / {_size(predicted)}"
    if predicted is None:
        return f"{_size(measured)} / no plan"
    error = predicted / measured - 1
    return f"{_size(measured)} / {_size(predicted)} ({error:+.0%})"


def demo_summary(out: str) -> list[str]:
    """The demo's steps/s (median of its logged intervals after the first)
    and the judge scores of its last scored checkpoint."""
    lines = []
    log = os.path.join(out, "demo_log.txt")
    rates = []
    if os.path.exists(log):
        with open(log) as f:
            rates = [float(m) for m in _STEPS_PER_SECOND.findall(f.read())]
    steady = rates[1:] or rates
    speed = f"{statistics.median(steady):.2f} steps/s" if steady else "no log"
    results = sorted(
        glob.glob(os.path.join(out, "demo", "eval", "results-*.json")),
        key=lambda p: int(re.findall(r"results-(\d+)", p)[0]),
    )
    if not results:
        return [f"demo: {speed}; no judge results"]
    step = re.findall(r"results-(\d+)", results[-1])[0]
    metrics = {m["name"]: m["value"] for m in _read(results[-1])["metrics"]}
    lines.append(
        f"demo (gin/demo_cpu.gin) to step {step}: {speed} (median of the "
        "logged intervals after the first); judge class "
        f"{metrics.get('judge_accuracy', float('nan')):.3f}, appearance "
        f"{metrics.get('judge_appearance_accuracy', float('nan')):.3f}, "
        f"motion {metrics.get('judge_motion_accuracy', float('nan')):.3f}, "
        f"FD {metrics.get('judge_frechet_distance', float('nan')):.0f}"
    )
    return lines


def report(out: str, kind_name: str, dry_run: bool) -> str:
    kind = hardware_lib.HARDWARE[kind_name]
    what = "CPU DRY RUN, toy sizes: not a result" if dry_run else kind.label
    header = [
        f"Accelerator check ({what}):",
        "",
        "| precision | XLA | steps/s | clips/s | GFLOP/step | of "
        f"{kind.name} peak | of measured matmul peak | peak memory "
        "measured / planned |",
        "|---|---|---|---|---|---|---|---|",
    ]
    return "\n".join(header + step_rows(out, kind) + [""] + demo_summary(out))


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"Unexpected arguments: {argv[1:]}")
    if FLAGS.hardware_for is not None:
        print(hardware_lib.kind_for_gpu_name(FLAGS.hardware_for))
        return
    if FLAGS.hardware not in hardware_lib.HARDWARE:
        raise cli.UsageError(
            f"--hardware={FLAGS.hardware}: choose from "
            f"{', '.join(hardware_lib.HARDWARE)}"
        )
    print(report(FLAGS.out, FLAGS.hardware, FLAGS.dry_run))


if __name__ == "__main__":
    cli.run(main)
