"""Bad inputs across the CLIs: one clear line, the right exit code, no loss.

Every command-line case checks the exit status (2 usage, 1 runtime), that
the last stderr line is ``error: ...`` naming the file, flag or value, that
no traceback is printed, and that what was on disk is intact afterwards.
The library cases below them check the same behaviours in-process, where a
subprocess would only add TensorFlow start-up time.
"""

import functools
import json
import os
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.data import convert
from dvdgan_tf.data import decode
from dvdgan_tf.data import manifest as manifest_lib
from dvdgan_tf.data import pipeline
from dvdgan_tf.data import writer
from dvdgan_tf.store import checkpointing
from dvdgan_tf.training import trainer as training
from tests import cli_process
from tests import model_dir_fixture
from tests import tiny_gan
from tests.data import fixtures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 180


def _run(*args):
    return subprocess.run(
        [sys.executable, *args],
        cwd=REPO,
        env=cli_process.env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
    )


def _assert_one_line_error(completed, status, *needles):
    lines = [line for line in completed.stderr.splitlines() if line.strip()]
    assert completed.returncode == status, completed.stderr[-2000:]
    assert "Traceback" not in completed.stderr, completed.stderr[-2000:]
    assert lines and lines[-1].startswith("error: "), completed.stderr[-2000:]
    for needle in needles:
        assert needle in lines[-1], lines[-1]
    return lines[-1]


def _tree(path):
    """{relative path: bytes} of everything under `path`."""
    files = {}
    for directory, _, names in os.walk(path):
        for name in names:
            full = os.path.join(directory, name)
            with open(full, "rb") as f:
                files[os.path.relpath(full, path)] = f.read()
    return files


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("synthetic"))
    return fixtures.convert_tiny_synthetic(data_dir, num_clips=12)


def _train(model_dir, data_dir, *params, gin_file="gin/test_tiny.gin"):
    return _run(
        "-m",
        "dvdgan_tf.train",
        f"--gin_file={gin_file}",
        f"--gin_param=DATA_DIR='{data_dir}'",
        f"--model_dir={model_dir}",
        *[f"--gin_param={param}" for param in params],
    )


# --- train --------------------------------------------------------------


def test_gin_syntax_error_names_the_file(tmp_path, synthetic_dir):
    bad = tmp_path / "bad.gin"
    bad.write_text("include 'test_tiny.gin'\ntraining.run.train_steps = = 3\n")
    completed = _train(tmp_path / "run", synthetic_dir, gin_file=str(bad))
    _assert_one_line_error(completed, 2, str(bad), "line 2")
    assert not (tmp_path / "run").exists()


def test_unused_gin_macro_is_reported_as_a_typo(tmp_path, synthetic_dir):
    completed = _train(tmp_path / "run", synthetic_dir, "NUM_CLASES = 12")
    _assert_one_line_error(completed, 2, "NUM_CLASES", "never used")


def test_non_integer_train_steps_names_the_binding(tmp_path, synthetic_dir):
    completed = _train(
        tmp_path / "run", synthetic_dir, "training.run.train_steps='abc'"
    )
    _assert_one_line_error(completed, 2, "train_steps='abc'", "integer")
    assert not (tmp_path / "run").exists()


def test_model_dir_that_is_a_file_is_a_usage_error(tmp_path, synthetic_dir):
    target = tmp_path / "a_file"
    target.write_text("keep me")
    completed = _train(target, synthetic_dir)
    _assert_one_line_error(completed, 2, "--model_dir", "is a file")
    assert target.read_text() == "keep me"


def test_devices_missing_on_this_host_are_refused(tmp_path, synthetic_dir):
    completed = _run(
        "-m",
        "dvdgan_tf.train",
        "--gin_file=gin/test_tiny.gin",
        f"--gin_param=DATA_DIR='{synthetic_dir}'",
        f"--model_dir={tmp_path / 'run'}",
        "--strategy=mirrored",
        "--devices=/gpu:0",
    )
    _assert_one_line_error(completed, 2, "/gpu:0", "do not exist")


