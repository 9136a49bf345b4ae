"""Training-step bench: seconds per DVD-GAN step, FLOPs and utilisation.

    .venv/bin/python bench/train_step.py --gin_file=gin/bench_cpu.gin
    .venv/bin/python bench/train_step.py --gin_file=gin/bench_cpu.gin \\
        --gin_param="RESOLUTION = 64" --gin_param="NUM_FRAMES = 12" \\
        --gin_param="CHANNEL_MULTIPLIER = 16" [--jit] \\
        [--precision=mixed_bfloat16] [--strategy=mirrored] [--data_dir=DIR] \\
        [--profile_dir=DIR] [--json=out.json]

Builds G, D_S, D_T, the DVDGAN and both optimizers through the same gin
builders as training (`training.run`'s gin bindings), feeds an in-memory
batch (or, with --data_dir, the real `pipeline.make_dataset` reader), traces
the step once (warm-up, not timed), then times --steps single-step host
calls as separate measurements (`training.make_train_loop`, the function
training calls). It prints:

  * median / min / max seconds per step and clips per second (generated +
    real clips the step processes);
  * analytic FLOPs of one step (`dvdgan_tf.training.costs.step_flops`, see
    bench/README.md: the convolutions and matmuls of each network's forward
    pass, read from the traced graph's static shapes, combined per the
    step's structure) and the achieved FLOP/s;
  * that as a fraction of this machine's dense matmul peak, measured in the
    same process right before the steps (best of several 2048^3 matmuls in
    the step's compute dtype);
  * the peak RSS and the number of traces of the step function (1 per shape).

With --profile_dir the timed steps also run under the TF profiler and a
per-component table of device time is printed (bench/README.md explains the
grouping). Benchmarks print numbers; nothing here asserts a time.
"""

from __future__ import annotations

import collections
import glob
import json
import os
import resource
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import gin  # noqa: E402
import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from dvdgan_tf import cli  # noqa: E402
from dvdgan_tf import configurables  # noqa: E402
from dvdgan_tf.data import manifest as manifest_lib  # noqa: E402
from dvdgan_tf.training import costs  # noqa: E402
from dvdgan_tf.training import strategies  # noqa: E402
from dvdgan_tf.training import trainer as training  # noqa: E402

flags.DEFINE_multi_string("gin_file", ["gin/bench_cpu.gin"], "Gin files.")
flags.DEFINE_multi_string("gin_param", [], "Gin bindings.")
flags.DEFINE_bool("jit", False, "XLA-compile the per-replica step.")
flags.DEFINE_enum(
    "precision", "float32", ["float32", "mixed_bfloat16"], "Dtype policy."
)
flags.DEFINE_enum(
    "strategy", "default", ["default", "mirrored"], "Distribution strategy."
)
flags.DEFINE_integer(
    "logical_cpus",
    0,
    "With --strategy=mirrored on a CPU host: split the CPU into this many "
    "logical devices and mirror over them (0: all local GPUs).",
)
flags.DEFINE_integer(
    "steps", 20, "Timed steps (separate measurements).", lower_bound=1
)
flags.DEFINE_integer("warmup", 2, "Untimed steps after tracing.")
flags.DEFINE_string("data_dir", None, "Read this dataset instead of memory.")
flags.DEFINE_string("profile_dir", None, "Profile the timed steps here.")
flags.DEFINE_string("json", None, "Also write the numbers to this file.")
FLAGS = flags.FLAGS

_MATMUL_SIZE = 2048


def _query(name):
    return gin.query_parameter(name)


def _in_memory_dataset(global_batch, num_frames, resolution, num_classes):
    def dataset_fn(context):
        batch = context.get_per_replica_batch_size(global_batch)
        rng = np.random.default_rng(0)
        data = {
            "video": rng.uniform(
                -1, 1, (batch, num_frames, resolution, resolution, 3)
            ).astype(np.float32),
            "label": (np.arange(batch) % max(num_classes, 1)).astype(np.int32),
        }
        return tf.data.Dataset.from_tensors(data).repeat()

    return dataset_fn


def _real_dataset(data_dir, global_batch, generator):
    pattern = manifest_lib.check_training_data(data_dir, "train")
    make_dataset = gin.get_configurable("pipeline.make_dataset")

    def dataset_fn(context):
        return make_dataset(
            context,
            file_pattern=pattern,
            global_batch_size=global_batch,
            num_frames=generator.num_frames,
            resolution=generator.resolution,
            frame_stride=_query("training.run.frame_stride"),
        )

    return dataset_fn


# --- analytic FLOPs: dvdgan_tf/training/costs.py (also tools/plan.py) ---


