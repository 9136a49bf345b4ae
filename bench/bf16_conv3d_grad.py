"""Is bfloat16 Conv3D's kernel gradient repeatable on this CPU? (K17)

    python bench/bf16_conv3d_grad.py                  # oneDNN as TF sets it
    TF_ENABLE_ONEDNN_OPTS=0 python bench/bf16_conv3d_grad.py

Computes the same 3x3x3 Conv3D kernel gradient `--repeats` times on identical
inputs, for the clip shapes D_T's blocks see ([B, T, H, W, C] with T = 1, 2,
4), in float32 and in bfloat16, and prints the largest difference between
repeats and whether any repeat held a NaN/inf. Exact arithmetic gives 0.0.
On an x86 CPU without native bfloat16 (no AVX512_BF16 / AMX) with oneDNN on,
the bfloat16 rows with T = 2 are not repeatable (garbage memory): this is
why `training.precision` refuses `mixed_bfloat16` there. A number, not a
test: the kernels TF picks depend on the CPU and the TF build.
"""

from __future__ import annotations

import itertools
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

from dvdgan_tf.training import precision  # noqa: E402

flags.DEFINE_integer(
    "repeats", 8, "Gradient computations per shape.", lower_bound=1
)
FLAGS = flags.FLAGS


def _kernel_gradient(x, kernel, dtype):
    kernel = tf.cast(kernel, dtype)
    with tf.GradientTape() as tape:
        tape.watch(kernel)
        y = tf.nn.conv3d(tf.cast(x, dtype), kernel, [1] * 5, "SAME")
        total = tf.reduce_sum(tf.cast(y, tf.float32) * 0.5)
    return tape.gradient(total, kernel).numpy().astype(np.float32)


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    onednn = "on" if precision.onednn_enabled() else "off"
    print(
        f"TF {tf.__version__}; oneDNN {onednn}; native bfloat16 CPU: "
        f"{precision.cpu_has_native_bfloat16()}; {FLAGS.repeats} repeats"
    )
    print(f"{'dtype':>8} | {'B,T,H,W,C':>12} | {'max diff':>10} | non-finite")
    rng = np.random.default_rng(0)
    for dtype, (t, hw, c) in itertools.product(
        (tf.float32, tf.bfloat16), itertools.product((1, 2, 4), (4, 8), (8, 16))
    ):
        x = tf.constant(rng.normal(size=(4, t, hw, hw, c)).astype(np.float32))
        kernel = tf.constant(
            0.1 * rng.normal(size=(3, 3, 3, c, c)).astype(np.float32)
        )
        grads = [
            _kernel_gradient(x, kernel, dtype) for _ in range(FLAGS.repeats)
        ]
        finite = all(np.isfinite(g).all() for g in grads)
        with np.errstate(invalid="ignore"):
            diff = max(float(np.nanmax(np.abs(g - grads[0]))) for g in grads)
        print(
            f"{dtype.name:>8} | {f'4,{t},{hw},{hw},{c}':>12} | {diff:10.3g} | "
            f"{'' if finite else 'yes'}"
        )


if __name__ == "__main__":
    from dvdgan_tf import cli

    cli.run(main)