def _copy_data(synthetic_dir, tmp_path):
    copy = str(tmp_path / "data")
    shutil.copytree(synthetic_dir, copy)
    shards = sorted(tf.io.gfile.glob(os.path.join(copy, "train-*")))
    return copy, shards


def test_deleted_shard_is_named_before_training(tmp_path, synthetic_dir):
    data_dir, shards = _copy_data(synthetic_dir, tmp_path)
    os.remove(shards[1])
    before = _tree(data_dir)
    completed = _train(tmp_path / "run", data_dir)
    _assert_one_line_error(completed, 1, os.path.basename(shards[1]), "missing")
    assert _tree(data_dir) == before
    assert not (tmp_path / "run").exists()


def test_truncated_shard_is_named_before_training(tmp_path, synthetic_dir):
    data_dir, shards = _copy_data(synthetic_dir, tmp_path)
    fixtures.truncate(shards[0], 0.5)
    completed = _train(tmp_path / "run", data_dir)
    _assert_one_line_error(
        completed, 1, os.path.basename(shards[0]), "the manifest says"
    )


def test_sigint_mid_training_saves_and_exits_zero(tmp_path, synthetic_dir):
    model_dir = str(tmp_path / "run")
    returncode, output = cli_process.signal_at(
        [
            sys.executable,
            "-m",
            "dvdgan_tf.train",
            "--gin_file=gin/test_tiny.gin",
            f"--gin_param=DATA_DIR='{synthetic_dir}'",
            f"--model_dir={model_dir}",
            "--gin_param=training.run.train_steps=100000",
            "--gin_param=training.run.checkpoint_every=100000",
        ],
        "step 3/100000",
        signal.SIGINT,  # Ctrl-C
    )
    assert returncode == 0, output[-3000:]
    assert "KeyboardInterrupt" not in output and "Traceback" not in output
    assert "SIGINT received" in output
    finished = int(output.split("Finished at step ")[1].split(" ")[0])
    assert f"Preempted at step {finished}; saved checkpoint" in output
    assert checkpointing.list_checkpoint_steps(model_dir) == [finished]
    _, step, _ = checkpointing.load_generator(model_dir)
    assert step == finished


# --- export, sample, evaluate ------------------------------------------


@pytest.fixture
def damaged_model_dir(tmp_path):
    written = model_dir_fixture.write_tiny_model_dir(str(tmp_path / "model"))
    prefix = os.path.join(
        checkpointing.checkpoint_dir(written.path),
        f"ckpt-{model_dir_fixture.STEP}",
    )
    (data_file,) = tf.io.gfile.glob(prefix + ".data-*")
    fixtures.truncate(data_file, 0.5)
    return written.path, os.path.basename(data_file)


def test_export_of_a_truncated_checkpoint_names_it(damaged_model_dir, tmp_path):
    model_dir, data_file = damaged_model_dir
    completed = _run(
        "tools/export_savedmodel.py",
        f"--model_dir={model_dir}",
        f"--export_dir={tmp_path / 'export'}",
    )
    line = _assert_one_line_error(completed, 1, "is damaged", data_file)
    assert f"ckpt-{model_dir_fixture.STEP}" in line
    assert not tf.io.gfile.glob(str(tmp_path / "export" / "*"))


def test_export_dir_that_is_a_file_is_a_usage_error(tiny_model_dir, tmp_path):
    target = tmp_path / "export"
    target.write_text("")
    completed = _run(
        "tools/export_savedmodel.py",
        f"--model_dir={tiny_model_dir.path}",
        f"--export_dir={target}",
    )
    _assert_one_line_error(completed, 2, "--export_dir", "is a file")