def matmul_peak(dtype, repeats: int = 8) -> float:
    """Best FLOP/s of a square matmul in `dtype` on this machine."""
    n = _MATMUL_SIZE
    a = tf.random.normal([n, n], dtype=tf.float32)
    b = tf.random.normal([n, n], dtype=tf.float32)
    a, b = tf.cast(a, dtype), tf.cast(b, dtype)
    matmul = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    matmul(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        matmul(a, b).numpy()
        best = min(best, time.perf_counter() - start)
    return 2.0 * n**3 / best


# --- profile -------------------------------------------------------------


# The rules, in order, on each TF op event "<op name>:<op type>" of the
# executor threads (the op name carries the name scopes).
def _component(op_name: str, op_type: str) -> str:
    if op_type.startswith("IteratorGetNext"):
        return "input pipeline (wait + copy)"
    if "/adam/" in op_name or op_type.startswith("ResourceApply"):
        return "optimizer (Adam)"
    if "/ema/" in op_name:
        return "EMA update"
    if "spectral_norm" in op_name:
        return "spectral norm (sigma, u; fwd + bwd)"
    backward = "gradient_tape" in op_name
    for scope, network in (
        ("temporal_discriminator", "D_T"),
        ("spatial_discriminator", "D_S"),
        ("generator", "G"),
    ):
        if scope in op_name:
            return f"{network} {'backward' if backward else 'forward'}"
    return f"other ({'backward' if backward else 'forward'}: D inputs, losses)"


# Ops that only wrap other ops (their time is counted inside them).
_CONTAINERS = ("While", "StatelessWhile", "If", "StatelessIf")
_CONTAINERS += ("PartitionedCall", "StatefulPartitionedCall")


def profile_table(profile_dir: str) -> list[tuple[str, float, float]]:
    """(component, op-milliseconds in all, share) from an xplane profile.

    Sums the durations of TF op events on the executor threads
    (`tf_Compute/...` lines of the `/host:CPU` plane) by `_component`, plus
    the time the step's `IteratorGetNext` waits for its batch (the input
    pipeline's own work runs on tf.data threads, overlapped with the step,
    and is not counted). With inter-op parallelism the op sum exceeds wall
    time; shares are what matter.
    """
    from tensorflow.tsl.profiler.protobuf import xplane_pb2

    paths = glob.glob(
        os.path.join(profile_dir, "plugins", "profile", "*", "*.xplane.pb")
    )
    if not paths:
        return []
    space = xplane_pb2.XSpace()
    with open(max(paths, key=os.path.getmtime), "rb") as f:
        space.ParseFromString(f.read())
    totals = collections.Counter()
    for plane in space.planes:
        if not plane.name.startswith("/host:CPU"):
            continue
        names = {k: v.name for k, v in plane.event_metadata.items()}
        for line in plane.lines:
            compute = line.name.startswith("tf_Compute")
            for event in line.events:
                name = names.get(event.metadata_id, "")
                if name.startswith("IteratorGetNextOp::DoCompute"):
                    # The step waiting for (and copying) its input batch.
                    totals["input pipeline (wait + copy)"] += event.duration_ps
                    continue
                if not compute or ":" not in name or "::" in name:
                    continue  # executor bookkeeping, not an op
                op_name, op_type = name.rsplit(":", 1)
                if op_type in _CONTAINERS:
                    continue
                totals[_component(op_name, op_type)] += event.duration_ps
    total = sum(totals.values()) or 1
    return [
        (component, ps / 1e9, ps / total)
        for component, ps in totals.most_common()
    ]


def _memory_device() -> str | None:
    """The device whose allocator peak the timed steps are measured on: the
    first GPU, else the CPU (whose allocator keeps statistics only with
    TF_CPU_ALLOCATOR_USE_BFC=true set before TensorFlow starts)."""
    if tf.config.list_logical_devices("GPU"):
        return "GPU:0"
    if os.environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").lower() == "true":
        return "CPU:0"
    return None


def _device_peak(device) -> float | None:
    """Allocator peak of the timed steps in GiB (None: not measured)."""
    if not device:
        return None
    return tf.config.experimental.get_memory_info(device)["peak"] / 2**30


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    configurables.add_gin_search_path()
    cli.parse_gin(
        FLAGS.gin_file,
        FLAGS.gin_param + ["training.run.model_dir = 'unused'"],
        finalize_config=False,
    )
    keras.mixed_precision.set_global_policy(FLAGS.precision)
    devices = None
    if FLAGS.logical_cpus:
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu,
            [tf.config.LogicalDeviceConfiguration()] * FLAGS.logical_cpus,
        )
        devices = [f"/cpu:{i}" for i in range(FLAGS.logical_cpus)]
    strategy = strategies.make_strategy(
        strategy=FLAGS.strategy, devices=devices
    )
    model = configurables.build_training_model(strategy)
    generator = model.generator
    global_batch = _query("training.run.global_batch_size")
    steps_per_batch = model.num_discriminator_steps
    examples = global_batch * steps_per_batch
    if FLAGS.data_dir:
        dataset_fn = _real_dataset(FLAGS.data_dir, examples, generator)
    else:
        dataset_fn = _in_memory_dataset(
            examples,
            generator.num_frames,
            generator.resolution,
            generator.num_classes,
        )
    iterator = iter(strategies.distribute_dataset(strategy, dataset_fn))
    train_loop = training.make_train_loop(strategy, model, FLAGS.jit)
    one = tf.constant(1, tf.int32)

    started = time.perf_counter()
    int(train_loop(iterator, one)[1])  # tracing
    trace_seconds = time.perf_counter() - started
    for _ in range(FLAGS.warmup):
        int(train_loop(iterator, one)[1])

    compute_dtype = tf.bfloat16 if "bfloat16" in FLAGS.precision else tf.float32
    peak = matmul_peak(compute_dtype)
    per_replica = global_batch // strategy.num_replicas_in_sync
    flops = costs.step_flops(model, per_replica)
    step_total = flops["step"] * strategy.num_replicas_in_sync

    device = _memory_device()
    if device:
        tf.config.experimental.reset_memory_stats(device)
    if FLAGS.profile_dir:
        tf.profiler.experimental.start(FLAGS.profile_dir)
    times = []
    for _ in range(FLAGS.steps):
        start = time.perf_counter()
        int(train_loop(iterator, one)[1])  # the int() waits for the step
        times.append(time.perf_counter() - start)
    if FLAGS.profile_dir:
        tf.profiler.experimental.stop()

    median = statistics.median(times)
    # Clips per step: S real batches + S fake batches in D, one in G.
    clips = global_batch * (2 * steps_per_batch + 1)
    result = {
        "gin_files": FLAGS.gin_file,
        "gin_params": FLAGS.gin_param,
        "jit": FLAGS.jit,
        "precision": FLAGS.precision,
        "strategy": FLAGS.strategy,
        "replicas": strategy.num_replicas_in_sync,
        "input": "tf.data " + FLAGS.data_dir if FLAGS.data_dir else "memory",
        "resolution": int(generator.resolution),
        "num_frames": int(generator.num_frames),
        "global_batch": int(global_batch),
        "trace_seconds": trace_seconds,
        "seconds_per_step": {
            "median": median,
            "min": min(times),
            "max": max(times),
        },
        "clips_per_second": clips / median,
        "step_gflops": step_total / 1e9,
        "flops_breakdown_gflops": {k: v / 1e9 for k, v in flops.items()},
        "achieved_gflops_per_second": step_total / median / 1e9,
        "matmul_peak_gflops_per_second": peak / 1e9,
        "utilisation_of_matmul_peak": step_total / median / peak,
        "peak_rss_gib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        / 2**20,
        "device_peak_gib": _device_peak(device),
        "memory_device": device,
        "traces": int(train_loop.experimental_get_tracing_count()),
        "load_average": os.getloadavg(),
    }
    print(
        f"step: median {median:.3f} s (min {min(times):.3f}, max "
        f"{max(times):.3f}) over {len(times)} steps; {clips / median:.1f} "
        "clips/s"
    )
    print(
        f"FLOPs/step {step_total / 1e9:.2f} G (G fwd "
        f"{flops['forward_generator'] / 1e9:.3f}, D_S fwd "
        f"{flops['forward_spatial_discriminator'] / 1e9:.3f}, D_T fwd "
        f"{flops['forward_temporal_discriminator'] / 1e9:.3f} G per replica "
        f"batch); achieved {result['achieved_gflops_per_second']:.1f} "
        f"GFLOP/s = {result['utilisation_of_matmul_peak']:.1%} of the "
        f"{peak / 1e9:.1f} GFLOP/s {compute_dtype.name} matmul peak"
    )
    if device:
        print(
            f"allocator peak on {device} during the timed steps: "
            f"{result['device_peak_gib']:.2f} GiB (all replicas' share on "
            "that device)"
        )
    print(
        f"peak RSS {result['peak_rss_gib']:.2f} GiB; traces "
        f"{result['traces']}; tracing {trace_seconds:.1f} s; load "
        f"{result['load_average'][0]:.2f}"
    )
    if FLAGS.profile_dir:
        table = profile_table(FLAGS.profile_dir)
        result["profile"] = [
            {"component": c, "ms_per_step": ms / FLAGS.steps, "share": share}
            for c, ms, share in table
        ]
        print(f"{'component (op time, all threads)':44s} {'ms/step':>8s} share")
        for component, ms, share in table:
            print(f"{component:44s} {ms / FLAGS.steps:8.1f} {share:6.1%}")
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    cli.run(main)
