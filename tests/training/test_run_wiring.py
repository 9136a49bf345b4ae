"""Every `training.run` argument reaches the object that uses it, by value.

One tiny run (eager functions) with a non-default value for every argument
that has one, recording builders and distinct optimizers; then one test per
row of the table below checks that the value arrived where it is used: the
model's parts are the builders' objects, each network trains with its own
optimizer, the dataset builder gets the batch arithmetic and the clip
protocol, the periodic actions fire at their steps, the sample GIF is the
EMA generator's grid for the chosen columns and seed, and metadata.json
names the data the run read. A swapped or dropped wire fails its row.
"""

from __future__ import annotations

import functools
import glob
import io
import json
import os

import keras
import numpy as np
import PIL.Image
import pytest
import tensorflow as tf

from dvdgan_tf import video_io
from dvdgan_tf.gan import dvdgan as gan
from dvdgan_tf.store import checkpointing
from dvdgan_tf.training import summaries
from dvdgan_tf.training import trainer as training
from tests import tiny_config as tiny
from tests import tiny_gan
from tests.data import fixtures

NUM_CLASSES = 12  # the synthetic set's classes
SETTINGS = dict(
    global_batch_size=2,
    train_steps=4,
    steps_per_loop=4,
    log_every=2,
    sample_every=3,
    checkpoint_every=2,
    keep_checkpoints=1,
    split="test",
    frame_stride=2,
    sample_columns=3,
    sample_seed=11,
    sample_fps=5.0,
)
G_LEARNING_RATE, D_LEARNING_RATE = 0.05, 0.002


