"""Sampling throughput: exported SavedModel vs the in-memory Keras generator.

    .venv/bin/python bench/sample_latency.py [--resolution=64 --num_frames=12
        --channel_multiplier=16 --batch_sizes=1,16 --repeats=5]

Builds a generator with random weights (a small-but-real configuration by
default: 64x64, 12 frames, ch = 16, Z = E = 120, 600 classes, preset B),
exports it with `export.GeneratorExportModule` to a temporary directory,
reloads it with `tf.saved_model.load`, and reports videos per second of:

  * `keras eager`: `G(z, labels, training=False)`, eager;
  * `keras tf.function`: the same call inside a `tf.function`;
  * `savedmodel`: the reloaded `serving_default` signature (uint8 + float
    outputs; includes the in-graph label checks and the uint8 conversion).

Each number is the median of `--repeats` timed calls after one warm-up call
(tracing excluded); the three candidates are timed round-robin. Weights are
random, so only speed is meaningful. The host's load average is printed: on
a shared machine numbers vary with it.
"""

import os
import statistics
import sys
import tempfile
import time

import numpy as np
from absl import app
from absl import flags

flags.DEFINE_integer("resolution", 64, "Output height = width.")
flags.DEFINE_integer("num_frames", 12, "Frames T.")
flags.DEFINE_integer("channel_multiplier", 16, "Generator width unit ch.")
flags.DEFINE_integer("num_classes", 600, "Classes N.")
flags.DEFINE_list("batch_sizes", ["1", "16"], "Batch sizes to time.")
flags.DEFINE_integer(
    "repeats", 5, "Timed calls per measurement.", lower_bound=1
)


def _median_seconds(functions, repeats):
    """Median seconds per call of each function, timed round-robin.

    Interleaving the candidates makes a change in the host's load (shared
    CI machines) hit all of them alike instead of whichever runs last.
    """
    for function in functions:
        function()  # warm-up (and tracing for tf.function)
    times = [[] for _ in functions]
    for _ in range(repeats):
        for function, samples in zip(functions, times):
            start = time.perf_counter()
            function()
            samples.append(time.perf_counter() - start)
    return [statistics.median(samples) for samples in times]


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, repo_root)
    import tensorflow as tf

    from dvdgan_tf.inference import export
    from dvdgan_tf.models import generator as generator_lib

    f = flags.FLAGS
    generator = generator_lib.build_generator(
        resolution=f.resolution,
        num_frames=f.num_frames,
        num_classes=f.num_classes,
        channel_multiplier=f.channel_multiplier,
        latent_dim=120,
        embedding_dim=120,
    )
    metadata = {
        "class_names": [f"c{i}" for i in range(f.num_classes)],
        "fps": 25.0,
        "num_frames": f.num_frames,
        "resolution": f.resolution,
    }
    module = export.GeneratorExportModule(generator, metadata)
    keras_function = tf.function(
        lambda z, labels: generator(z, labels, training=False)
    )
    with tempfile.TemporaryDirectory() as path:
        tf.saved_model.save(module, path, signatures=module.signatures)
        loaded = tf.saved_model.load(path)
        serving = loaded.signatures["serving_default"]
        print(
            f"G: {f.resolution}x{f.resolution}, T={f.num_frames}, "
            f"ch={f.channel_multiplier}, N={f.num_classes}, "
            f"{generator.count_params():,} parameters, random weights; "
            f"TF {tf.__version__}, {os.cpu_count()} CPUs, load average "
            f"{os.getloadavg()[0]:.1f}"
        )
        print(
            f"{'batch':>5} {'keras eager':>14} {'keras tf.function':>18} "
            f"{'savedmodel':>12}   (videos/s, median of {f.repeats})"
        )
        for batch in (int(b) for b in f.batch_sizes):
            z = tf.constant(
                np.random.RandomState(0).randn(batch, 120), tf.float32
            )
            labels = tf.constant(np.arange(batch) % f.num_classes, tf.int32)
            seconds = _median_seconds(
                [
                    lambda: generator(z, labels, training=False).numpy(),
                    lambda: keras_function(z, labels).numpy(),
                    lambda: serving(z=z, label=labels)["video"].numpy(),
                ],
                f.repeats,
            )
            rates = [batch / s for s in seconds]
            print(
                f"{batch:>5} {rates[0]:>14.2f} {rates[1]:>18.2f} "
                f"{rates[2]:>12.2f}"
            )


if __name__ == "__main__":
    sys.path.insert(
        0, os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    )
    from dvdgan_tf import cli

    cli.run(main)
