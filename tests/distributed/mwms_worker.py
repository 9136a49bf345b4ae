"""One MultiWorkerMirroredStrategy worker of test_multi_worker.py.

Run as ``python -m tests.distributed.mwms_worker --model_dir=D --steps=N
--output=W.npz`` with TF_CONFIG set; trains the tiny GAN with the real
`training.run` loop and saves its final generator/discriminator weights.
"""

import functools
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from absl import app  # noqa: E402
from absl import flags  # noqa: E402

flags.DEFINE_string("model_dir", None, "shared model directory")
flags.DEFINE_integer("steps", 2, "training steps")
flags.DEFINE_string("output", None, "where to save this worker's weights")
flags.DEFINE_bool("prediction", False, "train the tiny DVD-GAN-FP variant")
FLAGS = flags.FLAGS


def main(argv):
    del argv
    from dvdgan_tf.training import strategies
    from dvdgan_tf.training import trainer as training
    from tests import tiny_config as tiny
    from tests import tiny_gan

    strategy = strategies.make_strategy(strategy="multi_worker")
    extra = {}
    if FLAGS.prediction:
        extra["generator_builder"] = functools.partial(
            tiny_gan.build_generator, num_conditioning_frames=2, num_frames=2
        )
    result = training.run(
        strategy,
        **tiny_gan.run_kwargs(
            FLAGS.model_dir,
            FLAGS.steps,
            global_batch_size=tiny.BATCH * strategy.num_replicas_in_sync,
            steps_per_loop=FLAGS.steps,
            **extra,
        ),
    )
    weights = {}
    for name in (
        "generator",
        "spatial_discriminator",
        "temporal_discriminator",
        "ema_generator",
    ):
        for path, value in tiny_gan.weights_of(
            getattr(result.model, name)
        ).items():
            weights[f"{name}:{path}"] = value
    weights["step"] = np.array(result.step)
    weights["replicas"] = np.array(strategy.num_replicas_in_sync)
    np.savez(FLAGS.output, **weights)


if __name__ == "__main__":
    app.run(main)
