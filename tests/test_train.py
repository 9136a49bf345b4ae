"""`python -m dvdgan_tf.train`: the demo command end to end, SIGTERM, bad gin.

The shortened demo: tiny synthetic TFRecords written with the converter,
then the CLI with gin/test_tiny.gin in a subprocess, stopped by SIGTERM
after a few steps (which also checks preemption handling), then its outputs
are inspected (checkpoint, configs, TensorBoard events, loadable generator).
"""

import json
import os
import re
import signal
import subprocess
import sys
import time

import gin
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from dvdgan_tf import train
from dvdgan_tf.data import convert
from dvdgan_tf.data import synthetic
from dvdgan_tf.gan import losses
from dvdgan_tf.store import checkpointing
from dvdgan_tf.training import trainer as training
from tests import cli_process

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 180


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("synthetic"))
    convert.convert_synthetic(
        data_dir, num_clips=12, num_test_clips=0, num_frames=6, size=16
    )
    return data_dir


def _command(model_dir, data_dir, *params):
    return [
        sys.executable,
        "-m",
        "dvdgan_tf.train",
        "--gin_file=gin/test_tiny.gin",
        f"--gin_param=DATA_DIR='{data_dir}'",
        f"--model_dir={model_dir}",
    ] + [f"--gin_param={param}" for param in params]


@pytest.fixture(scope="module")
def preempted_run(tmp_path_factory, synthetic_dir):
    """Trains via the CLI until step 3 is logged, then sends SIGTERM."""
    model_dir = str(tmp_path_factory.mktemp("cli_run"))
    returncode, output = cli_process.signal_at(
        _command(
            model_dir,
            synthetic_dir,
            "training.run.train_steps=100000",
            # No regular save before step 100000: only the preemption save
            # can write the checkpoint the tests below find.
            "training.run.checkpoint_every=100000",
        ),
        "step 3/100000",
        signal.SIGTERM,
    )
    return model_dir, returncode, output


def test_sigterm_saves_a_checkpoint_and_exits_zero(preempted_run):
    model_dir, returncode, output = preempted_run
    assert returncode == 0, output[-3000:]
    finished = int(output.split("Finished at step ")[1].split(" ")[0])
    assert finished >= 3
    assert f"Preempted at step {finished}; saved checkpoint" in output
    assert checkpointing.list_checkpoint_steps(model_dir) == [finished]


def test_cli_writes_operative_config_and_model_spec(preempted_run):
    model_dir, _, _ = preempted_run
    with open(os.path.join(model_dir, "operative_config.gin")) as f:
        operative = f.read()
    # gin writes the shortest unambiguous name (`run`, `build_dvdgan`).
    assert re.search(r"\brun\.global_batch_size = 2\n", operative)
    assert re.search(r"build_dvdgan\.num_discriminator_steps = 2\n", operative)
    with open(os.path.join(model_dir, "metadata.json")) as f:
        metadata = json.load(f)
    assert metadata["class_names"] == list(synthetic.CLASS_NAMES)
    assert (metadata["num_frames"], metadata["resolution"]) == (4, 16)


def test_event_file_holds_scalars_gif_samples_and_gin_text(preempted_run):
    model_dir, _, _ = preempted_run
    accumulator = event_accumulator.EventAccumulator(
        os.path.join(model_dir, "train"),
        size_guidance={event_accumulator.TENSORS: 0},
    )
    accumulator.Reload()
    tags = set(accumulator.Tags()["tensors"])
    assert {
        "losses/discriminator",
        "losses/spatial_discriminator",
        "losses/temporal_discriminator",
        "losses/generator",
        "scores/spatial_real",
        "scores/spatial_fake",
        "scores/temporal_real",
        "scores/temporal_fake",
        "perf/steps_per_second",
        "perf/examples_per_second",
        "optimizer/generator_learning_rate",
        "optimizer/discriminator_learning_rate",
        "samples/ema_generator",
        "config/operative_gin",
    } <= tags
    steps = [e.step for e in accumulator.Tensors("losses/generator")]
    assert steps[:3] == [1, 2, 3]
    gif = tf.make_ndarray(
        accumulator.Tensors("samples/ema_generator")[0].tensor_proto
    )[2]
    assert gif.startswith(b"GIF89a")


