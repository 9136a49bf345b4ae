"""A tiny, trained-looking `model_dir` for the export, sampling and eval tests.

`write_tiny_model_dir(path)` builds a tiny generator with the real builder
(shapes from `tests/tiny_config.py`), writes `generator_config.json` and
`metadata.json` with `checkpointing.write_model_spec`, an
`operative_config.gin`, and one checkpoint at step `STEP` holding the
`generator` and `ema_generator` objects, through `checkpointing`'s manager,
exactly as training lays them out (docs/ARCHITECTURE.md).

The EMA generator has its own random initialisation (so a test that restores
the live generator instead of the EMA one fails) and BN moving statistics
moved away from their initial values by one training-mode call (so a test
that ignores BN statistics fails).

The module-scoped pytest fixture `tiny_model_dir` is registered for every
test module by `tests/conftest.py` (``pytest_plugins``); or call
`write_tiny_model_dir` for a private copy to damage.
"""

from __future__ import annotations

import dataclasses
import os
import string

import keras
import pytest
import tensorflow as tf

from dvdgan_tf.models import generator as generator_lib
from dvdgan_tf.store import checkpointing
from tests import tiny_config as tiny

STEP = 5
FPS = 8.0
# The tiny DVD-GAN-FP model: 2 real frames -> 2 predicted (a 4-frame clip).
FP_CONTEXT = 2
FP_PREDICTED = tiny.FRAMES - FP_CONTEXT


def class_names(num_classes: int) -> list[str]:
    """class_a, class_b, ... (class_<i> beyond 26)."""
    letters = string.ascii_lowercase
    return [
        f"class_{letters[i]}" if i < len(letters) else f"class_{i}"
        for i in range(num_classes)
    ]


CLASS_NAMES = tuple(class_names(tiny.NUM_CLASSES))
OPERATIVE_CONFIG = "# Tiny test model_dir.\nRESOLUTION = 16\nNUM_FRAMES = 4\n"


@dataclasses.dataclass(frozen=True)
class TinyModelDir:
    """What `write_tiny_model_dir` wrote, with the in-memory generators."""

    path: str
    step: int
    metadata: dict
    generator: keras.Model
    ema_generator: keras.Model


def build_tiny_generator(
    num_classes: int = tiny.NUM_CLASSES,
    seed: int = 0,
    num_conditioning_frames: int = 0,
) -> keras.Model:
    """The tiny generator every export/sampling test uses (built).

    With `num_conditioning_frames` = FP_CONTEXT, the tiny DVD-GAN-FP G.
    """
    return generator_lib.build_generator(
        resolution=tiny.RESOLUTION,
        num_frames=tiny.FRAMES - num_conditioning_frames,
        num_classes=num_classes,
        channel_multiplier=tiny.CHANNEL_MULTIPLIER,
        latent_dim=tiny.LATENT_DIM,
        embedding_dim=tiny.EMBEDDING_DIM,
        width_preset="B",
        use_attention=False,
        seed=seed,
        num_conditioning_frames=num_conditioning_frames,
    )


def tiny_metadata(
    num_classes: int = tiny.NUM_CLASSES, num_conditioning_frames: int = 0
) -> dict:
    """metadata.json content matching `build_tiny_generator`."""
    return {
        "class_names": class_names(num_classes),
        "fps": FPS,
        "num_frames": tiny.FRAMES - num_conditioning_frames,
        "num_conditioning_frames": num_conditioning_frames,
        "resolution": tiny.RESOLUTION,
        "frame_stride": 1,
        "dataset": "tiny-test",
    }


def write_tiny_model_dir(
    model_dir: str,
    num_classes: int = tiny.NUM_CLASSES,
    seed: int = 0,
    num_conditioning_frames: int = 0,
) -> TinyModelDir:
    """Writes a complete tiny training directory; see the module docstring."""
    keras.utils.set_random_seed(seed)
    generator = build_tiny_generator(
        num_classes, seed=seed, num_conditioning_frames=num_conditioning_frames
    )
    ema_generator = build_tiny_generator(
        num_classes,
        seed=seed + 1,
        num_conditioning_frames=num_conditioning_frames,
    )
    z = tf.random.stateless_normal(
        [tiny.BATCH, tiny.LATENT_DIM], seed=[seed, 1]
    )
    labels = None
    if num_classes:
        labels = tf.range(tiny.BATCH, dtype=tf.int32) % num_classes
    extra = {}
    if num_conditioning_frames:
        extra["conditioning_frames"] = tf.random.stateless_uniform(
            [tiny.BATCH, num_conditioning_frames]
            + [tiny.RESOLUTION, tiny.RESOLUTION, 3],
            [seed, 2],
            -1,
            1,
        )
    # Moves the BN moving statistics.
    ema_generator(z, labels, training=True, **extra)
    metadata = tiny_metadata(num_classes, num_conditioning_frames)
    checkpointing.write_model_spec(model_dir, generator, metadata)
    checkpointing.write_text_atomic(
        os.path.join(model_dir, checkpointing.OPERATIVE_CONFIG_FILE),
        OPERATIVE_CONFIG,
    )
    checkpoint = checkpointing.build_checkpoint(
        step=tf.Variable(STEP, dtype=tf.int64),
        generator=generator,
        ema_generator=ema_generator,
    )
    checkpointing.make_manager(checkpoint, model_dir).save(
        checkpoint_number=STEP
    )
    return TinyModelDir(model_dir, STEP, metadata, generator, ema_generator)


@pytest.fixture(scope="module")
def tiny_model_dir(tmp_path_factory) -> TinyModelDir:
    """A class-conditional tiny model_dir, shared by a test module."""
    return write_tiny_model_dir(str(tmp_path_factory.mktemp("model_dir")))
