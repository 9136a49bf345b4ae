"""XLA readiness: does each config's per-replica step compile with XLA?

    .venv/bin/python bench/xla_compile.py          # every paper config
    .venv/bin/python bench/xla_compile.py --gin_file=gin/k600_64.gin \\
        [--stage=hlo|optimized_hlo] [--run] [--json=out.json]

TPUs run nothing but XLA, so a step that holds one op without an XLA kernel
(a py_func, a string op, a host-side assert) fails on a pod after the job
has been scheduled. For each config this builds G, D_S, D_T, the DVDGAN and
both optimizers through the training builders
(`configurables.build_training_model`), wraps `DVDGAN.train_step` in
``tf.function(jit_compile=True)`` exactly as `training.make_train_loop` does
with ``training.run.jit_compile = True``, and at per-replica batch 1
(``--batch``):

  * ``--stage=hlo``: lowers the step to XLA HLO. Every TF op is translated
    by its XLA kernel here, so an op XLA cannot compile fails with its
    name; nothing is allocated but the weights;
  * ``--stage=optimized_hlo`` (default): also runs XLA's HLO verifier and
    optimisation passes (the CPU compiler's pipeline). Some errors appear
    only here: mixed_bfloat16's upsampling gradient mixed float32 into a
    bfloat16 op and passed the lowering (fixed in `models.blocks`);
  * ``--run``: then runs one full step through `make_train_loop` (XLA
    compile + execute on this machine) and checks its losses are finite.

It prints one line per config (lowering seconds, HLO instructions, the
result) and exits 1 if any config fails. Numbers are from this CPU; no
time is asserted.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import gin  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

from dvdgan_tf import cli  # noqa: E402
from dvdgan_tf import configurables  # noqa: E402
from dvdgan_tf import paper  # noqa: E402
from dvdgan_tf.training import costs  # noqa: E402
from dvdgan_tf.training import strategies  # noqa: E402
from dvdgan_tf.training import trainer  # noqa: E402

flags.DEFINE_multi_string(
    "gin_file", [], "Configs to check (default: every paper config)."
)
flags.DEFINE_multi_string("gin_param", [], "Extra gin bindings (all configs).")
flags.DEFINE_enum(
    "stage",
    "optimized_hlo",
    ["hlo", "optimized_hlo"],
    "How far to compile (optimized_hlo also runs the HLO verifier).",
)
flags.DEFINE_enum(
    "precision",
    None,
    ["float32", "mixed_bfloat16"],
    "Dtype policy; default: the config's training.run.precision ('auto' "
    "counts as mixed_bfloat16, what a TPU runs).",
)
flags.DEFINE_integer("batch", 1, "Per-replica batch.", lower_bound=1)
flags.DEFINE_bool("run", False, "Also run one XLA step (compile + execute).")
flags.DEFINE_string("json", None, "Also write the results here.")
FLAGS = flags.FLAGS


def lower(model, spec: dict, stage: str = "hlo") -> str:
    """`model.train_step` under ``jit_compile=True`` as XLA HLO text.

    Raises whatever TF raises when an op has no XLA kernel.
    """
    step = tf.function(model.train_step, jit_compile=True)
    # Concrete inputs: get_compiler_ir takes no nested TensorSpecs.
    zeros = tf.nest.map_structure(lambda s: tf.zeros(s.shape, s.dtype), spec)
    return step.experimental_get_compiler_ir(zeros)(stage=stage)


def unsupported_ops(message: str) -> list[str]:
    """Op types named in an XLA 'no kernel' error."""
    found = re.findall(r"No registered '([A-Za-z0-9_]+)' OpKernel", message)
    found += re.findall(r"op ([A-Za-z0-9_]+) .*?not .*?compil", message)
    return sorted(set(found))


def check_config(
    gin_files,
    gin_params,
    stage="hlo",
    batch_size=1,
    run=False,
    precision=None,
):
    """Lowers (and optionally runs) one config's XLA step; returns a dict.

    Keys: config, precision, ok, lower_seconds, hlo_instructions, error,
    unsupported_ops, and with `run`: run_seconds, finite.
    """
    gin.clear_config()
    configurables.add_gin_search_path()
    cli.parse_gin(
        gin_files,
        list(gin_params) + ["training.run.model_dir = 'unused'"],
        finalize_config=False,
    )
    if precision is None:
        precision = gin.query_parameter("training.run.precision")
        precision = "mixed_bfloat16" if precision == "auto" else precision
    result = {
        "config": " ".join(os.path.basename(f) for f in gin_files),
        "precision": precision,
    }
    keras.mixed_precision.set_global_policy(precision)
    try:
        return _check(result, stage, batch_size, run)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _check(result, stage, batch_size, run):
    model = configurables.build_training_model()
    spec = costs.step_input_spec(model, batch_size)
    started = time.perf_counter()
    try:
        hlo = lower(model, spec, stage)
    except Exception as error:  # noqa: BLE001 - reported, not raised
        result.update(
            ok=False,
            error=str(error).splitlines()[0][:500],
            unsupported_ops=unsupported_ops(str(error)),
        )
        return result
    result.update(
        ok=True,
        stage=stage,
        batch_size=batch_size,
        lower_seconds=time.perf_counter() - started,
        hlo_instructions=sum(1 for line in hlo.splitlines() if " = " in line),
    )
    if run:
        result.update(_run_one_step(model, batch_size))
        result["ok"] = result["finite"]
    return result


def _run_one_step(model, batch_size: int) -> dict:
    strategy = tf.distribute.get_strategy()
    data = costs.random_step_input(model, batch_size)
    iterator = iter(
        strategies.distribute_dataset(
            strategy,
            lambda context: tf.data.Dataset.from_tensors(data).repeat(),
        )
    )
    loop = trainer.make_train_loop(strategy, model, jit_compile=True)
    started = time.perf_counter()
    totals, count, last = loop(iterator, tf.constant(1, tf.int32))
    finite = bool(
        all(np.isfinite(float(value)) for value in last.values())
        and int(count) == 1
    )
    return {
        "run_seconds": time.perf_counter() - started,
        "finite": finite,
        "losses": {k: float(v) for k, v in last.items() if "losses" in k},
    }


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"Unexpected arguments: {argv[1:]}")
    configs = [[f] for f in FLAGS.gin_file] or [
        [e.gin_file] for e in paper.EXPERIMENTS
    ]
    results = []
    for gin_files in configs:
        result = check_config(
            gin_files,
            FLAGS.gin_param,
            FLAGS.stage,
            FLAGS.batch,
            FLAGS.run,
            FLAGS.precision,
        )
        results.append(result)
        if result["ok"]:
            line = (
                f"{result['config']:22s} {result['precision']:15s} ok: "
                f"{FLAGS.stage} in "
                f"{result['lower_seconds']:.0f} s, "
                f"{result['hlo_instructions']:,} HLO instructions"
            )
            if FLAGS.run:
                line += f"; one step ran in {result['run_seconds']:.0f} s"
        else:
            line = (
                f"{result['config']:22s} {result['precision']:15s} FAILED: "
                f"{result.get('error')}"
                f" (ops: {result.get('unsupported_ops')})"
            )
        print(line, flush=True)
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(results, f, indent=2)
    if not all(r["ok"] for r in results):
        sys.exit(1)


if __name__ == "__main__":
    cli.run(main)
