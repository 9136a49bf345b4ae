"""The error contract of every command line (dvdgan_tf/cli.py), by running it.

Every CLI of the project (`python -m dvdgan_tf.{train,evaluate,sample,
convert,export}`, i.e. the `dvdgan-*` commands,
every `tools/*.py`, every `bench/*.py`) must end a usage error (unknown
flag, bad gin, a bad flag value) with exit status 2 and a runtime failure
(missing data, model or results) with exit status 1, each as **one**
``error:`` line on stderr naming what was wrong, and no traceback. The cases
below run as parallel subprocesses (one TensorFlow import each), once per
module; each test then checks one case's outcome.
"""

from __future__ import annotations

import glob
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
MISSING = "/nonexistent/dvdgan_tf_contract"

MODULES = [
    "dvdgan_tf.train",
    "dvdgan_tf.evaluate",
    "dvdgan_tf.sample",
    "dvdgan_tf.convert",
    "dvdgan_tf.export",
]
SCRIPTS = sorted(
    os.path.relpath(path, REPO)
    for path in glob.glob(os.path.join(REPO, "tools", "*.py"))
    + glob.glob(os.path.join(REPO, "bench", "*.py"))
)
EVERY_CLI = MODULES + SCRIPTS


GIN_FILES = {
    "bad.gin": "training.run.train_steps = = 3\n",
    "token.gin": "include 'test_tiny.gin'\ntraining.run.train_steps = (3\n",
    "macro.gin": "include 'test_tiny.gin'\ntraining.run.train_steps = %NOPE\n",
    "frames.gin": "NUM_FRAMES = 'eight'\nRESOLUTION = 32\n",
}


def _command(cli: str, args: list[str]) -> list[str]:
    if cli.endswith(".py"):
        return [sys.executable, os.path.join(REPO, cli), *args]
    return [sys.executable, "-m", cli, *args]


def _cases(tmp: str) -> dict:
    """{(cli, case): (args, expected exit status, text the line names)}."""
    bad_gin = os.path.join(tmp, "bad.gin")
    out = os.path.join(tmp, "out")
    cases = {}
    for cli in EVERY_CLI:
        first = (
            ["synthetic"]
            if cli in ("tools/make_tfrecords.py", "dvdgan_tf.convert")
            else []
        )
        cases[(cli, "unknown_flag")] = (
            [*first, "--no_such_flag=1"],
            2,
            "no_such_flag",
        )
    for cli in (
        "dvdgan_tf.train",
        "tools/train_judge.py",
        "tools/model_summary.py",
        "tools/run_seeds.py",
        "bench/train_step.py",
    ):
        cases[(cli, "bad_gin")] = (
            [
                f"--gin_file={bad_gin}",
                f"--model_dir={out}",
                f"--judge_dir={out}",
                f"--output_dir={out}",
            ],
            2,
            "bad.gin",
        )
    # Flags the gin CLIs do not define are dropped from their cases.
    data = f"--gin_param=DATA_DIR='{MISSING}'"
    cases.update(
        {
            ("dvdgan_tf.train", "missing_data"): (
                ["--gin_file=gin/test_tiny.gin", data, f"--model_dir={out}"],
                1,
                MISSING,
            ),
            ("dvdgan_tf.evaluate", "missing_model"): (
                [f"--model_dir={MISSING}", "--metrics=judge"],
                1,
                MISSING,
            ),
            ("dvdgan_tf.sample", "missing_model"): (
                [f"--model_dir={MISSING}", f"--output={out}"],
                1,
                MISSING,
            ),
            ("tools/export_savedmodel.py", "missing_model"): (
                [f"--model_dir={MISSING}", f"--export_dir={out}"],
                1,
                MISSING,
            ),
            ("tools/make_tfrecords.py", "missing_input"): (
                ["folder", f"--input_dir={MISSING}", f"--output_dir={out}"],
                1,
                MISSING,
            ),
            ("dvdgan_tf.train", "gin_token_error"): (
                [f"--gin_file={tmp}/token.gin", f"--model_dir={out}"],
                2,
                "token.gin",
            ),
            ("dvdgan_tf.train", "undefined_macro"): (
                [f"--gin_file={tmp}/macro.gin", f"--model_dir={out}"],
                2,
                "%NOPE used but never defined",
            ),
            ("dvdgan_tf.train", "zero_train_steps"): (
                [
                    "--gin_file=gin/test_tiny.gin",
                    "--gin_param=training.run.train_steps=0",
                    f"--model_dir={out}",
                ],
                2,
                "train_steps",
            ),
            ("tools/train_judge.py", "zero_epochs"): (
                ["--epochs=0", f"--judge_dir={out}"],
                2,
                "epochs",
            ),
            ("tools/train_judge.py", "non_integer_macro"): (
                [f"--gin_file={tmp}/frames.gin", f"--judge_dir={out}"],
                2,
                "NUM_FRAMES = 'eight'",
            ),
            ("tools/diagnose_motion.py", "missing_model"): (
                [f"--model_dir={MISSING}", f"--judge_dir={MISSING}"],
                1,
                MISSING,
            ),
            ("tools/plot_results.py", "no_results"): (
                ["table", f"--run=empty={tmp}"],
                1,
                "holds no results",
            ),
            ("tools/model_summary.py", "bad_value"): (
                [
                    "--gin_file=gin/test_tiny.gin",
                    "--gin_param=generator.build_generator.resolution=12",
                ],
                1,
                "12",
            ),
            ("tools/diagnose_motion.py", "zero_clips"): (
                [f"--model_dir={MISSING}", "--num_clips=0"],
                2,
                "num_clips",
            ),
            ("bench/data_throughput.py", "zero_clips"): (
                ["--num_clips=0"],
                2,
                "num_clips",
            ),
            ("tools/mutation_check.py", "unknown_mutation"): (
                ["--only=no_such_mutation"],
                2,
                "no_such_mutation",
            ),
            ("bench/train_step.py", "missing_data"): (
                ["--gin_file=gin/test_tiny.gin", f"--data_dir={MISSING}"],
                1,
                MISSING,
            ),
        }
    )
    return cases


