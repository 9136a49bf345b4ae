"""Every experiment in gin/ parses and builds G, D_S and D_T.

Each file is parsed with the widths shrunk (CHANNEL_MULTIPLIER = 4) and a
short clip (NUM_FRAMES = 4, K = 2) so the check runs in seconds at the file's
real resolution and class count. Parsing is strict (`configurables`
registers every builder, training's included), so a misspelt binding in any
file fails here. The `slow` test builds the paper-scale models and pins their
sizes.
"""

import glob
import os
import subprocess
import sys

import gin
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf import configurables
from dvdgan_tf.models import discriminators
from dvdgan_tf.training import trainer as training

GIN_DIR = configurables.GIN_DIR
# Evaluation-only configs (a classifier for IS/FID) build no GAN.
CLASSIFIER_CONFIGS = ["c3d_ucf101.gin"]
CONFIGS = sorted(
    os.path.basename(p)
    for p in glob.glob(os.path.join(GIN_DIR, "*.gin"))
    if os.path.basename(p) not in CLASSIFIER_CONFIGS
)
SMALL = [
    "CHANNEL_MULTIPLIER = 4",
    "NUM_FRAMES = 4",
    "discriminators.build_spatial_discriminator.num_sampled_frames = 2",
]


def _parse(name, bindings):
    configurables.add_gin_search_path()
    gin.parse_config_files_and_bindings([os.path.join(GIN_DIR, name)], bindings)


def _macro(name):
    return gin.query_parameter(f"%{name}")


def test_the_paper_experiments_exist():
    assert {
        "base.gin",
        "k600_64.gin",
        "k600_128.gin",
        "k600_256.gin",
        "k600_64_48f.gin",
        "k600_128_48f.gin",
        "ucf101_128.gin",
    } <= set(CONFIGS)


def _is_prediction_config(name):
    with open(os.path.join(GIN_DIR, name)) as f:
        text = f.read()
    return "num_conditioning_frames" in text or "_fp" in name


@pytest.mark.parametrize("name", CONFIGS)
def test_config_builds_models_with_the_right_shapes(name):
    # FP configs keep their clip length (D_T's frames = C + T is fixed there).
    bindings = SMALL if not _is_prediction_config(name) else SMALL[::2]
    _parse(name, bindings)
    resolution, num_classes = _macro("RESOLUTION"), _macro("NUM_CLASSES")
    generator = configurables.build_generator()
    spatial = configurables.build_spatial_discriminator()
    temporal = configurables.build_temporal_discriminator()
    assert generator.channel_multiplier == 4
    z = (
        np.random.default_rng(0)
        .normal(size=(1, generator.latent_dim))
        .astype("float32")
    )
    labels = np.array([num_classes - 1 if num_classes else 0], "int32")
    count = generator.num_conditioning_frames
    context = tf.zeros([1, count, resolution, resolution, 3])
    extra = {"conditioning_frames": context} if count else {}
    video = generator(z, labels, training=True, **extra)
    frames = _macro("NUM_FRAMES")
    assert tuple(video.shape) == (1, frames, resolution, resolution, 3)
    assert float(tf.reduce_max(tf.abs(video))) <= 1.0
    frames = discriminators.sample_frames(video, 2, seed=tf.constant([0, 1]))
    assert tuple(spatial(frames, labels, training=True).shape) == (1,)
    clip = tf.concat([context, video], axis=1)
    assert temporal.num_frames == clip.shape[1]
    pooled = discriminators.downsample_video(clip)
    assert tuple(temporal(pooled, labels, training=True).shape) == (1,)


def test_prediction_configs_continue_the_paper_frame_counts():
    expected = {
        "k600_fp_64.gin": (5, 11, 600, 1),
        "bair_fp_64.gin": (1, 15, 0, 1),
        "synthetic_fp.gin": (2, 6, 12, 2),
    }
    for name, (context, predicted, classes, stride) in expected.items():
        _parse(name, SMALL[:1])
        generator = configurables.build_generator()
        assert (generator.num_conditioning_frames, generator.num_frames) == (
            context,
            predicted,
        )
        assert _macro("NUM_CLASSES") == classes
        assert gin.query_parameter("training.run.frame_stride") == stride
        assert gin.query_parameter(
            "discriminators.build_temporal_discriminator.num_frames"
        ) == (context + predicted)
        gin.clear_config()


def test_model_summary_tool_prints_the_three_models():
    root = os.path.dirname(os.path.dirname(GIN_DIR))  # dvdgan_tf/configs
    result = subprocess.run(
        [
            sys.executable,
            os.path.join(root, "tools", "model_summary.py"),
            f"--gin_file={os.path.join(GIN_DIR, 'k600_64.gin')}",
            *[f"--gin_param={binding}" for binding in SMALL],
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=root,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.splitlines()
    assert sum(line.startswith("  group ") for line in lines) == 4
    for name in ("G ", "D_S", "D_T"):
        assert any(
            line.startswith(name) and "trainable" in line for line in lines
        )


# Trainable parameter counts at paper scale (preset B, ch = 96, Z = E = 120),
# as printed by tools/model_summary.py; they do not depend on T.
PAPER_SCALE_PARAMETERS = {
    "k600_64.gin": (175_732_035, 44_886_049, 49_276_609),
    "k600_128.gin": (178_965_699, 87_356_449, 46_052_449),
    "k600_256.gin": (234_710_979, 98_565_409, 88_522_849),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(PAPER_SCALE_PARAMETERS))
def test_paper_scale_parameter_counts(name):
    _parse(name, [])
    models = (
        configurables.build_generator(),
        configurables.build_spatial_discriminator(),
        configurables.build_temporal_discriminator(),
    )
    counts = tuple(
        sum(int(np.prod(w.shape)) for w in m.trainable_weights) for m in models
    )
    assert counts == PAPER_SCALE_PARAMETERS[name]


@pytest.mark.parametrize("name", ["synthetic_learn.gin", "k600_64.gin"])
def test_scoped_adam_bindings_reach_both_optimizers(name):
    # The references training.run receives, called as training.run calls
    # them: each scope must get its own learning rate and the shared betas.
    _parse(name, [])
    built = {}
    for role in ("generator", "discriminator"):
        reference = gin.query_parameter(f"training.run.{role}_optimizer")
        built[role] = training._make_optimizer(
            reference.scoped_configurable_fn, role
        )
        for key in ("beta_1", "beta_2", "epsilon"):
            expected = gin.query_parameter(
                f"{role}/keras.optimizers.Adam.{key}"
            )
            assert getattr(built[role], key) == pytest.approx(expected), key
    expected_rates = {
        "synthetic_learn.gin": (1e-4, 4e-4),
        "k600_64.gin": (1e-4, 5e-4),
    }[name]
    rates = tuple(
        float(built[role].learning_rate)
        for role in ("generator", "discriminator")
    )
    assert rates == pytest.approx(expected_rates)
    assert built["generator"].beta_1 == 0.0 == built["discriminator"].beta_1
