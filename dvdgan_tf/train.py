r"""Trains DVD-GAN: ``python -m dvdgan_tf.train --gin_file=... [flags]``.

flags -> gin -> strategy -> `dvdgan_tf.training.trainer.run` (the single gin
root).
Everything but the flags below is configured in gin; see gin/base.gin for
the defaults and gin/demo_cpu.gin for a CPU-sized example:

  python -m dvdgan_tf.train --gin_file=gin/demo_cpu.gin \
      --gin_param="training.run.model_dir='runs/demo'" \
      --gin_param="DATA_DIR='data/synthetic'"

Re-running the same command resumes from the last checkpoint in the model
directory. SIGTERM saves a checkpoint and exits with status 0.
"""

from __future__ import annotations

import os
import sys

# Before TensorFlow is imported (by the package): silence its C++ INFO logs.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import gin  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from dvdgan_tf import cli  # noqa: E402
from dvdgan_tf import configurables  # noqa: E402
from dvdgan_tf.training import strategies  # noqa: E402
from dvdgan_tf.training import trainer as training  # noqa: E402
from dvdgan_tf.training import worker_preemption  # noqa: E402

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the CLI flags (only when run as a program: importing this
    module for `parse_config` must not claim global flag names)."""
    flags.DEFINE_multi_string(
        "gin_file",
        [],
        "Gin config file(s), parsed in order; relative paths and `include`s "
        "are also looked up among the bundled configs (gin/ of a checkout) "
        f"({configurables.GIN_DIR}).",
    )
    flags.DEFINE_multi_string(
        "gin_param",
        [],
        "Gin binding(s) applied after the files, e.g. "
        '--gin_param="training.run.train_steps=1000" or '
        "--gin_param=\"DATA_DIR='data/synthetic'\".",
    )
    flags.DEFINE_string(
        "model_dir",
        None,
        "Output directory (checkpoints, TensorBoard events, configs); "
        "overrides training.run.model_dir. Re-using a directory resumes its "
        "training.",
    )
    flags.DEFINE_string(
        "tpu",
        None,
        "TPU name or address ('local' on a TPU VM). Selects TPUStrategy and "
        "overrides --strategy.",
    )
    flags.DEFINE_enum(
        "strategy",
        "default",
        ["default", "mirrored", "multi_worker"],
        "Distribution without --tpu: 'default' (one device), 'mirrored' "
        "(all local GPUs, synchronous), 'multi_worker' "
        "(MultiWorkerMirroredStrategy; the cluster comes from the TF_CONFIG "
        "environment variable).",
    )
    flags.DEFINE_list(
        "devices",
        None,
        "With --strategy=mirrored: explicit devices, e.g. /gpu:0,/gpu:1.",
    )
    flags.DEFINE_float(
        "worker_heartbeat_s",
        strategies.DEFAULT_HEARTBEAT_TIMEOUT_S,
        "With --strategy=multi_worker: seconds without a heartbeat after "
        "which a worker counts as lost and the others stop with the last "
        "checkpoint (TF's own 10 s fails on busy hosts).",
        lower_bound=1.0,
    )


class ConfigError(cli.UsageError):
    """The gin configuration is invalid (raised before any work starts)."""


def parse_config(gin_files, gin_params, model_dir: str | None = None) -> None:
    """Parses gin files and bindings; validates before anything is built.

    Args:
        gin_files: config files (searched also in the repo's gin/ dir).
        gin_params: extra bindings, applied last.
        model_dir: if set, overrides ``training.run.model_dir``.

    Raises:
        ConfigError: no config, an unknown configurable or parameter, a
            syntax error, a missing file, or no model_dir.
    """
    if not gin_files:
        raise ConfigError(
            "No --gin_file given. Start from gin/demo_cpu.gin (CPU demo) or "
            "an experiment file such as gin/k600_64.gin."
        )
    configurables.add_gin_search_path()
    params = list(gin_params)
    if model_dir:
        params.append(f"training.run.model_dir = {model_dir!r}")
    try:
        cli.parse_gin(gin_files, params, finalize_config=False)
    except cli.UsageError as error:
        raise ConfigError(str(error)) from None
    unused = configurables.unused_macros()
    if unused:
        raise ConfigError(
            f"Gin macro(s) {unused} are defined but never used (a typo of "
            "a macro name?). Macros in use: NUM_CLASSES, RESOLUTION, "
            "NUM_FRAMES, LATENT_DIM, CHANNEL_MULTIPLIER, DATA_DIR (see "
            "gin/base.gin)."
        )
    try:
        configured_dir = gin.query_parameter("training.run.model_dir")
    except ValueError:
        configured_dir = None
    if not configured_dir:
        raise ConfigError(
            "No model directory: pass --model_dir=DIR or "
            "--gin_param=\"training.run.model_dir='DIR'\"."
        )
    gin.finalize()


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(
            f"Unexpected positional arguments: {argv[1:]}. Configure with "
            "--gin_file/--gin_param."
        )

    # Parsing gin runs no TF op; it only validates names.
    parse_config(FLAGS.gin_file, FLAGS.gin_param, FLAGS.model_dir)
    cli.check_output_dir(
        gin.query_parameter("training.run.model_dir"),
        "--model_dir",
        create=False,
    )
    # The strategy before any variable or op: TPU initialisation and the
    # multi-worker collectives must come first.
    try:
        strategy = strategies.make_strategy(
            tpu=FLAGS.tpu,
            strategy=FLAGS.strategy,
            devices=FLAGS.devices,
            heartbeat_timeout_s=FLAGS.worker_heartbeat_s,
        )
    except ValueError as error:
        raise cli.UsageError(str(error)) from None
    logging.info(
        "Strategy %s with %d replica(s).",
        type(strategy).__name__,
        strategy.num_replicas_in_sync,
    )
    result = training.run(strategy)
    logging.info(
        "Finished at step %d%s; outputs in %s.",
        result.step,
        " (preempted)" if result.preempted else "",
        result.model_dir,
    )
    if result.preempted and worker_preemption.num_workers(strategy) > 1:
        # Every worker saved the same step; a non-zero status makes a
        # cluster manager restart the job (docs/TRAINING.md, "Preemption of
        # a multi-worker run").
        sys.exit(worker_preemption.PREEMPTED_EXIT)


def console_main() -> None:
    """Entry point of the `dvdgan-train` command (setup.cfg)."""
    define_flags()
    cli.run(main)


if __name__ == "__main__":
    console_main()
