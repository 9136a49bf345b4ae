"""Trains and scores one config over several seeds, one after another.

    python tools/run_seeds.py --gin_file=gin/demo_cpu.gin --seeds=0,1,2 \\
        --output_dir=runs/demo_seeds --judge_dir=runs/judge
    python tools/plot_results.py table --run="demo=runs/demo_seeds/seed*"

Seed s trains `--gin_file` (plus `--gin_param`s) into OUTPUT/seed<s> with
both seeds of a run set to s: the model's (`gan.build_dvdgan.seed`: weights,
noise and D_S's frame choice) and the data order's
(`pipeline.make_dataset.seed`). Seed 0 of a config that does not bind them
otherwise is the config as committed. Each run is then scored at every
checkpoint with the judge (`python -m dvdgan_tf.evaluate --continuous
--timeout_secs=0`, skipping steps already scored), and at the end the table
of median [min, max] over the seeds is printed (every OUTPUT/seed<s>,
also those of earlier calls).

Runs go one after another (the 2-core box has no room for two). Everything
resumes: re-running the same command continues an interrupted training
from its last checkpoint and scores only what is unscored, so a killed
driver loses at most the steps since the last checkpoint. Each run's
output goes to OUTPUT/seed<s>/log.txt; progress lines go to the console.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time

from absl import app
from absl import flags

_REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, _REPO)

from dvdgan_tf import cli  # noqa: E402

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the flags (only when run as a program)."""
    flags.DEFINE_multi_string("gin_file", [], "Config(s) of every run.")
    flags.DEFINE_multi_string(
        "gin_param", [], "Extra gin bindings for every run."
    )
    flags.DEFINE_list("seeds", ["0", "1", "2"], "Seeds, one run each.")
    flags.DEFINE_string(
        "output_dir", None, "Runs go to OUTPUT_DIR/seed<s> (resumable)."
    )
    flags.DEFINE_string(
        "judge_dir",
        os.path.join("runs", "judge"),
        "Judge of the synthetic set (tools/train_judge.py); empty: train only.",
    )
    flags.DEFINE_string(
        "eval_flags", "", "Extra flags for dvdgan_tf.evaluate, space-separated."
    )


def seed_bindings(seed: int) -> list[str]:
    """The gin bindings that make run `seed` differ: model and data seeds."""
    return [
        f"gan.build_dvdgan.seed = {seed}",
        f"pipeline.make_dataset.seed = {seed}",
    ]


def train_command(gin_files, gin_params, model_dir: str, seed: int):
    """The `dvdgan_tf.train` command line of one seed's run."""
    command = [sys.executable, "-m", "dvdgan_tf.train"]
    command += [f"--gin_file={path}" for path in gin_files]
    bindings = [*gin_params, *seed_bindings(seed)]
    bindings.append(f"training.run.model_dir = '{model_dir}'")
    command += [f"--gin_param={binding}" for binding in bindings]
    return command


def evaluate_command(model_dir: str, judge_dir: str, extra: str = ""):
    """Scores every checkpoint of `model_dir` that has no results yet."""
    return [
        sys.executable,
        "-m",
        "dvdgan_tf.evaluate",
        f"--model_dir={model_dir}",
        "--metrics=judge",
        f"--judge_dir={judge_dir}",
        "--continuous",
        "--timeout_secs=0",
        *extra.split(),
    ]


def _last_error_line(log_path: str) -> str:
    """The child's one-line ``error: ...`` (the CLI contract), if any."""
    with open(log_path) as log:
        lines = [line.strip() for line in log if line.startswith("error: ")]
    return lines[-1][len("error: ") :] if lines else ""


def _run(command, log_path: str, what: str) -> None:
    start = time.time()
    print(f"{what}: {' '.join(command[1:])}", flush=True)
    with open(log_path, "a") as log:
        log.write(f"\n$ {' '.join(command)}\n")
        log.flush()
        done = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
    minutes = (time.time() - start) / 60
    if done.returncode:
        said = _last_error_line(log_path)
        if done.returncode == cli.USAGE_EXIT:
            # The configuration is wrong: every seed would fail the same way.
            raise cli.UsageError(f"{what}: {said or 'usage error'}")
        raise RuntimeError(
            f"{what} failed (exit {done.returncode}) after {minutes:.1f} min"
            f"{': ' + said if said else ''}; see {log_path}. Fix the cause "
            "and re-run the same command: finished work is kept."
        )
    print(f"{what}: done in {minutes:.1f} min", flush=True)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.gin_file:
        raise cli.UsageError("--gin_file is required.")
    if not FLAGS.output_dir:
        raise cli.UsageError("--output_dir is required.")
    try:
        seeds = [int(seed) for seed in FLAGS.seeds]
    except ValueError:
        raise cli.UsageError(
            f"--seeds takes integers; received {FLAGS.seeds}"
        ) from None
    output_dir = os.path.abspath(
        cli.check_output_dir(FLAGS.output_dir, "--output_dir")
    )
    gin_files = [
        os.path.abspath(path) if os.path.exists(path) else path
        for path in FLAGS.gin_file
    ]
    for seed in seeds:
        model_dir = os.path.join(output_dir, f"seed{seed}")
        os.makedirs(model_dir, exist_ok=True)
        log = os.path.join(model_dir, "log.txt")
        _run(
            train_command(gin_files, FLAGS.gin_param, model_dir, seed),
            log,
            f"seed {seed}: training",
        )
        if FLAGS.judge_dir:
            _run(
                evaluate_command(
                    model_dir,
                    os.path.abspath(FLAGS.judge_dir),
                    FLAGS.eval_flags,
                ),
                log,
                f"seed {seed}: judge",
            )
    if FLAGS.judge_dir:
        table = [
            sys.executable,
            os.path.join(_REPO, "tools", "plot_results.py"),
            "table",
            f"--run=seeds {','.join(FLAGS.seeds)}={output_dir}/seed*",
        ]
        subprocess.run(table, check=True)


if __name__ == "__main__":
    define_flags()
    cli.run(main)
