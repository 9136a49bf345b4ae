"""The SavedModel export (dvdgan_tf/inference/export.py, the export tool)."""

import glob
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.evaluation import best
from dvdgan_tf.evaluation.tasks import MetricResult
from dvdgan_tf.inference import export
from dvdgan_tf.inference import generation
from dvdgan_tf.store import checkpointing
from dvdgan_tf.util import pixels
from tests import model_dir_fixture
from tests import tiny_config as tiny

REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
EXPORT_TOOL = os.path.join(REPO_ROOT, "tools", "export_savedmodel.py")


def _run(args, cwd):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def _export_with_tool(model_dir, export_dir):
    """Exports with the command-line tool, in its own process."""
    result = _run(
        [
            sys.executable,
            EXPORT_TOOL,
            f"--model_dir={model_dir}",
            f"--export_dir={export_dir}",
        ],
        cwd=export_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert os.listdir(export_dir) == [str(model_dir_fixture.STEP)]
    return str(export_dir / str(model_dir_fixture.STEP))


@pytest.fixture(scope="module")
def exported(tiny_model_dir, tmp_path_factory):
    return _export_with_tool(
        tiny_model_dir.path, tmp_path_factory.mktemp("export")
    )


@pytest.fixture(scope="module")
def loaded(exported):
    return tf.saved_model.load(exported)


def _inputs():
    z = np.random.RandomState(3).randn(tiny.BATCH, tiny.LATENT_DIM)
    labels = np.arange(tiny.BATCH, dtype=np.int32) % tiny.NUM_CLASSES
    return z.astype(np.float32), labels


def test_export_tool_writes_version_named_after_the_step(exported):
    assert os.path.exists(os.path.join(exported, "saved_model.pb"))


def test_reloaded_in_fresh_process_matches_ema_generator(
    exported,
    tiny_model_dir,
    tmp_path,
):
    z, labels = _inputs()
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "labels.npy", labels)
    # No dvdgan_tf import: the SavedModel must be self-contained.
    script = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf
        model = tf.saved_model.load({exported!r})
        out = model.signatures["serving_default"](
            z=tf.constant(np.load("z.npy")),
            label=tf.constant(np.load("labels.npy")))
        np.save("video_float.npy", out["video_float"].numpy())
        """
    )
    result = _run([sys.executable, "-c", script], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    expected = tiny_model_dir.ema_generator(z, labels, training=False)
    np.testing.assert_allclose(
        np.load(tmp_path / "video_float.npy"), expected.numpy(), atol=1e-5
    )


def test_export_uses_ema_not_live_generator(
    loaded,
    tiny_model_dir,
):
    z, labels = _inputs()
    out = loaded.signatures["serving_default"](z=z, label=labels)
    live = tiny_model_dir.generator(z, labels, training=False).numpy()
    assert np.abs(out["video_float"].numpy() - live).max() > 1e-3


def test_saved_model_cli_run_writes_uint8_video(exported, tmp_path):
    z, labels = _inputs()
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "label.npy", labels)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = _run(
        [
            cli,
            "run",
            "--dir",
            exported,
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--inputs",
            "z=z.npy;label=label.npy",
            "--outdir",
            "out",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    video = np.load(tmp_path / "out" / "video.npy")
    assert video.dtype == np.uint8
    assert video.shape == (
        tiny.BATCH,
        tiny.FRAMES,
        tiny.RESOLUTION,
        tiny.RESOLUTION,
        3,
    )


def test_uint8_video_is_rounded_float_video(loaded):
    z, labels = _inputs()
    out = loaded.signatures["serving_default"](z=z, label=labels)
    np.testing.assert_array_equal(
        out["video"].numpy(), pixels.to_uint8(out["video_float"].numpy())
    )


def test_zero_truncation_gives_identical_videos_for_different_seeds(loaded):
    out = loaded.signatures["sample"](
        seed=tf.constant([1, 2, 3], tf.int64),
        label=tf.constant([1, 1, 1]),
        truncation=tf.constant(0.0),
    )["video"].numpy()
    np.testing.assert_array_equal(out[0], out[1])
    np.testing.assert_array_equal(out[0], out[2])


def test_sample_video_depends_only_on_its_own_seed(loaded):
    sample = loaded.signatures["sample"]
    pair = sample(
        seed=tf.constant([7, 8], tf.int64),
        label=tf.constant([0, 2]),
        truncation=tf.constant(1.0),
    )["video_float"].numpy()
    alone = sample(
        seed=tf.constant([8], tf.int64),
        label=tf.constant([2]),
        truncation=tf.constant(1.0),
    )["video_float"].numpy()
    np.testing.assert_allclose(pair[1], alone[0], atol=1e-6)
    assert np.abs(pair[0] - pair[1]).max() > 1e-3


def test_sample_signature_draws_latents_from_seeds(loaded):
    seeds = tf.constant([4, 5], tf.int64)
    labels = tf.constant([0, 1])
    sampled = loaded.signatures["sample"](
        seed=seeds, label=labels, truncation=tf.constant(0.5)
    )["video_float"]
    z = generation.latents_from_seeds(seeds, tiny.LATENT_DIM, 0.5)
    direct = loaded.signatures["serving_default"](z=z, label=labels)
    np.testing.assert_allclose(
        sampled.numpy(), direct["video_float"].numpy(), atol=1e-6
    )


@pytest.mark.parametrize("label", [3, -1])
def test_out_of_range_label_fails_in_saved_model(loaded, label):
    z, _ = _inputs()
    with pytest.raises(tf.errors.InvalidArgumentError, match=r"\[0, 3\)"):
        loaded.signatures["serving_default"](z=z, label=tf.constant([0, label]))


def test_negative_truncation_fails_in_saved_model(loaded):
    with pytest.raises(tf.errors.InvalidArgumentError, match="truncation"):
        loaded.signatures["sample"](
            seed=tf.constant([1], tf.int64),
            label=tf.constant([0]),
            truncation=tf.constant(-0.5),
        )


def test_batch_size_mismatch_of_z_and_label_fails(loaded):
    z, _ = _inputs()
    with pytest.raises(tf.errors.InvalidArgumentError, match="same batch"):
        loaded.signatures["serving_default"](z=z, label=tf.constant([0]))


def test_metadata_signature_reports_classes_and_step(loaded):
    metadata = loaded.signatures["metadata"]()
    assert [n.decode() for n in metadata["class_names"].numpy()] == list(
        model_dir_fixture.CLASS_NAMES
    )
    assert int(metadata["step"]) == model_dir_fixture.STEP
    assert int(metadata["num_frames"]) == tiny.FRAMES
    assert json.loads(metadata["metadata_json"].numpy())["fps"] == (
        model_dir_fixture.FPS
    )


def test_assets_hold_metadata_class_names_and_operative_config(exported):
    assets = os.path.join(exported, "assets")
    assert export.read_export_metadata(exported)["latent_dim"] == (
        tiny.LATENT_DIM
    )
    with open(os.path.join(assets, export.CLASS_NAMES_ASSET)) as f:
        assert f.read().split() == list(model_dir_fixture.CLASS_NAMES)
    with open(os.path.join(assets, checkpointing.OPERATIVE_CONFIG_FILE)) as f:
        assert f.read() == model_dir_fixture.OPERATIVE_CONFIG


def test_missing_checkpoint_is_named(tmp_path):
    model_dir = str(tmp_path / "model")
    checkpointing.write_model_spec(
        model_dir,
        model_dir_fixture.build_tiny_generator(),
        model_dir_fixture.tiny_metadata(),
    )
    with pytest.raises(checkpointing.CheckpointError, match="No checkpoint"):
        export.export(model_dir, str(tmp_path / "export"))


def test_partial_checkpoint_is_named(tmp_path):
    model_dir = str(tmp_path / "model")
    model_dir_fixture.write_tiny_model_dir(model_dir)
    for path in glob.glob(
        os.path.join(checkpointing.checkpoint_dir(model_dir), "*.data-*")
    ):
        os.remove(path)
    with pytest.raises(checkpointing.CheckpointError, match="is partial"):
        export.export(model_dir, str(tmp_path / "export"))


def test_mismatched_generator_config_names_the_variables(tmp_path):
    model_dir = str(tmp_path / "model")
    model_dir_fixture.write_tiny_model_dir(model_dir)
    config = checkpointing.read_generator_config(model_dir)
    config["channel_multiplier"] = 2 * tiny.CHANNEL_MULTIPLIER
    checkpointing.write_json_atomic(
        os.path.join(model_dir, checkpointing.GENERATOR_CONFIG_FILE), config
    )
    with pytest.raises(checkpointing.CheckpointError) as error:
        export.export(model_dir, str(tmp_path / "export"))
    assert "ema_generator/" in str(error.value)
    assert "in the checkpoint" in str(error.value)


def test_version_is_next_free_integer_when_step_is_taken(tmp_path):
    for version in (5, 9):
        os.makedirs(tmp_path / str(version))
    assert export.choose_version(str(tmp_path), step=3, version=None) == 3
    assert export.choose_version(str(tmp_path), step=5, version=None) == 10


def test_existing_explicit_version_is_rejected(tmp_path):
    os.makedirs(tmp_path / "4")
    with pytest.raises(ValueError, match="already exists"):
        export.choose_version(str(tmp_path), step=1, version=4)


def test_class_name_count_must_match_generator():
    generator = model_dir_fixture.build_tiny_generator()
    metadata = dict(model_dir_fixture.tiny_metadata(), class_names=["a", "b"])
    with pytest.raises(ValueError, match="num_classes=3 but the metadata"):
        export.GeneratorExportModule(generator, metadata)


def _input_names(function):
    return [spec.name for spec in function.input_signature]


def test_unconditional_generator_has_no_label_input():
    generator = model_dir_fixture.build_tiny_generator(num_classes=0)
    module = export.GeneratorExportModule(
        generator, model_dir_fixture.tiny_metadata(num_classes=0)
    )
    assert _input_names(module.serving_default) == ["z"]
    assert _input_names(module.sample) == ["seed", "truncation"]
    z, _ = _inputs()
    np.testing.assert_allclose(
        module.serving_default(z)["video_float"].numpy(),
        generator(z, None, training=False).numpy(),
        atol=1e-5,
    )


# DVD-GAN-FP ------------------------------------------------------------------

FP_CONTEXT = model_dir_fixture.FP_CONTEXT


@pytest.fixture(scope="module")
def fp_model_dir(tmp_path_factory):
    return model_dir_fixture.write_tiny_model_dir(
        str(tmp_path_factory.mktemp("fp_model_dir")),
        num_conditioning_frames=FP_CONTEXT,
    )


@pytest.fixture(scope="module")
def fp_exported(fp_model_dir, tmp_path_factory):
    return _export_with_tool(
        fp_model_dir.path, tmp_path_factory.mktemp("fp_export")
    )


def _conditioning_frames(seed=4):
    return np.random.default_rng(seed).integers(
        0,
        256,
        (tiny.BATCH, FP_CONTEXT, tiny.RESOLUTION, tiny.RESOLUTION, 3),
        dtype=np.uint8,
    )


def test_fp_signatures_take_uint8_conditioning_frames(fp_exported):
    loaded = tf.saved_model.load(fp_exported)
    serving = loaded.signatures["serving_default"]
    assert sorted(serving.structured_input_signature[1]) == [
        "conditioning_frames",
        "label",
        "z",
    ]
    spec = serving.structured_input_signature[1]["conditioning_frames"]
    assert spec.dtype == tf.uint8
    sample = loaded.signatures["sample"]
    assert "conditioning_frames" in sample.structured_input_signature[1]
    metadata = loaded.signatures["metadata"]()
    assert int(metadata["num_conditioning_frames"]) == FP_CONTEXT


def test_fp_reloaded_in_fresh_process_matches_the_in_memory_model(
    fp_exported, fp_model_dir, tmp_path
):
    z, labels = _inputs()
    frames = _conditioning_frames()
    for name, value in (("z", z), ("labels", labels), ("frames", frames)):
        np.save(tmp_path / f"{name}.npy", value)
    script = textwrap.dedent(
        f"""
        import numpy as np, tensorflow as tf
        model = tf.saved_model.load({fp_exported!r})
        out = model.signatures["serving_default"](
            z=tf.constant(np.load("z.npy")),
            label=tf.constant(np.load("labels.npy")),
            conditioning_frames=tf.constant(np.load("frames.npy")))
        np.save("video.npy", out["video"].numpy())
        np.save("video_float.npy", out["video_float"].numpy())
        """
    )
    result = _run([sys.executable, "-c", script], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    video = np.load(tmp_path / "video.npy")
    video_float = np.load(tmp_path / "video_float.npy")
    assert video.shape == (
        tiny.BATCH,
        tiny.FRAMES,
        tiny.RESOLUTION,
        tiny.RESOLUTION,
        3,
    )
    # The whole clip: the given frames unchanged, then the prediction.
    np.testing.assert_array_equal(video[:, :FP_CONTEXT], frames)
    context = frames.astype(np.float32) / 127.5 - 1.0
    expected = fp_model_dir.ema_generator(
        z, labels, conditioning_frames=context, training=False
    ).numpy()
    np.testing.assert_allclose(video_float[:, FP_CONTEXT:], expected, atol=1e-5)
    np.testing.assert_allclose(video_float[:, :FP_CONTEXT], context, atol=1e-6)


def test_fp_saved_model_cli_run(fp_exported, tmp_path):
    z, labels = _inputs()
    np.save(tmp_path / "z.npy", z)
    np.save(tmp_path / "label.npy", labels)
    np.save(tmp_path / "frames.npy", _conditioning_frames())
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    result = _run(
        [
            cli,
            "run",
            "--dir",
            fp_exported,
            "--tag_set",
            "serve",
            "--signature_def",
            "serving_default",
            "--inputs",
            "z=z.npy;label=label.npy;conditioning_frames=frames.npy",
            "--outdir",
            "out",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    video = np.load(tmp_path / "out" / "video.npy")
    assert video.dtype == np.uint8 and video.shape[1] == tiny.FRAMES


@pytest.mark.parametrize(
    "shape",
    [
        (tiny.BATCH, FP_CONTEXT + 1, tiny.RESOLUTION, tiny.RESOLUTION, 3),
        (tiny.BATCH, FP_CONTEXT, 8, 8, 3),
        (tiny.BATCH + 1, FP_CONTEXT, tiny.RESOLUTION, tiny.RESOLUTION, 3),
    ],
    ids=["frame_count", "size", "batch"],
)
def test_fp_wrong_conditioning_shape_names_the_expected_one(
    fp_model_dir, shape
):
    module = export.GeneratorExportModule(
        fp_model_dir.ema_generator, fp_model_dir.metadata
    )
    z, labels = _inputs()
    with pytest.raises(
        tf.errors.InvalidArgumentError, match=r"uint8 \[B, 2, 16, 16, 3\]"
    ):
        module.serving_default(z, labels, tf.zeros(shape, tf.uint8))


def test_a_failed_export_leaves_no_temporary_directory(
    tiny_model_dir, tmp_path, monkeypatch
):
    def fail(*args, **kwargs):
        os.makedirs(args[1], exist_ok=True)  # as a save that got halfway
        raise OSError("No space left on device")

    monkeypatch.setattr(tf.saved_model, "save", fail)
    with pytest.raises(OSError, match="No space left"):
        export.export(tiny_model_dir.path, str(tmp_path))
    assert os.listdir(tmp_path) == []


def test_export_best_takes_the_kept_step_and_its_generator(tmp_path):
    """`--best` reads eval/best.json: the kept step (rotated away from
    checkpoints/) and the generator it was scored with (here: live)."""
    model_dir = str(tmp_path / "run")
    tiny_dir = model_dir_fixture.write_tiny_model_dir(model_dir)
    step = model_dir_fixture.STEP
    results = [MetricResult("judge_accuracy", "judge600", 8, 0, 0.9)]
    best.update(
        model_dir,
        os.path.join(model_dir, "eval"),
        step,
        results,
        "auto",
        "live",
    )
    checkpoints = checkpointing.checkpoint_dir(model_dir)
    for name in os.listdir(checkpoints):
        if name.startswith(f"ckpt-{step}."):
            os.remove(os.path.join(checkpoints, name))
    export_dir = tmp_path / "export"
    export_dir.mkdir()
    result = _run(
        [
            sys.executable,
            EXPORT_TOOL,
            f"--model_dir={model_dir}",
            f"--export_dir={export_dir}",
            "--best",
        ],
        cwd=export_dir,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"Best checkpoint: step {step}" in result.stderr
    loaded = tf.saved_model.load(str(export_dir / str(step)))
    z, labels = _inputs()
    out = loaded.signatures["serving_default"](z=z, label=labels)
    live = tiny_dir.generator(z, labels, training=False).numpy()
    np.testing.assert_allclose(out["video_float"].numpy(), live, atol=1e-5)


def test_export_best_without_a_record_says_how_to_get_one(
    tiny_model_dir, tmp_path
):
    result = _run(
        [
            sys.executable,
            EXPORT_TOOL,
            f"--model_dir={tiny_model_dir.path}",
            f"--export_dir={tmp_path / 'export'}",
            "--best",
        ],
        cwd=tmp_path,
    )
    assert result.returncode == 2
    assert (
        "no best.json" in result.stderr and "dvdgan-evaluate" in result.stderr
    )