class _Recorder:
    """Wraps a builder; keeps what it returned and the arguments it got."""

    def __init__(self, builder):
        self._builder = builder
        self.calls = []
        self.results = []

    def __call__(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        result = self._builder(*args, **kwargs)
        self.results.append(result)
        return result


def _dataset(input_context, global_batch_size, num_frames, resolution, **_):
    del input_context
    batch = tiny_gan.real_batch(global_batch_size)
    batch["label"] = (np.arange(global_batch_size) % NUM_CLASSES).astype(
        np.int32
    )
    assert (num_frames, resolution) == (tiny.FRAMES, tiny.RESOLUTION)
    return tf.data.Dataset.from_tensors(batch).repeat()


@pytest.fixture(scope="module")
def wired_run(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("data"))
    fixtures.convert_tiny_synthetic(
        data_dir,
        num_clips=4,
        num_test_clips=4,
        num_frames=tiny.FRAMES * 2,
        size=tiny.RESOLUTION,
        num_shards=1,
    )
    recorders = dict(
        generator_builder=_Recorder(
            functools.partial(tiny_gan.build_generator, num_classes=NUM_CLASSES)
        ),
        spatial_discriminator_builder=_Recorder(
            functools.partial(
                tiny_gan.build_spatial_discriminator, num_classes=NUM_CLASSES
            )
        ),
        temporal_discriminator_builder=_Recorder(
            functools.partial(
                tiny_gan.build_temporal_discriminator, num_classes=NUM_CLASSES
            )
        ),
        dataset_builder=_Recorder(_dataset),
        generator_optimizer=_Recorder(
            lambda: keras.optimizers.Adam(G_LEARNING_RATE, beta_1=0.0)
        ),
        discriminator_optimizer=_Recorder(
            lambda: keras.optimizers.Adam(D_LEARNING_RATE, beta_1=0.0)
        ),
        gan_builder=_Recorder(
            functools.partial(
                gan.build_dvdgan, ema_start_step=1, ema_decay=0.5, seed=7
            )
        ),
    )
    model_dir = str(tmp_path_factory.mktemp("run"))
    tf.config.run_functions_eagerly(True)
    try:
        result = training.run(
            None,
            model_dir=model_dir,
            data_dir=data_dir,
            **recorders,
            **SETTINGS,
        )
    finally:
        tf.config.run_functions_eagerly(False)
    return result, recorders, data_dir


def _events(model_dir):
    for path in sorted(glob.glob(os.path.join(model_dir, "train", "events.*"))):
        yield from tf.compat.v1.train.summary_iterator(path)


def _first_gif_frame(model_dir, step):
    for event in _events(model_dir):
        for value in event.summary.value:
            if value.tag == "samples/ema_generator" and event.step == step:
                gif = tf.make_ndarray(value.tensor)[2]
                image = PIL.Image.open(io.BytesIO(gif))
                return np.asarray(image.convert("RGB")), image
    raise AssertionError(f"no sample GIF at step {step}")


def test_the_model_is_made_of_the_builders_objects(wired_run):
    result, recorders, _ = wired_run
    model = result.model
    assert model.generator is recorders["generator_builder"].results[0]
    assert (
        model.spatial_discriminator
        is recorders["spatial_discriminator_builder"].results[0]
    )
    assert (
        model.temporal_discriminator
        is recorders["temporal_discriminator_builder"].results[0]
    )
    args, _ = recorders["gan_builder"].calls[0]
    assert args == (
        model.generator,
        model.spatial_discriminator,
        model.temporal_discriminator,
    )
    assert model is recorders["gan_builder"].results[0]
    assert int(model.rng.numpy()[0]) == 7  # gan_builder's own binding


def test_each_network_trains_with_its_own_optimizer(wired_run):
    result, recorders, _ = wired_run
    model = result.model
    g_optimizer = recorders["generator_optimizer"].results[0]
    d_optimizer = recorders["discriminator_optimizer"].results[0]
    assert model.generator_optimizer is g_optimizer
    assert model.discriminator_optimizer is d_optimizer
    assert float(g_optimizer.learning_rate) == pytest.approx(G_LEARNING_RATE)
    assert float(d_optimizer.learning_rate) == pytest.approx(D_LEARNING_RATE)
    # Each optimizer ran every step, on its own network's variables.
    assert int(g_optimizer.iterations) == SETTINGS["train_steps"]
    assert int(d_optimizer.iterations) == 2 * SETTINGS["train_steps"]
    reader = tf.train.load_checkpoint(
        tf.train.latest_checkpoint(
            checkpointing.checkpoint_dir(result.model_dir)
        )
    )
    names = reader.get_variable_to_shape_map()
    g_slots = [n for n in names if n.startswith("generator_optimizer/")]
    d_slots = [n for n in names if n.startswith("discriminator_optimizer/")]
    g_count = len(model.generator.trainable_variables)
    d_count = len(model.discriminator_variables)
    # Adam keeps two slots per variable (+ iterations, learning rate).
    assert 2 * g_count <= len(g_slots) <= 2 * g_count + 2
    assert 2 * d_count <= len(d_slots) <= 2 * d_count + 2


def test_dataset_builder_gets_the_batch_arithmetic_and_the_clip_protocol(
    wired_run,
):
    result, recorders, data_dir = wired_run
    calls = recorders["dataset_builder"].calls
    assert len(calls) == 1
    _, kwargs = calls[0]
    expected = dict(
        global_batch_size=2 * SETTINGS["global_batch_size"],  # 2 D steps
        num_frames=tiny.FRAMES,
        resolution=tiny.RESOLUTION,
        frame_stride=SETTINGS["frame_stride"],
        num_classes=NUM_CLASSES,
        start_step=0,
        file_pattern=os.path.join(data_dir, "test-*-of-*.tfrecord"),
    )
    assert {k: kwargs.get(k) for k in expected} == expected
    # The held-out shards only: the train split exists but is not read.
    assert glob.glob(os.path.join(data_dir, "train-*"))


def test_train_steps_is_where_training_stops(wired_run):
    result, _, _ = wired_run
    assert (result.initial_step, result.step) == (0, SETTINGS["train_steps"])
    assert int(result.model.step.numpy()) == SETTINGS["train_steps"]


def test_log_every_sets_the_scalar_summary_steps(wired_run):
    result, _, _ = wired_run
    steps = sorted(
        {
            event.step
            for event in _events(result.model_dir)
            for value in event.summary.value
            if value.tag == "losses/generator"
        }
    )
    assert steps == [2, 4]


def test_checkpoint_every_and_keep_checkpoints_set_what_is_on_disk(wired_run):
    result, _, _ = wired_run
    assert checkpointing.list_checkpoint_steps(result.model_dir) == [4]


def test_sample_every_sets_the_gif_steps_and_fps(wired_run):
    result, _, _ = wired_run
    steps = sorted(
        event.step
        for event in _events(result.model_dir)
        for value in event.summary.value
        if value.tag == "samples/ema_generator"
    )
    assert steps == [3, 4]  # every 3 steps, and the last
    _, image = _first_gif_frame(result.model_dir, 4)
    assert image.info["duration"] == pytest.approx(1000 / 5.0, abs=10)


def test_the_sample_gif_is_the_ema_generators_grid_of_columns_and_seed(
    wired_run,
):
    result, _, _ = wired_run
    model = result.model
    written, _ = _first_gif_frame(result.model_dir, 4)
    rows = min(NUM_CLASSES, summaries.MAX_SAMPLE_ROWS)

    def gif_frame(generator, columns, seed):
        """First frame of the GIF the grid of (generator, columns, seed)
        encodes to (GIF palettes are lossy; the encoding is deterministic)."""
        grid = summaries.SampleGrid(
            NUM_CLASSES, model.latent_dim, columns=columns, seed=seed
        )
        video = summaries.make_video_grid(grid.generate(generator), rows=rows)
        image = PIL.Image.open(io.BytesIO(video_io.encode_gif(video, fps=5)))
        return np.asarray(image.convert("RGB"))

    np.testing.assert_array_equal(
        written, gif_frame(model.ema_generator, 3, 11)
    )
    assert not np.array_equal(written, gif_frame(model.generator, 3, 11))
    assert not np.array_equal(written, gif_frame(model.ema_generator, 3, 0))


def test_metadata_names_the_split_stride_and_classes_read(wired_run):
    result, _, data_dir = wired_run
    with open(os.path.join(result.model_dir, "metadata.json")) as f:
        metadata = json.load(f)
    manifest = json.load(open(os.path.join(data_dir, "manifest.json")))
    assert metadata["split"] == "test"
    assert metadata["frame_stride"] == SETTINGS["frame_stride"]
    assert metadata["num_frames"] == tiny.FRAMES
    assert metadata["class_names"] == manifest["class_names"]