def test_trained_generator_loads_for_export_and_sampling(preempted_run):
    model_dir, _, _ = preempted_run
    generator, step, metadata = checkpointing.load_generator(model_dir)
    assert step == checkpointing.list_checkpoint_steps(model_dir)[-1]
    video = generator(tf.zeros([1, 8]), tf.constant([5]), training=False)
    assert video.shape == (1, 4, 16, 16, 3)
    assert len(metadata["class_names"]) == 12


def test_unknown_gin_binding_fails_before_any_work(tmp_path, synthetic_dir):
    model_dir = tmp_path / "run"
    completed = subprocess.run(
        _command(str(model_dir), synthetic_dir, "training.run.trian_steps=3"),
        cwd=REPO,
        env=cli_process.env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )
    assert completed.returncode != 0
    assert "trian_steps" in completed.stderr
    assert not model_dir.exists()


def test_gin_files_are_found_in_the_repository_gin_dir(tmp_path):
    train.parse_config(["test_tiny.gin"], [], model_dir=str(tmp_path))
    assert gin.query_parameter("training.run.train_steps") == 2
    assert gin.query_parameter("training.run.model_dir") == str(tmp_path)


def test_missing_model_dir_is_a_config_error():
    with pytest.raises(train.ConfigError, match="--model_dir"):
        train.parse_config(["gin/test_tiny.gin"], [])


def test_unknown_configurable_is_a_config_error(tmp_path):
    with pytest.raises(train.ConfigError, match="no_such_thing"):
        train.parse_config(
            ["gin/test_tiny.gin"], ["no_such_thing.x = 1"], str(tmp_path)
        )


def test_missing_data_fails_before_building_models(tmp_path):
    model_dir = tmp_path / "run"
    train.parse_config(
        [os.path.join(REPO, "gin/test_tiny.gin")],
        [f"DATA_DIR = '{tmp_path / 'no_data'}'"],
        str(model_dir),
    )
    with pytest.raises(ValueError, match="no_data.*make_tfrecords"):
        training.run()
    assert not model_dir.exists()


def test_data_without_shards_of_the_split_is_rejected(tmp_path, synthetic_dir):
    train.parse_config(
        [os.path.join(REPO, "gin/test_tiny.gin")],
        [f"DATA_DIR = '{synthetic_dir}'", "training.run.split = 'test'"],
        str(tmp_path / "run"),
    )
    with pytest.raises(ValueError, match="No 'test' shards"):
        training.run()


def test_gan_loss_is_selectable_by_gin_enum_constant(tmp_path):
    train.parse_config(
        ["test_tiny.gin"],
        ["gan.build_dvdgan.loss = %losses.GANLoss.LEAST_SQUARES"],
        str(tmp_path),
    )
    reference = gin.query_parameter("gan.build_dvdgan.loss")  # a %constant
    assert reference.scoped_configurable_fn() is losses.GANLoss.LEAST_SQUARES


def test_rerun_resumes_and_kill_9_leaves_the_saved_checkpoints_intact(
    preempted_run, synthetic_dir
):
    # Runs last in this module: it extends the preempted run. The same
    # command resumes from the last checkpoint; it is then killed with
    # SIGKILL right after its second save, in the middle of the next
    # step, and what it saved must be complete and loadable.
    model_dir, _, _ = preempted_run
    saved = checkpointing.list_checkpoint_steps(model_dir)[-1]
    process = subprocess.Popen(
        _command(model_dir, synthetic_dir, "training.run.train_steps=100000"),
        cwd=REPO,
        env=cli_process.env(),
        stderr=subprocess.STDOUT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines, deadline = [], time.monotonic() + TIMEOUT_S
    saves = 0
    try:
        for line in process.stdout:
            lines.append(line)
            saves += "Saved checkpoint" in line
            # Two regular saves after the resume (every 2 steps, so the
            # second is at saved + 2 or later), then SIGKILL.
            if saves == 2 or time.monotonic() > deadline:
                process.kill()
                break
        process.communicate(timeout=TIMEOUT_S)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    output = "".join(lines)
    assert process.returncode == -signal.SIGKILL, output[-3000:]
    assert f"ckpt-{saved} (step {saved})" in output
    assert f"step {saved + 1}/100000" in output
    # The child runs ahead of this reader by whatever the pipe buffers (tiny
    # steps are milliseconds), so it may have saved more than saved + 2 by
    # the time SIGKILL lands: every checkpoint it left must be complete.
    steps = checkpointing.list_checkpoint_steps(model_dir)
    assert steps[-1] >= saved + 2
    for step in steps:
        _, restored_step, _ = checkpointing.load_generator(model_dir, step)
        assert restored_step == step