@pytest.mark.parametrize(
    "flag, needle",
    [
        ("--truncation=nan", "--truncation must be a finite number"),
        ("--truncation=-1", "--truncation must be a finite number"),
        ("--fps=0", "--fps must be a positive"),
        ("--num=0", "--num must be >= 1"),
    ],
)
def test_sample_rejects_values_that_would_give_wrong_videos(
    tiny_model_dir, tmp_path, flag, needle
):
    completed = _run(
        "-m",
        "dvdgan_tf.sample",
        f"--model_dir={tiny_model_dir.path}",
        f"--output={tmp_path / 'out'}",
        flag,
    )
    _assert_one_line_error(completed, 2, needle)
    assert not (tmp_path / "out").exists()


def test_evaluate_of_a_missing_model_dir_is_one_line(tmp_path):
    completed = _run(
        "-m", "dvdgan_tf.evaluate", f"--model_dir={tmp_path / 'nothing'}"
    )
    _assert_one_line_error(completed, 1, "--model_dir", "not a directory")


def test_evaluate_with_an_unknown_metric_lists_the_choices(tiny_model_dir):
    completed = _run(
        "-m",
        "dvdgan_tf.evaluate",
        f"--model_dir={tiny_model_dir.path}",
        "--metrics=fvd,inception",
    )
    _assert_one_line_error(completed, 2, "inception", "choose from")


def test_evaluate_step_and_continuous_exclude_each_other(tiny_model_dir):
    completed = _run(
        "-m",
        "dvdgan_tf.evaluate",
        f"--model_dir={tiny_model_dir.path}",
        "--step=3",
        "--continuous",
    )
    _assert_one_line_error(completed, 2, "--step and --continuous")


def test_evaluate_of_a_truncated_checkpoint_names_it(damaged_model_dir):
    model_dir, data_file = damaged_model_dir
    completed = _run(
        "-m",
        "dvdgan_tf.evaluate",
        f"--model_dir={model_dir}",
        "--metrics=judge",
    )
    _assert_one_line_error(completed, 1, "is damaged", data_file)


# --- the converter ------------------------------------------------------


def test_converter_output_dir_that_is_a_file_is_a_usage_error(tmp_path):
    target = tmp_path / "out"
    target.write_text("")
    completed = _run(
        "tools/make_tfrecords.py", "synthetic", f"--output_dir={target}"
    )
    _assert_one_line_error(completed, 2, "--output_dir", "is a file")


def test_converter_with_a_missing_input_dir_is_one_line(tmp_path):
    completed = _run(
        "tools/make_tfrecords.py",
        "folder",
        f"--input_dir={tmp_path / 'none'}",
        f"--output_dir={tmp_path / 'out'}",
    )
    _assert_one_line_error(completed, 1, str(tmp_path / "none"))


# --- library-level cases ------------------------------------------------


@pytest.fixture
def eager_functions():
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


def _pipeline_run_kwargs(model_dir, data_dir, train_steps, **extra):
    kwargs = dict(
        dataset_builder=pipeline.make_dataset,
        data_dir=data_dir,
        checkpoint_every=1000,
    )
    kwargs.update(extra)
    return tiny_gan.run_kwargs(model_dir, train_steps, **kwargs)


def _write_frame_data(data_dir, labels, class_names=("a", "b", "c")):
    """Tiny-shaped clips in two shards with a matching manifest.

    Clip i is filled with 10 * i (a batch shows which clips it holds) and
    has label ``labels[i]``.
    """
    clips = [
        fixtures.make_clip(
            np.full((4, 16, 16, 3), 10 * i, np.uint8), label, f"c{i}"
        )
        for i, label in enumerate(labels)
    ]
    half = len(clips) // 2
    shards = []
    for index, part in enumerate((clips[:half], clips[half:])):
        name = manifest_lib.shard_name("train", index, 2)
        fixtures.write_shard(os.path.join(data_dir, name), part)
        size = os.path.getsize(os.path.join(data_dir, name))
        shards.append(manifest_lib.ShardInfo(name, len(part), size))
    manifest_lib.write_manifest(
        data_dir,
        manifest_lib.Manifest(
            dataset_name="tiny-s16-25fps-q90",
            class_names=tuple(class_names),
            splits={
                "train": manifest_lib.SplitInfo(len(clips), 0, tuple(shards))
            },
            storage_size=16,
            fps=25.0,
            jpeg_quality=90,
        ),
    )
    return data_dir


