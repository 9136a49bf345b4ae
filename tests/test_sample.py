"""Tests of the sampling CLI and library (dvdgan_tf/sample.py)."""

import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from dvdgan_tf import sample
from dvdgan_tf import video_io
from dvdgan_tf.data import synthetic
from dvdgan_tf.inference import context_frames
from dvdgan_tf.inference import export
from dvdgan_tf.inference import generation
from dvdgan_tf.inference import samplers
from dvdgan_tf.util import pixels
from tests import model_dir_fixture
from tests import tiny_config as tiny
from tests.data import fixtures

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NAMES = list(model_dir_fixture.CLASS_NAMES)


@pytest.fixture(scope="module")
def sampler(tiny_model_dir):
    return samplers.GeneratorSampler.from_model_dir(tiny_model_dir.path)


def test_mp4_decodes_to_generated_frame_count_and_size(sampler, tmp_path):
    written = sample.write_samples(
        sampler,
        str(tmp_path),
        labels=[1],
        num=1,
        seed=3,
        formats=["mp4"],
        progress=False,
    )
    assert written == [str(tmp_path / "000_class_b_seed3.mp4")]
    frames, fps = video_io.read_video(written[0])
    assert frames.shape == (tiny.FRAMES, tiny.RESOLUTION, tiny.RESOLUTION, 3)
    assert fps == pytest.approx(model_dir_fixture.FPS)
    expected = pixels.to_uint8(sampler.generate(np.array([3]), [1], 1.0))[0]
    # H.264 (crf 18, yuv420p) on a 16x16 clip: close, not exact.
    assert np.abs(frames.astype(int) - expected).mean() < 20


def test_png_grid_has_one_row_per_video_and_one_column_per_frame(
    sampler, tmp_path
):
    sample.write_samples(
        sampler,
        str(tmp_path),
        labels=[0, 1, 2],
        num=3,
        formats=["png", "gif"],
        batch_size=2,
        progress=False,
    )
    grid = np.asarray(Image.open(tmp_path / "grid.png"))
    size = tiny.RESOLUTION
    assert grid.shape == (3 * size + 2, tiny.FRAMES * size + tiny.FRAMES - 1, 3)
    assert len(list(tmp_path.glob("*.gif"))) == 3


def test_zero_truncation_gives_identical_videos_for_different_seeds(sampler):
    videos = sampler.generate(np.array([1, 2]), [2, 2], truncation=0.0)
    np.testing.assert_array_equal(videos[0], videos[1])


def test_same_seed_gives_same_video_from_saved_model_and_model_dir(
    sampler,
    tiny_model_dir,
    tmp_path,
):
    path = export.export(tiny_model_dir.path, str(tmp_path))
    saved = samplers.SavedModelSampler(path)
    seeds, labels = np.array([11, 12]), [0, 2]
    np.testing.assert_allclose(
        saved.generate(seeds, labels, 0.7),
        sampler.generate(seeds, labels, 0.7),
        atol=1e-5,
    )
    with pytest.raises(ValueError, match="--interpolate needs --model_dir"):
        sample.write_interpolation(saved, str(tmp_path), 0, 1, steps=2)


def test_unconditional_model_samples_without_labels(tmp_path):
    model_dir = str(tmp_path / "model")
    model_dir_fixture.write_tiny_model_dir(model_dir, num_classes=0)
    keras_sampler = samplers.GeneratorSampler.from_model_dir(model_dir)
    saved = samplers.SavedModelSampler(
        export.export(model_dir, str(tmp_path / "export"))
    )
    labels, num = sample.resolve_labels([], saved.info.class_names, 2)
    assert (labels, num) == (None, 2)
    written = sample.write_samples(
        saved,
        str(tmp_path / "out"),
        labels,
        num,
        formats=["png"],
        progress=False,
    )
    assert written == [str(tmp_path / "out" / "grid.png")]
    np.testing.assert_allclose(
        saved.generate(np.array([1, 2]), None, 1.0),
        keras_sampler.generate(np.array([1, 2]), None, 1.0),
        atol=1e-5,
    )


def test_labels_resolve_from_indices_and_class_names():
    labels, num = sample.resolve_labels(["class_c,0", "class_b"], NAMES, None)
    assert (labels, num) == ([2, 0, 1], 3)
    labels, _ = sample.resolve_labels(["1"], NAMES, 3)
    assert labels == [1, 1, 1]


def test_default_labels_spread_over_classes_then_cycle():
    six = [f"c{i}" for i in range(6)]
    assert sample.resolve_labels([], six, 3)[0] == [0, 2, 4]
    assert sample.resolve_labels([], NAMES, 5)[0] == [0, 1, 2, 0, 1]


@pytest.mark.parametrize(
    "token, message",
    [
        ("3", "out of range.*num_classes=3"),
        ("-1", "out of range"),
        ("class_x", "Unknown class name 'class_x'.*class_a"),
    ],
)
def test_bad_label_is_rejected_with_the_valid_range(token, message):
    with pytest.raises(ValueError, match=message):
        sample.resolve_labels([token], NAMES, None)


