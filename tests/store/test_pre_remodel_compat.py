"""Model dirs written before the remodel into subpackages still load.

`tests/data/pre_remodel/` was written by commit a3afc2a (the last one with
the flat package): `train_run/` by `training.run` (2 tiny steps: every
checkpoint object, optimizers and run seed included) and `fp_model_dir/` by
the DVD-GAN-FP model_dir fixture; `expected.npz` holds what that code's
EMA generators produced from fixed inputs. Checkpoint object names, variable
paths, generator_config.json and metadata.json must keep meaning the same.
"""

import os
import shutil

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.inference import generation
from dvdgan_tf.store import checkpointing
from dvdgan_tf.training import trainer as training
from dvdgan_tf.util import pixels
from tests import tiny_gan

_DATA = os.path.join(os.path.dirname(os.path.dirname(__file__)), "data")
_OLD = os.path.join(_DATA, "pre_remodel")


@pytest.fixture(scope="module")
def expected():
    return np.load(os.path.join(_OLD, "expected.npz"))


def test_old_training_checkpoint_restores_the_same_ema_generator(expected):
    generator, step, metadata = checkpointing.load_generator(
        os.path.join(_OLD, "train_run")
    )
    assert step == int(expected["train_step"]) == 2
    assert metadata.class_names == ("0", "1", "2")
    z = generation.prior_latents(0, range(3), generator.latent_dim)
    video = generation.inference_fn(generator)(z, tf.constant([0, 1, 2]))
    np.testing.assert_allclose(video.numpy(), expected["video"], atol=1e-5)


@pytest.fixture
def eager_functions():
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


def test_old_training_run_resumes_with_its_optimizer_state(
    tmp_path, eager_functions
):
    model_dir = str(tmp_path / "run")
    shutil.copytree(os.path.join(_OLD, "train_run"), model_dir)
    result = training.run(None, **tiny_gan.run_kwargs(model_dir, 3))
    assert (result.initial_step, result.step) == (2, 3)
    # Adam's step counter came back from the old checkpoint: 2 + 1.
    assert int(result.model.generator_optimizer.iterations.numpy()) == 3


def test_old_fp_model_dir_continues_its_context_the_same_way(expected):
    generator, _, _ = checkpointing.load_generator(
        os.path.join(_OLD, "fp_model_dir")
    )
    context = expected["fp_context"]
    clips, labels = generation.generate_videos(
        generator, 3, seed=0, context=context
    )
    np.testing.assert_array_equal(labels, expected["fp_labels"])
    np.testing.assert_array_equal(clips[:, : context.shape[1]], context)
    z = generation.prior_latents(0, range(3), generator.latent_dim)
    whole = generation.inference_fn(generator)(
        z,
        tf.constant(labels),
        tf.constant(pixels.from_uint8(context)),
    ).numpy()
    # The old inference call returned the prediction alone.
    np.testing.assert_allclose(
        whole[:, context.shape[1] :], expected["fp_prediction"], atol=1e-4
    )


def test_old_operative_config_still_parses(tmp_path):
    import gin

    from dvdgan_tf import configurables  # noqa: F401  (registrations)

    gin.clear_config()
    try:
        gin.parse_config_file(
            os.path.join(_OLD, "train_run", "operative_config.gin")
        )
        assert gin.query_parameter("training.run.precision") == "float32"
    finally:
        gin.clear_config()