@pytest.fixture(scope="module")
def tiny_frame_data(tmp_path_factory):
    """16 clips of 3 classes, 4 frames of 16x16 (the tiny models' shapes)."""
    data_dir = str(tmp_path_factory.mktemp("tiny_data"))
    return _write_frame_data(data_dir, [i % 3 for i in range(16)])


# Shards read one after the other, no record shuffle: a bad record at the end
# of a shard comes after at least 7 good ones (a step reads 4).
_SEQUENTIAL_READER = functools.partial(
    pipeline.make_dataset, shuffle_buffer_size=1, interleave_cycle_length=1
)


def test_bit_flipped_shard_is_named_and_a_checkpoint_saved(
    tmp_path, tiny_frame_data, eager_functions
):
    data_dir = str(tmp_path / "data")
    shutil.copytree(tiny_frame_data, data_dir)
    shard = os.path.join(data_dir, manifest_lib.shard_name("train", 1, 2))
    with open(shard, "r+b") as f:  # Same size; a byte of the last record.
        f.seek(os.path.getsize(shard) - 40)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    model_dir = str(tmp_path / "run")
    with pytest.raises(ValueError) as error:
        training.run(
            None,
            **_pipeline_run_kwargs(
                model_dir, data_dir, 50, dataset_builder=_SEQUENTIAL_READER
            ),
        )
    message = str(error.value)
    assert os.path.basename(shard) in message and "corrupt" in message
    assert "Saved checkpoint" in message
    (step,) = checkpointing.list_checkpoint_steps(model_dir)
    assert step >= 1  # the steps done before the bad record
    assert f"ckpt-{step}" in message
    checkpointing.load_generator(model_dir, use_ema=False)


def test_labels_beyond_the_manifest_classes_stop_with_a_checkpoint(tmp_path):
    # A manifest with 2 class names, records whose last clip has label 2.
    os.makedirs(tmp_path / "data")
    data_dir = _write_frame_data(
        str(tmp_path / "data"), [i % 2 for i in range(15)] + [2], ("a", "b")
    )
    model_dir = str(tmp_path / "run")
    with pytest.raises(ValueError) as error:
        training.run(
            None,
            **_pipeline_run_kwargs(
                model_dir,
                data_dir,
                50,
                dataset_builder=_SEQUENTIAL_READER,
                generator_builder=lambda: tiny_gan.build_generator(2),
                spatial_discriminator_builder=lambda: (
                    tiny_gan.build_spatial_discriminator(num_classes=2)
                ),
                temporal_discriminator_builder=lambda: (
                    tiny_gan.build_temporal_discriminator(2)
                ),
            ),
        )
    message = str(error.value)
    assert "outside [0, 2)" in message and "Re-convert" in message
    assert "{{function_node" not in message
    (step,) = checkpointing.list_checkpoint_steps(model_dir)
    assert step >= 1 and f"Saved checkpoint {model_dir}" in message


def _train_in_memory(model_dir, steps, **extra):
    return training.run(
        None,
        **tiny_gan.run_kwargs(model_dir, steps, checkpoint_every=1, **extra),
    )


def test_resume_skips_a_truncated_checkpoint_with_a_warning(
    tmp_path, eager_functions, caplog
):
    model_dir = str(tmp_path / "run")
    _train_in_memory(model_dir, 2)
    prefix = os.path.join(checkpointing.checkpoint_dir(model_dir), "ckpt-2")
    (data_file,) = tf.io.gfile.glob(prefix + ".data-*")
    fixtures.truncate(data_file, 0.5)
    result = _train_in_memory(model_dir, 3)
    assert result.initial_step == 1  # fell back to ckpt-1
    assert "ckpt-2 is damaged" in caplog.text
    assert os.path.basename(data_file) in caplog.text


