"""Exports a training directory's generator as a SavedModel.

    dvdgan-export --model_dir=runs/demo \\
        --export_dir=export/demo [--step=N | --best] [--version=V] \\
        [--generator=ema|live]

The EMA generator by default (what the paper samples from); `live` exports
the trained weights themselves (ahead of the average early in training).
`--best` exports the checkpoint the evaluation job kept as best
(`MODEL_DIR/eval/best.json`, or `--results_subdir`), with the generator it
was scored with unless `--generator` says otherwise.

(also `python -m dvdgan_tf.export` or `python tools/export_savedmodel.py`).

Writes EXPORT_DIR/<version>/ (TF Serving layout; version = the step unless
taken) with signatures `serving_default` (z, label -> video), `sample`
(seed, label, truncation -> video) and `metadata`; see
dvdgan_tf/inference/export.py.
Inspect with `saved_model_cli show --all --dir EXPORT_DIR/<version>`.
"""

import os

from absl import app
from absl import flags
from absl import logging

from dvdgan_tf import cli
from dvdgan_tf.evaluation import best as best_lib
from dvdgan_tf.inference import export


def define_flags(flag_values=flags.FLAGS) -> None:
    """Defines the CLI flags (under `__main__` / the console command only)."""
    for kind, name, default, text in (
        ("string", "model_dir", None, "Training directory."),
        ("string", "export_dir", None, "TF Serving base path."),
        ("integer", "step", None, "Checkpoint step; default: the latest."),
        ("integer", "version", None, "Version dir; default: the step."),
        (
            "bool",
            "best",
            False,
            "Export the best checkpoint recorded by the evaluation job "
            "(MODEL_DIR/<results_subdir>/best.json) instead of --step.",
        ),
        (
            "string",
            "results_subdir",
            "eval",
            "With --best: the evaluation's output folder in MODEL_DIR.",
        ),
        (
            "enum",
            "generator",
            None,
            "ema (default) or live; with --best default: the one it was "
            "scored with.",
        ),
    ):
        if kind == "enum":
            flags.DEFINE_enum(
                name, default, ["ema", "live"], text, flag_values=flag_values
            )
            continue
        getattr(flags, f"DEFINE_{kind}")(
            name, default, text, flag_values=flag_values
        )
    flags.mark_flags_as_required(
        ["model_dir", "export_dir"], flag_values=flag_values
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    step, generator = f.step, f.generator
    if f.best:
        if step is not None:
            raise cli.UsageError("--best and --step exclude each other.")
        results_dir = os.path.join(f.model_dir, f.results_subdir)
        record = best_lib.read(results_dir)
        if record is None:
            raise cli.UsageError(
                f"--best: no {best_lib.BEST_FILE} in {results_dir}. Run "
                f"dvdgan-evaluate --model_dir={f.model_dir} (it keeps the "
                "best checkpoint), or give --step."
            )
        step, generator = record["step"], generator or record["generator"]
        logging.info(
            "Best checkpoint: step %d, %s = %.6g (%s generator)",
            step,
            record["metric"],
            record["value"],
            record["generator"],
        )
    cli.check_output_dir(f.export_dir, "--export_dir")
    path = export.export(
        f.model_dir,
        f.export_dir,
        step,
        f.version,
        use_ema=(generator or "ema") == "ema",
    )
    logging.info("SavedModel written to %s", path)


def console_main() -> None:
    """Entry point of the `dvdgan-export` command (setup.cfg)."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