def _keep_defined_flags(cli, args):
    """The bad-gin case passes every output flag; keep the CLI's own."""
    owned = {
        "dvdgan_tf.train": ("--gin_file", "--model_dir"),
        "tools/train_judge.py": ("--gin_file", "--judge_dir"),
        "tools/model_summary.py": ("--gin_file",),
        "tools/run_seeds.py": ("--gin_file", "--output_dir"),
        "bench/train_step.py": ("--gin_file",),
    }[cli]
    return [a for a in args if a.split("=")[0] in owned]


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory):
    tmp = str(tmp_path_factory.mktemp("contract"))
    for name, text in GIN_FILES.items():
        with open(os.path.join(tmp, name), "w") as f:
            f.write(text)
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="3")
    env.pop("DVDGAN_TF_TRACEBACK", None)
    processes = {}
    for key, (args, _, _) in _cases(tmp).items():
        if key[1] == "bad_gin":
            args = _keep_defined_flags(key[0], args)
        processes[key] = subprocess.Popen(
            _command(key[0], args),
            cwd=REPO,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
    results = {}
    for key, process in processes.items():
        try:
            stdout, stderr = process.communicate(timeout=300)
        except subprocess.TimeoutExpired:
            process.kill()
            stdout, stderr = process.communicate()
        results[key] = (process.returncode, stdout, stderr)
    return results


def _check(outcomes, key, status, names):
    returncode, stdout, stderr = outcomes[key]
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    where = f"{key}: rc={returncode}\n{stderr[-2500:]}"
    assert returncode == status, where
    assert len(errors) == 1, where
    assert names in errors[0], where
    assert "Traceback" not in stderr, where


_ALL = sorted(_cases("/tmp"))


@pytest.mark.parametrize("key", _ALL, ids=["-".join(k) for k in _ALL])
def test_cli_failure_is_one_error_line_with_its_exit_status(outcomes, key):
    _, status, names = _cases("/tmp")[key]
    _check(outcomes, key, status, names)


def test_every_cli_is_covered():
    covered = {cli for cli, _ in _ALL}
    assert covered == set(EVERY_CLI)
    assert "tools/run_seeds.py" in covered and "bench/scaling.py" in covered
