"""Bad inputs whose error must name the file and say what to do: a context
file that is neither video nor shards, shards of another dataset, a damaged
SavedModel, a bit-flipped real-clip shard in evaluation, and plot_results'
damaged results file or a model of another dataset."""

from __future__ import annotations

import json
import os
import shutil

import numpy as np
import pytest

from dvdgan_tf.data import manifest as manifest_lib
from dvdgan_tf.evaluation import real_clips
from dvdgan_tf.inference import context_frames
from dvdgan_tf.inference import export
from dvdgan_tf.inference import samplers
from tests.data import fixtures

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def synthetic_dir(tmp_path_factory):
    data_dir = str(tmp_path_factory.mktemp("synthetic"))
    return fixtures.convert_tiny_synthetic(data_dir, num_clips=8)


def _load(path, class_names=None):
    return context_frames.load_context(
        path, 2, 16, 1, 25.0, 2, class_names=class_names
    )


def test_a_context_image_is_neither_video_nor_shards(tmp_path):
    image = tmp_path / "frame.png"
    image.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match="frame.png: expected a video file"):
        _load(str(image))


def test_context_shards_of_a_dataset_with_other_classes_are_refused(
    synthetic_dir,
):
    shards = os.path.join(synthetic_dir, "train-*.tfrecord")
    others = tuple(f"class_{i}" for i in range(12))
    with pytest.raises(ValueError, match="other classes"):
        _load(shards, class_names=others)
    names = manifest_lib.read_manifest(synthetic_dir).class_names
    frames, labels = _load(shards, class_names=names)
    assert frames.shape[0] == labels.shape[0] == 2


def test_a_damaged_saved_model_is_named(tiny_model_dir, tmp_path):
    path = export.export(tiny_model_dir.path, str(tmp_path / "export"))
    variables = os.path.join(path, "variables", "variables.index")
    with open(variables, "r+b") as f:
        f.truncate(os.path.getsize(variables) // 2)
    with pytest.raises(ValueError) as raised:
        samplers.SavedModelSampler(path)
    message = str(raised.value)
    assert path in message and "Export it again" in message


def test_a_bit_flipped_real_clip_shard_is_named_by_evaluation(
    synthetic_dir, tmp_path
):
    data_dir = str(tmp_path / "data")
    shutil.copytree(synthetic_dir, data_dir)
    shard = os.path.join(data_dir, manifest_lib.shard_name("train", 1, 2))
    with open(shard, "r+b") as f:
        f.seek(os.path.getsize(shard) - 40)
        byte = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([byte[0] ^ 0xFF]))
    with pytest.raises(ValueError) as raised:
        real_clips.load_real_clips(
            8,
            4,
            1,
            16,
            "synthetic",
            file_pattern=manifest_lib.shard_pattern(data_dir, "train"),
        )
    assert shard in str(raised.value) and "re-convert" in str(raised.value)


def test_plot_results_names_a_damaged_results_file(tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "plot_results", os.path.join(REPO, "tools", "plot_results.py")
    )
    plot_results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot_results)
    (tmp_path / "eval").mkdir()
    bad = tmp_path / "eval" / "results-00000005.json"
    bad.write_text(json.dumps({"step": 5}))
    with pytest.raises(ValueError) as raised:
        plot_results.read_results(str(tmp_path))
    assert str(bad) in str(raised.value) and "KeyError" in str(raised.value)


def test_plot_results_grid_of_a_model_of_another_dataset_points_to_sample(
    tiny_model_dir, tmp_path
):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "plot_results", os.path.join(REPO, "tools", "plot_results.py")
    )
    plot_results = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(plot_results)
    model_dir = str(tmp_path / "model")
    shutil.copytree(tiny_model_dir.path, model_dir)
    path = os.path.join(model_dir, "metadata.json")
    with open(path) as f:
        metadata = json.load(f)
    metadata["dataset"] = "folder"
    with open(path, "w") as f:
        json.dump(metadata, f)
    with pytest.raises(ValueError) as raised:
        plot_results.grid_panels(model_dir, seed=0)
    message = str(raised.value)
    assert "'folder'" in message and "python -m dvdgan_tf.sample" in message


def test_fp_training_reads_skip_clips_shorter_than_the_whole_clip():
    from dvdgan_tf.gan import dvdgan as gan
    from dvdgan_tf.training import trainer
    from tests import tiny_gan

    model = gan.build_dvdgan(
        tiny_gan.build_generator(num_conditioning_frames=2, num_frames=2),
        tiny_gan.build_spatial_discriminator(),
        tiny_gan.build_temporal_discriminator(),
    )
    wiring = trainer._DataWiring.for_run(None, model, 2, 1, 0, None)
    assert wiring.arguments["short_clip_policy"] == "skip"
    assert wiring.arguments["num_frames"] == 4
    synthesis = gan.build_dvdgan(
        tiny_gan.build_generator(),
        tiny_gan.build_spatial_discriminator(),
        tiny_gan.build_temporal_discriminator(),
    )
    wiring = trainer._DataWiring.for_run(None, synthesis, 2, 1, 0, None)
    assert "short_clip_policy" not in wiring.arguments  # looped, as DMVR


def test_fp_real_clips_skip_short_clips_and_say_so_when_too_few(
    synthetic_dir,
):
    pattern = manifest_lib.shard_pattern(synthetic_dir, "train")
    # The stored clips have 6 frames: a window of 7 never fits.
    looped, _ = real_clips.load_real_clips(
        8, 7, 1, 16, "synthetic", file_pattern=pattern
    )
    np.testing.assert_array_equal(looped[:, 6], looped[:, 0])  # wrapped
    with pytest.raises(ValueError, match="skips shorter clips") as raised:
        real_clips.load_real_clips(
            8, 7, 1, 16, "synthetic", file_pattern=pattern, skip_short=True
        )
    assert "holds 0 clips" in str(raised.value)
    fitting, _ = real_clips.load_real_clips(
        8, 6, 1, 16, "synthetic", file_pattern=pattern, skip_short=True
    )
    assert fitting.shape[:2] == (8, 6)
