"""dvdgan_tf.video_io: GIF / PNG grid / video writers and the reader."""

import io
import os

import numpy as np
import pytest
from PIL import Image

from dvdgan_tf import video_io


def _frames(num_frames=4, size=16):
    frames = np.zeros((num_frames, size, size, 3), np.uint8)
    for t in range(num_frames):
        frames[t, :, : 4 * (t + 1)] = (255, 40 * t, 0)  # a growing red bar
    return frames


def test_gif_holds_every_frame_at_the_requested_rate():
    data = video_io.encode_gif(_frames(5), fps=10.0)
    assert data.startswith(b"GIF89a")
    image = Image.open(io.BytesIO(data))
    assert image.n_frames == 5
    assert image.info["duration"] == 100  # ms per frame at 10 fps
    image.seek(2)
    frame = np.asarray(image.convert("RGB"))
    np.testing.assert_array_equal(frame[0, :12], [[255, 80, 0]] * 12)
    np.testing.assert_array_equal(frame[0, 12:], [[0, 0, 0]] * 4)


def test_png_grid_has_one_row_per_video_and_one_column_per_frame(tmp_path):
    videos = np.stack([_frames(3, 8), 255 - _frames(3, 8)])
    path = str(tmp_path / "grid.png")
    video_io.write_png_grid(path, videos, pad=2)
    grid = np.asarray(Image.open(path).convert("RGB"))
    assert grid.shape == (2 * 8 + 2, 3 * 8 + 2 * 2, 3)
    np.testing.assert_array_equal(grid[10:18, 20:28], videos[1, 2])
    np.testing.assert_array_equal(grid[8:10], 0)  # the padding


def test_png_grid_rejects_float_videos(tmp_path):
    with pytest.raises(ValueError, match="uint8.*dtype=float32"):
        video_io.write_png_grid(
            str(tmp_path / "x.png"), np.zeros((1, 2, 4, 4, 3), np.float32)
        )


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_round_trip_keeps_frames_and_rate(tmp_path, suffix):
    frames = _frames(6, 32)
    path = str(tmp_path / f"clip{suffix}")
    video_io.write_video(path, frames, fps=12.0)
    decoded, fps = video_io.read_video(path)
    assert decoded.shape == frames.shape
    assert fps == pytest.approx(12.0)
    # Lossy codecs: close, not equal.
    assert np.abs(decoded.astype(int) - frames).mean() < 8.0
    assert [name for name in os.listdir(tmp_path)] == [f"clip{suffix}"]


def test_odd_frame_sizes_are_padded_for_yuv420(tmp_path):
    path = str(tmp_path / "odd.mp4")
    video_io.write_video(path, _frames(2, 15), fps=8.0)
    decoded, _ = video_io.read_video(path)
    assert decoded.shape == (2, 16, 16, 3)


def test_unknown_suffix_names_the_choices(tmp_path):
    with pytest.raises(ValueError, match=r"'\.xyz'.*\.mp4"):
        video_io.write_video(str(tmp_path / "a.xyz"), _frames())


def test_reading_a_missing_or_corrupt_file_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.mp4"):
        video_io.read_video(str(tmp_path / "nope.mp4"))
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"definitely not a video" * 10)
    with pytest.raises(video_io.VideoDecodeError, match="bad.mp4"):
        video_io.read_video(str(bad))


def test_frames_must_be_uint8_rgb():
    with pytest.raises(ValueError):
        video_io.encode_gif(np.zeros((2, 4, 4), np.uint8))
