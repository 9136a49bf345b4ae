"""FVD throughput: I3D clips per second, FLOPs and utilisation.

    .venv/bin/python bench/fvd_throughput.py [--num_frames=16 --batch_size=4
        --num_clips=8 --repeats=3]

Loads the Kinetics-400 I3D that FVD uses (`metrics.i3d.load_i3d`), embeds
`--num_clips` random uint8 clips of 64x64 through `fvd.i3d_logits` (the full
FVD preprocessing: legacy bilinear resize to 224x224, scaling, I3D, logits
averaged over time) after one warm-up call, and prints clips/s (best of
--repeats), the analytic FLOPs of one 224x224 clip (convs and matmuls from
the traced graph's shapes, as bench/train_step.py counts them), the achieved
FLOP/s as a fraction of the float32 matmul peak measured in the same run,
and what that means for the default protocol (2,048 real + 2,048 generated
clips of 16 frames).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from dvdgan_tf.metrics import fvd  # noqa: E402
from dvdgan_tf.metrics import i3d  # noqa: E402
from dvdgan_tf.training import costs  # noqa: E402

flags.DEFINE_integer("num_frames", 16, "Frames per clip (>= 9).")
flags.DEFINE_integer("batch_size", 4, "Clips per I3D call.", lower_bound=1)
flags.DEFINE_integer("num_clips", 8, "Clips per timed pass.", lower_bound=1)
flags.DEFINE_integer(
    "repeats", 3, "Timed passes (best is reported).", lower_bound=1
)
FLAGS = flags.FLAGS


def _train_step_bench():
    spec = importlib.util.spec_from_file_location(
        "train_step_bench", os.path.join(REPO, "bench", "train_step.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    bench = _train_step_bench()
    model = i3d.load_i3d()
    rng = np.random.default_rng(0)
    clips = rng.integers(
        0, 256, (FLAGS.num_clips, FLAGS.num_frames, 64, 64, 3), np.uint8
    )
    fvd.i3d_logits(clips[: FLAGS.batch_size], model, FLAGS.batch_size)
    best = float("inf")
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        fvd.i3d_logits(clips, model, FLAGS.batch_size)
        best = min(best, time.perf_counter() - start)
    clips_per_second = FLAGS.num_clips / best
    one = tf.zeros([1, FLAGS.num_frames, i3d.INPUT_SIZE, i3d.INPUT_SIZE, 3])
    flops = costs.forward_flops(lambda x: model(x, training=False), one)[
        "total"
    ]
    peak = bench.matmul_peak(tf.float32)
    achieved = flops * clips_per_second
    protocol_minutes = 2 * 2048 / clips_per_second / 60
    print(
        f"I3D: {clips_per_second:.2f} clips/s ({FLAGS.num_frames} frames, "
        f"batch {FLAGS.batch_size}); {flops / 1e9:.1f} GFLOPs per clip; "
        f"{achieved / 1e9:.1f} GFLOP/s = {achieved / peak:.1%} of the "
        f"{peak / 1e9:.1f} GFLOP/s float32 matmul peak"
    )
    print(
        f"fvd2048_16f: 4,096 clips -> {protocol_minutes:.1f} min of I3D "
        "(real statistics are cached after the first run: half that later)"
    )


if __name__ == "__main__":
    from dvdgan_tf import cli

    cli.run(main)