def test_labels_for_unconditional_model_are_rejected():
    with pytest.raises(ValueError, match="unconditional"):
        sample.resolve_labels(["0"], [], None)


def test_interpolation_ends_are_the_two_class_videos(sampler):
    videos = sampler.interpolate(5, 0, 2, steps=3, truncation=1.0)
    ends = sampler.generate(np.array([5, 5]), [0, 2], truncation=1.0)
    np.testing.assert_allclose(videos[0], ends[0], atol=1e-5)
    np.testing.assert_allclose(videos[-1], ends[1], atol=1e-5)
    assert np.abs(videos[1] - ends[0]).max() > 1e-4
    assert np.abs(videos[1] - ends[1]).max() > 1e-4


def test_interpolation_rejects_out_of_range_label(sampler):
    with pytest.raises(ValueError, match="Label 3 is out of range"):
        sampler.interpolate(0, 0, 3, steps=2, truncation=1.0)


def test_exactly_one_source_is_required():
    with pytest.raises(ValueError, match="exactly one of --saved_model"):
        samplers.load_sampler(saved_model=None, model_dir=None)


def _run_cli(args):
    env = dict(os.environ, PYTHONPATH=REPO_ROOT, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [sys.executable, "-m", "dvdgan_tf.sample", *args],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_cli_writes_the_demo_samples_and_says_where(
    tiny_model_dir,
    tmp_path,
):
    output = tmp_path / "samples"
    result = _run_cli(
        [f"--model_dir={tiny_model_dir.path}", "--num=4", f"--output={output}"]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert len(list(output.glob("*.mp4"))) == 4
    assert (output / "grid.png").exists()
    assert f"wrote 9 files to {output}" in result.stderr


def test_cli_reports_out_of_range_label_and_fails(
    tiny_model_dir,
    tmp_path,
):
    result = _run_cli(
        [
            f"--model_dir={tiny_model_dir.path}",
            "--label=7",
            f"--output={tmp_path}",
        ]
    )
    assert result.returncode == 1
    assert "error: Label 7 is out of range" in result.stderr


# DVD-GAN-FP --------------------------------------------------------------


@pytest.fixture(scope="module")
def fp_model_dir(tmp_path_factory):
    return model_dir_fixture.write_tiny_model_dir(
        str(tmp_path_factory.mktemp("fp_model_dir")),
        num_conditioning_frames=model_dir_fixture.FP_CONTEXT,
    )


def _synthetic_video(path, num_frames, size=24, fps=8.0):
    videos, _ = synthetic.generate_clips(1, num_frames, size, seed=5)
    video_io.write_video(str(path), videos[0], fps=fps)
    return videos[0]


def test_fp_sample_from_a_video_file_continues_its_first_frames(
    fp_model_dir, tmp_path
):
    _synthetic_video(tmp_path / "clip.mp4", num_frames=6)
    output = tmp_path / "samples"
    result = _run_cli(
        [
            f"--model_dir={fp_model_dir.path}",
            f"--conditioning={tmp_path / 'clip.mp4'}",
            "--num=2",
            "--formats=gif,png",
            f"--output={output}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    gifs = sorted(output.glob("*.gif"))
    assert len(gifs) == 2
    frames = np.asarray(Image.open(tmp_path / "samples" / "grid.png"))
    # grid: 2 rows x 4 frames (2 context + 2 predicted), 1-px padding.
    size = tiny.RESOLUTION
    assert frames.shape[:2] == (2 * (size + 1) - 1, 4 * (size + 1) - 1)
    # Conditioning frames carry the red border, predicted frames do not.
    first = frames[:size, :size]
    assert tuple(first[0, size // 2]) == generation.CONTEXT_MARK
    predicted = frames[:size, 2 * (size + 1) : 2 * (size + 1) + size]
    assert tuple(predicted[0, size // 2]) != generation.CONTEXT_MARK
    # The interior of a context frame is the resized source frame.
    expected = context_frames.frames_from_video(
        str(tmp_path / "clip.mp4"), 2, size, model_dir_fixture.FPS
    )[0, 0]
    assert (
        np.abs(first[2:-2, 2:-2].astype(int) - expected[2:-2, 2:-2]).mean() < 12
    )


def test_fp_sample_from_records_uses_their_labels(fp_model_dir, tmp_path):
    videos, _ = synthetic.generate_clips(3, 6, 16, seed=1)
    labels = [2, 0, 1]
    shard = fixtures.write_shard(
        str(tmp_path / "test-00000-of-00001.tfrecord"),
        [
            fixtures.make_clip(v, y, f"c{i}")
            for i, (v, y) in enumerate(zip(videos, labels))
        ],
    )
    frames, record_labels = context_frames.load_context(
        shard, 2, 16, 1, 8.0, count=3
    )
    # Stored as JPEG: close to the source frames, not equal.
    assert frames.shape == (3, 2, 16, 16, 3)
    assert np.abs(frames.astype(int) - videos[:, :2]).mean() < 6
    np.testing.assert_array_equal(record_labels, labels)
    result = _run_cli(
        [
            f"--model_dir={fp_model_dir.path}",
            f"--conditioning={shard}",
            "--formats=gif",
            f"--output={tmp_path / 'out'}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in (tmp_path / "out").glob("*.gif")) == [
        "000_class_c_seed0.gif",
        "001_class_a_seed1.gif",
        "002_class_b_seed2.gif",
    ]


def test_fp_video_shorter_than_the_context_is_a_clear_error(
    fp_model_dir, tmp_path
):
    videos, _ = synthetic.generate_clips(1, 2, 24, seed=5)
    video_io.write_video(str(tmp_path / "short.mp4"), videos[0][:1], fps=8.0)
    result = _run_cli(
        [
            f"--model_dir={fp_model_dir.path}",
            f"--conditioning={tmp_path / 'short.mp4'}",
            f"--output={tmp_path / 'out'}",
        ]
    )
    assert result.returncode == 1
    assert "short.mp4" in result.stderr and "Use a longer video" in (
        result.stderr
    )
    assert "Traceback" not in result.stderr


def test_fp_model_without_conditioning_flag_is_a_usage_error(
    fp_model_dir, tmp_path
):
    result = _run_cli(
        [f"--model_dir={fp_model_dir.path}", f"--output={tmp_path / 'o'}"]
    )
    assert result.returncode == 2
    assert "--conditioning" in result.stderr


def test_conditioning_for_a_synthesis_model_is_a_usage_error(
    tiny_model_dir, tmp_path
):
    _synthetic_video(tmp_path / "clip.mp4", num_frames=4)
    result = _run_cli(
        [
            f"--model_dir={tiny_model_dir.path}",
            f"--conditioning={tmp_path / 'clip.mp4'}",
            f"--output={tmp_path / 'o'}",
        ]
    )
    assert result.returncode == 2
    assert "num_conditioning_frames=0" in result.stderr


def test_fp_saved_model_and_model_dir_give_the_same_clip(
    fp_model_dir, tmp_path
):
    export_path = export.export(fp_model_dir.path, str(tmp_path / "export"))
    frames = np.random.default_rng(0).integers(
        0, 256, (2, 2, tiny.RESOLUTION, tiny.RESOLUTION, 3), dtype=np.uint8
    )
    seeds, labels = np.array([1, 2]), np.array([0, 2])
    a = samplers.GeneratorSampler.from_model_dir(fp_model_dir.path).generate(
        seeds, labels, 1.0, context=frames
    )
    b = samplers.SavedModelSampler(export_path).generate(
        seeds, labels, 1.0, context=frames
    )
    assert a.shape == (2, tiny.FRAMES, tiny.RESOLUTION, tiny.RESOLUTION, 3)
    np.testing.assert_allclose(a, b, atol=1e-5)
    with pytest.raises(ValueError, match=r"uint8 \[2, 2, 16, 16, 3\]"):
        samplers.SavedModelSampler(export_path).generate(
            seeds, labels, 1.0, context=frames[:, :1]
        )


def test_cli_files_are_the_samplers_clips_for_their_seeds_labels_truncation(
    tiny_model_dir, sampler, tmp_path
):
    """The CLI across several batches (num > batch size) writes, for video
    i, what the sampler generates for seed + i, the cycled --label and the
    truncation: the PNG grid is lossless, so rows compare exactly."""
    output = tmp_path / "samples"
    result = _run_cli(
        [
            f"--model_dir={tiny_model_dir.path}",
            "--num=5",
            "--batch_size=2",
            "--seed=10",
            "--truncation=0.5",
            f"--label={NAMES[2]}",
            "--label=0",
            "--formats=png,gif",
            f"--output={output}",
        ]
    )
    assert result.returncode == 0, result.stderr[-3000:]
    labels = [2, 0, 2, 0, 2]
    seeds = np.arange(10, 15)
    expected = pixels.to_uint8(sampler.generate(seeds, labels, 0.5))
    grid = np.asarray(Image.open(output / "grid.png"))
    np.testing.assert_array_equal(grid, video_io.tile_grid(expected, 1))
    names = sorted(p.name for p in output.glob("*.gif"))
    assert names == [
        f"{i:03d}_{NAMES[label]}_seed{seed}.gif"
        for i, (label, seed) in enumerate(zip(labels, seeds))
    ]
    # Not the untruncated draw, nor seeds restarting in every batch.
    assert not np.array_equal(
        expected, pixels.to_uint8(sampler.generate(seeds, labels, 1.0))
    )
    restarted = pixels.to_uint8(
        sampler.generate(np.array([10, 11, 10, 11, 10]), labels, 0.5)
    )
    assert not np.array_equal(expected, restarted)
