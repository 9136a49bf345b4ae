"""What a config costs, and whether (and how fast) it runs on given hardware.

    python tools/plan.py --gin_file=gin/k600_256.gin
    python tools/plan.py --gin_file=gin/k600_256.gin --hardware=tpu-v3 \\
        --replicas=512 [--precision=mixed_bfloat16] [--utilisation=0.4]
    python tools/plan.py --gin_file=gin/test_tiny.gin --measure
    python tools/plan.py --paper_table [--output=docs/PLANNING.md]

Builds the config's models exactly as training does (no data, nothing
allocated beyond the weights) and prints, from traced graphs
(`dvdgan_tf.training.costs`):

  * parameters of G, D_S and D_T;
  * FLOPs of one training step (2 D steps + 1 G step) per replica;
  * memory per replica: weights, EMA, Adam slots, the input batch, the peak
    phase's saved activations and gradients, and the growth per clip of
    per-replica batch;
  * for each hardware kind: whether the per-replica batch fits (capacity
    x --headroom), the largest per-replica batch that fits, the fewest
    devices for the config's global batch, and the projected step time and
    time to the config's `train_steps` at --utilisation of the device's
    dense peak; where nothing fits, what would make it fit.

--measure also runs three steps on this machine (CPU) and prints the
measured allocator peak of the third against the prediction (the validation
in docs/PLANNING.md; it sets TF_CPU_ALLOCATOR_USE_BFC so the CPU allocator
keeps statistics). --paper_table writes the table of every paper config
(dvdgan_tf/paper.py) x the hardware kinds, as in docs/PLANNING.md.
Projections are arithmetic on stated assumptions, not measurements.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import subprocess
import sys
import tempfile
import time

if "--measure" in sys.argv or "--measure=true" in sys.argv:
    # Must be set before TensorFlow starts: the CPU allocator then keeps the
    # peak statistics that --measure reads.
    os.environ["TF_CPU_ALLOCATOR_USE_BFC"] = "true"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import gin  # noqa: E402
import keras  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import flags  # noqa: E402

from dvdgan_tf import cli  # noqa: E402
from dvdgan_tf import configurables  # noqa: E402
from dvdgan_tf import paper  # noqa: E402
from dvdgan_tf.training import costs  # noqa: E402
from dvdgan_tf.training.hardware import HARDWARE  # noqa: E402
from dvdgan_tf.training.hardware import Hardware  # noqa: E402

GIB = 2**30


flags.DEFINE_multi_string("gin_file", [], "Config(s) to plan.")
flags.DEFINE_multi_string("gin_param", [], "Extra gin bindings.")
flags.DEFINE_list(
    "hardware",
    list(HARDWARE),
    f"Hardware kinds to plan for, of: {', '.join(HARDWARE)}.",
)
flags.DEFINE_integer(
    "replicas",
    None,
    "Devices (replicas) to plan for; default: the fewest that hold the "
    "config's global batch (a power of two).",
    lower_bound=1,
)
flags.DEFINE_enum(
    "precision",
    None,
    ["float32", "mixed_bfloat16"],
    "Dtype policy to plan for; default: the config's training.run.precision "
    "('auto' counts as mixed_bfloat16).",
)
flags.DEFINE_float(
    "utilisation",
    0.4,
    "Assumed fraction of the dense peak a step achieves (projections only).",
    lower_bound=0.01,
    upper_bound=1.0,
)
flags.DEFINE_float(
    "headroom",
    0.9,
    "Fraction of device memory the step may use (framework reserves, "
    "fragmentation).",
    lower_bound=0.1,
    upper_bound=1.0,
)
flags.DEFINE_bool(
    "measure",
    False,
    "Also run 3 steps here (CPU) and compare the measured allocator peak "
    "with the prediction.",
)
flags.DEFINE_bool(
    "paper_table",
    False,
    "Plan every paper config (dvdgan_tf/paper.py) and print a Markdown table.",
)
flags.DEFINE_list(
    "paper_configs",
    [],
    "--paper_table: only these gin files (default: every paper config).",
)
flags.DEFINE_string("output", None, "--paper_table: write it here too.")
flags.DEFINE_string("json", None, "Also write the plan as JSON here.")
FLAGS = flags.FLAGS


@dataclasses.dataclass(frozen=True)
class ConfigCost:
    """Hardware-independent costs of one config (one replica's view)."""

    name: str
    resolution: int
    num_frames: int
    conditioning_frames: int
    global_batch: int
    train_steps: int
    precision: str
    parameters: dict
    flops_per_clip: float
    memory: costs.StepMemory


def _precision(requested: str | None) -> str:
    if requested:
        return requested
    configured = gin.query_parameter("training.run.precision")
    return "mixed_bfloat16" if configured == "auto" else configured


def config_cost(gin_files, gin_params, precision=None):
    """Parses a config and counts its step's costs at per-replica batch 1.

    Returns:
        (`ConfigCost`, the compiled DVDGAN it was counted on).
    """
    gin.clear_config()
    configurables.add_gin_search_path()
    cli.parse_gin(
        gin_files,
        list(gin_params) + ["training.run.model_dir = 'unused'"],
        finalize_config=False,
    )
    precision = _precision(precision)
    keras.mixed_precision.set_global_policy(precision)
    try:
        model = configurables.build_training_model()
        generator = model.generator
        memory = costs.step_memory(model, batch_size=1)
        flops = costs.step_flops(model, 1)["step"]
        cost = ConfigCost(
            name=" ".join(os.path.basename(f) for f in gin_files),
            resolution=int(generator.resolution),
            num_frames=int(generator.num_frames),
            conditioning_frames=int(model.num_conditioning_frames),
            global_batch=int(
                gin.query_parameter("training.run.global_batch_size")
            ),
            train_steps=int(gin.query_parameter("training.run.train_steps")),
            precision=precision,
            parameters=costs.parameter_counts(model),
            flops_per_clip=float(flops),
            memory=memory,
        )
        return cost, model
    finally:
        keras.mixed_precision.set_global_policy("float32")


def _powers_of_two(limit: int):
    n = 1
    while n <= limit:
        yield n
        n *= 2


def hardware_plan(cost: ConfigCost, hardware: Hardware, replicas, utilisation):
    """Fit, largest batch and projected times of `cost` on `hardware`."""
    capacity = hardware.memory_gib * GIB * FLAGS.headroom
    largest = cost.memory.largest_batch(capacity)
    fewest = None
    for n in _powers_of_two(cost.global_batch):
        if cost.global_batch % n == 0 and cost.global_batch // n <= largest:
            fewest = n
            break
    chosen = replicas or fewest
    plan = {
        "hardware": hardware.name,
        "capacity_gib": capacity / GIB,
        "largest_per_replica_batch": largest,
        "fewest_replicas": fewest,
        "replicas": chosen,
    }
    if chosen is None:
        plan["fits"] = False
        plan["advice"] = advice(cost, capacity)
        return plan
    per_replica = math.ceil(cost.global_batch / chosen)
    needed = cost.memory.total_at(per_replica)
    peak = (
        hardware.bfloat16_tflops
        if cost.precision == "mixed_bfloat16"
        else hardware.float32_tflops
    ) * 1e12
    step_seconds = cost.flops_per_clip * per_replica / (peak * utilisation)
    plan.update(
        {
            "per_replica_batch": per_replica,
            "memory_gib": needed / GIB,
            "fits": needed <= capacity,
            "step_seconds": step_seconds,
            "hours_to_train_steps": step_seconds * cost.train_steps / 3600,
        }
    )
    if not plan["fits"]:
        plan["advice"] = advice(cost, capacity)
    return plan


def advice(cost: ConfigCost, capacity: float) -> str:
    """What would make a per-replica batch of 1 fit `capacity` bytes."""
    memory = cost.memory
    at_one = memory.total_at(1)
    over = at_one - capacity
    if over <= 0:
        return "per-replica batch 1 fits: use more replicas"
    ideas = []
    generator_saved = memory.saved_by_network.get("generator", 0)
    if cost.precision == "float32":
        halved = memory.saved_activations / 2 / GIB
        ideas.append(
            f"mixed_bfloat16 (activations about halve: -{halved:.1f} GiB)"
        )
    if generator_saved:
        ideas.append(
            "rematerialising G's ConvGRU unroll (tf.recompute_grad per "
            f"resolution group; up to -{generator_saved / GIB:.1f} GiB of G's "
            "saved activations; not implemented)"
        )
    return (
        f"needs {at_one / GIB:.1f} GiB at per-replica batch 1, "
        f"{over / GIB:.1f} GiB over: " + "; ".join(ideas)
    )


def measure(cost_model, batch_size: int) -> dict:
    """Allocator peak of one real step here (the third), in bytes."""
    from dvdgan_tf.training import strategies
    from dvdgan_tf.training import trainer

    strategy = tf.distribute.get_strategy()
    data = costs.random_step_input(cost_model, batch_size)
    iterator = iter(
        strategies.distribute_dataset(
            strategy,
            lambda context: tf.data.Dataset.from_tensors(data).repeat(),
        )
    )
    loop = trainer.make_train_loop(strategy, cost_model, False)
    one = tf.constant(1, tf.int32)
    for _ in range(2):
        int(loop(iterator, one)[1])
    before = tf.config.experimental.get_memory_info("CPU:0")["current"]
    tf.config.experimental.reset_memory_stats("CPU:0")
    int(loop(iterator, one)[1])
    info = tf.config.experimental.get_memory_info("CPU:0")
    return {"before_step": before, "peak": info["peak"]}


def _gib(value: float) -> str:
    if value < GIB:
        return f"{value / 2**20:.1f} MiB"
    return f"{value / GIB:.2f} GiB"


def print_cost(cost: ConfigCost) -> None:
    m = cost.memory
    p = cost.parameters
    frames = (
        f"{cost.conditioning_frames} + {cost.num_frames}"
        if cost.conditioning_frames
        else f"{cost.num_frames}"
    )
    print(
        f"{cost.name}: {frames} frames of {cost.resolution}x"
        f"{cost.resolution}, global batch {cost.global_batch}, "
        f"{cost.train_steps:,} steps, {cost.precision}"
    )
    print(
        f"  parameters: G {p['generator'] / 1e6:.1f} M, D_S "
        f"{p['spatial_discriminator'] / 1e6:.1f} M, D_T "
        f"{p['temporal_discriminator'] / 1e6:.1f} M"
    )
    print(
        f"  FLOPs per step per clip of per-replica batch: "
        f"{cost.flops_per_clip / 1e12:.3f} TFLOP"
    )
    print(
        f"  memory per replica at batch 1: {_gib(m.total_at(1))} = weights "
        f"{_gib(m.networks)} + EMA {_gib(m.ema_generator)} + Adam "
        f"{_gib(m.optimizers)} + input {_gib(m.input_batch)} + saved "
        f"activations {_gib(m.saved_activations)} ({m.peak_phase}) + "
        f"gradients {_gib(m.gradients)} + working set {_gib(m.working_set)}"
    )
    print(f"  each further clip of per-replica batch: {_gib(m.per_clip)}")


def print_plan(plan: dict) -> None:
    name = plan["hardware"]
    if plan["replicas"] is None:
        print(f"  {name}: does not fit: {plan['advice']}")
        return
    verdict = "fits" if plan["fits"] else "does NOT fit"
    line = (
        f"  {name}: {plan['replicas']} replicas x batch "
        f"{plan['per_replica_batch']}: {plan['memory_gib']:.1f} of "
        f"{plan['capacity_gib']:.1f} GiB, {verdict} (largest per-replica "
        f"batch {plan['largest_per_replica_batch']}); "
        f"{plan['step_seconds']:.2f} s/step, "
        f"{plan['hours_to_train_steps']:.0f} h to the config's steps"
    )
    if not plan["fits"]:
        line += f"; {plan['advice']}"
    print(line)


def _row(experiment, planned: dict) -> str:
    """One Markdown row from a config's --json plan."""
    memory = planned["memory"]
    cells = [
        f"`{experiment.gin_file}`",
        experiment.table,
        f"{planned['parameters']['total'] / 1e6:.0f} M",
        f"{planned['flops_per_clip'] / 1e12:.2f}",
        f"{memory['total'] / GIB:.1f}",
        f"{memory['per_clip'] / GIB:.2f}",
    ]
    for plan in planned["plans"]:
        if plan["replicas"] is None:
            cells.append("does not fit")
        else:
            cells.append(
                f"{plan['largest_per_replica_batch']} / "
                f"{plan['replicas']} / {plan['hours_to_train_steps']:.0f} h"
            )
    return "| " + " | ".join(cells) + " |"


def paper_table(hardware, utilisation, precision, only=()) -> str:
    """The Markdown table of every paper config (or those in `only`).

    Each config is planned in its own process (`--json`): a 256x256 model
    with its EMA and Adam slots holds several GiB, and one process planning
    them one after another ran out of memory on a 24 GiB box.
    """
    header = (
        "| config | paper | params | TFLOP per clip-step | GiB at B=1 | "
        "GiB per clip | "
        + " | ".join(
            f"{HARDWARE[h].name}: max B / devices / hours" for h in hardware
        )
        + " |"
    )
    lines = [header, "|" + "---|" * (6 + len(hardware))]
    with tempfile.TemporaryDirectory() as scratch:
        for experiment in paper.EXPERIMENTS:
            if only and experiment.gin_file not in only:
                continue
            started = time.perf_counter()
            path = os.path.join(scratch, "plan.json")
            command = [
                sys.executable,
                os.path.abspath(__file__),
                f"--gin_file={experiment.gin_file}",
                f"--hardware={','.join(hardware)}",
                f"--utilisation={utilisation}",
                f"--headroom={FLAGS.headroom}",
                f"--json={path}",
            ]
            if precision:
                command.append(f"--precision={precision}")
            subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
            with open(path) as f:
                lines.append(_row(experiment, json.load(f)))
            print(lines[-1], f"({time.perf_counter() - started:.0f} s)")
    return "\n".join(lines) + "\n"


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"Unexpected arguments: {argv[1:]}")
    unknown = [h for h in FLAGS.hardware if h not in HARDWARE]
    if unknown:
        raise cli.UsageError(
            f"--hardware: unknown kind(s) {unknown}; choose from "
            f"{', '.join(HARDWARE)}."
        )
    if FLAGS.paper_table:
        table = paper_table(
            FLAGS.hardware,
            FLAGS.utilisation,
            FLAGS.precision,
            FLAGS.paper_configs,
        )
        if FLAGS.output:
            with open(FLAGS.output, "w") as f:
                f.write(table)
        return
    if not FLAGS.gin_file:
        raise cli.UsageError("Give --gin_file (or --paper_table).")
    cost, model = config_cost(FLAGS.gin_file, FLAGS.gin_param, FLAGS.precision)
    print_cost(cost)
    plans = [
        hardware_plan(cost, HARDWARE[h], FLAGS.replicas, FLAGS.utilisation)
        for h in FLAGS.hardware
    ]
    for plan in plans:
        print_plan(plan)
    result = {
        "config": cost.name,
        "precision": cost.precision,
        "parameters": cost.parameters,
        "flops_per_clip": cost.flops_per_clip,
        "memory": {
            **dataclasses.asdict(cost.memory),
            "persistent": cost.memory.persistent,
            "total": cost.memory.total,
        },
        "plans": plans,
        "utilisation": FLAGS.utilisation,
    }
    if FLAGS.measure:
        batch = cost.global_batch
        measured = measure(model, batch)
        predicted = cost.memory.total_at(batch)
        result["measured"] = {
            "per_replica_batch": batch,
            "peak_bytes": measured["peak"],
            "predicted_bytes": predicted,
            "error": predicted / measured["peak"] - 1,
        }
        print(
            f"  measured here at batch {batch}: allocator peak "
            f"{_gib(measured['peak'])}, predicted {_gib(predicted)} "
            f"({predicted / measured['peak'] - 1:+.0%})"
        )
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(result, f, indent=2, default=float)


if __name__ == "__main__":
    cli.run(main)