def test_resume_without_the_checkpoint_index_uses_the_ckpt_files(
    tmp_path, eager_functions
):
    model_dir = str(tmp_path / "run")
    _train_in_memory(model_dir, 2)
    os.remove(
        os.path.join(checkpointing.checkpoint_dir(model_dir), "checkpoint")
    )
    result = _train_in_memory(model_dir, 3)
    assert (result.initial_step, result.step) == (2, 3)


def test_resuming_on_other_data_is_refused_unless_allowed(
    tmp_path, eager_functions
):
    model_dir = str(tmp_path / "run")
    _train_in_memory(model_dir, 1)
    path = os.path.join(model_dir, checkpointing.METADATA_FILE)
    with open(path) as f:
        metadata = json.load(f)
    metadata["class_names"] = ["x", "y", "z"]
    with open(path, "w") as f:
        json.dump(metadata, f)
    with pytest.raises(ValueError, match="other data.*allow_data_change"):
        _train_in_memory(model_dir, 2)
    with open(path) as f:
        assert json.load(f)["class_names"] == ["x", "y", "z"]  # untouched
    result = _train_in_memory(model_dir, 2, allow_data_change=True)
    assert result.step == 2


def test_a_resumed_run_does_not_replay_the_first_batches(tiny_frame_data):
    def first_labels(start_step):
        dataset = pipeline.make_dataset(
            None,
            file_pattern=os.path.join(tiny_frame_data, "train-*"),
            global_batch_size=4,
            num_frames=4,
            resolution=16,
            seed=0,
            shuffle_buffer_size=8,
            start_step=start_step,
        )
        # The clips of the first 3 batches, by their fill value.
        return [
            tuple(np.round(batch["video"].numpy()[:, 0, 0, 0, 0], 3))
            for batch in dataset.take(3)
        ]

    fresh = first_labels(0)
    assert first_labels(0) == fresh  # still reproducible
    assert first_labels(7) != fresh
    assert first_labels(7) == first_labels(7)


def test_conversion_stopped_by_a_signal_keeps_shards_and_resumes(tmp_path):
    output_dir = str(tmp_path / "out")
    calls = []

    def stop_after_first_shard():
        calls.append(1)
        return len(calls) > 1

    options = convert.ConvertOptions(
        num_shards=3, min_frames=1, should_stop=stop_after_first_shard
    )
    with pytest.raises(writer.ConversionInterrupted, match="1 of 3"):
        convert.convert_synthetic(
            output_dir,
            num_clips=6,
            num_test_clips=0,
            num_frames=4,
            size=16,
            options=options,
        )
    assert len(tf.io.gfile.glob(os.path.join(output_dir, "train-*"))) == 1
    assert not os.path.exists(os.path.join(output_dir, "manifest.json"))
    manifest = convert.convert_synthetic(
        output_dir,
        num_clips=6,
        num_test_clips=0,
        num_frames=4,
        size=16,
        options=convert.ConvertOptions(num_shards=3, min_frames=1),
    )
    assert manifest.splits["train"].num_examples == 6


def test_keep_truncated_keeps_what_decodes(tmp_path):
    (path,) = fixtures.write_videos(str(tmp_path), [("clip", ".avi")], 20)
    fixtures.truncate(path, 0.8)
    with pytest.raises(decode.DecodeFailure, match="truncated"):
        decode.decode_video(path, short_side=32)
    video = decode.decode_video(path, short_side=32, keep_truncated=True)
    assert 0 < video.frames.shape[0] < 20
    assert np.all(video.frames.shape[1:] == (32, 32, 3))
