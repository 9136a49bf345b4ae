"""Writing (and reading back) whole videos: MP4/AVI (PyAV), GIF and PNG grids.

The output side of video files: the training loop's GIF summaries, the
sampler's MP4/GIF/PNG files and the tests' fixtures. Decoding *datasets*
(seeking, frame-rate resampling, damaged-file reporting) is
`dvdgan_tf.data.decode`'s job, which uses PyAV directly; the converters in
`dvdgan_tf.data` use Pillow for JPEG frames.

All frames here are uint8 [T, H, W, 3] RGB arrays; `util.pixels.to_uint8`
converts the model's float [-1, 1] videos.
"""

from __future__ import annotations

import io
import os
from fractions import Fraction

import av
import numpy as np
from PIL import Image

from dvdgan_tf.util import atomic_files

# Container suffix -> PyAV encoder. H.264 in MP4 for people; MPEG-4 Part 2 in
# AVI because that is what UCF-101's .avi files hold (used by test fixtures).
_ENCODERS = {
    ".mp4": "libx264",
    ".mov": "libx264",
    ".mkv": "libx264",
    ".avi": "mpeg4",
    ".webm": "libvpx-vp9",
}


class VideoDecodeError(ValueError):
    """A file could not be decoded as video (corrupt, truncated, no frames)."""


def _check_frames(frames: np.ndarray) -> np.ndarray:
    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            "Expected uint8 frames of shape [T, H, W, 3]; received: "
            f"dtype={frames.dtype}, shape={frames.shape}"
        )
    if frames.shape[0] == 0:
        raise ValueError("Expected at least one frame; received T=0.")
    return frames


def encode_gif(frames: np.ndarray, fps: float = 8.0, loop: int = 0) -> bytes:
    """Encodes frames as an animated GIF.

    Args:
        frames: uint8 [T, H, W, 3].
        fps: playback rate.
        loop: 0 loops forever.

    Returns:
        The GIF file's bytes (starting with b"GIF89a").
    """
    frames = _check_frames(frames)
    images = [Image.fromarray(f) for f in frames]
    buffer = io.BytesIO()
    images[0].save(
        buffer,
        format="GIF",
        save_all=True,
        append_images=images[1:],
        duration=max(int(round(1000.0 / fps)), 20),
        loop=loop,
        disposal=2,
    )
    return buffer.getvalue()


def write_gif(path: str, frames: np.ndarray, fps: float = 8.0) -> None:
    """Writes an animated GIF atomically (temp file + rename)."""
    atomic_files.write_bytes(path, encode_gif(frames, fps))


def tile_grid(images: np.ndarray, pad: int = 1, fill: int = 0) -> np.ndarray:
    """Tiles uint8 [R, C, H, W, 3] into one image, row i / column j holding
    images[i, j], `pad` pixels of value `fill` between tiles.

    Returns:
        uint8 [R H + (R - 1) pad, C W + (C - 1) pad, 3].
    """
    r, c, h, w, channels = images.shape
    grid = np.full(
        (r * h + (r - 1) * pad, c * w + (c - 1) * pad, channels),
        fill,
        dtype=np.uint8,
    )
    for i in range(r):
        for j in range(c):
            y, x = i * (h + pad), j * (w + pad)
            grid[y : y + h, x : x + w] = images[i, j]
    return grid


def write_png_grid(path: str, videos: np.ndarray, pad: int = 1) -> None:
    """Writes a PNG with one row per video and one column per frame.

    Args:
        path: output .png path.
        videos: uint8 [N, T, H, W, 3].
        pad: pixels of black between tiles.
    """
    videos = np.asarray(videos)
    if videos.ndim != 5 or videos.dtype != np.uint8:
        raise ValueError(
            "Expected uint8 videos of shape [N, T, H, W, 3]; received: "
            f"dtype={videos.dtype}, shape={videos.shape}"
        )
    buffer = io.BytesIO()
    Image.fromarray(tile_grid(videos, pad)).save(buffer, format="PNG")
    atomic_files.write_bytes(path, buffer.getvalue())


def write_video(
    path: str, frames: np.ndarray, fps: float = 25.0, codec: str | None = None
) -> None:
    """Encodes frames into a video file with PyAV (H.264 for .mp4).

    The file is written under a temporary name and renamed, so a killed
    process never leaves a half-written video under the final name.

    Args:
        path: output path; the suffix picks container and default codec.
        frames: uint8 [T, H, W, 3].
        fps: frame rate stored in the container.
        codec: PyAV encoder name; overrides the suffix's default.
    """
    frames = _check_frames(frames)
    suffix = os.path.splitext(path)[1].lower()
    if codec is None:
        if suffix not in _ENCODERS:
            raise ValueError(
                f"Unknown video suffix {suffix!r} for {path}; expected one of "
                f"{sorted(_ENCODERS)} or pass codec=."
            )
        codec = _ENCODERS[suffix]
    t, h, w, _ = frames.shape
    # yuv420p needs even sizes; pad by edge replication rather than fail.
    ph, pw = h % 2, w % 2
    if ph or pw:
        frames = np.pad(frames, ((0, 0), (0, ph), (0, pw), (0, 0)), mode="edge")
    tmp = _tmp_name(path)
    try:
        with av.open(tmp, mode="w", format=suffix.lstrip(".") or None) as out:
            stream = out.add_stream(
                codec, rate=Fraction(fps).limit_denominator(1001)
            )
            stream.width = frames.shape[2]
            stream.height = frames.shape[1]
            stream.pix_fmt = "yuv420p"
            if codec == "libx264":
                stream.options = {"crf": "18", "preset": "veryfast"}
            elif codec == "mpeg4":
                stream.bit_rate = 4_000_000
            for frame in frames:
                packet = stream.encode(
                    av.VideoFrame.from_ndarray(frame, format="rgb24")
                )
                out.mux(packet)
            out.mux(stream.encode(None))
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)


def read_video(path: str) -> tuple[np.ndarray, float]:
    """Decodes every frame of a video file with PyAV.

    Args:
        path: any container/codec the bundled FFmpeg reads.

    Returns:
        (frames uint8 [T, H, W, 3], frames per second of the stream).

    Raises:
        FileNotFoundError: the path does not exist.
        VideoDecodeError: the file has no video stream, cannot be decoded, or
            decodes to zero frames.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such video file: {path}")
    frames = []
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise VideoDecodeError(f"{path}: no video stream")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or stream.guessed_rate or 25.0)
            for frame in container.decode(stream):
                frames.append(frame.to_ndarray(format="rgb24"))
    except VideoDecodeError:
        raise
    except (av.FFmpegError, ValueError, OSError) as e:
        raise VideoDecodeError(f"{path}: cannot decode video ({e})") from e
    if not frames:
        raise VideoDecodeError(f"{path}: decoded zero frames")
    return np.stack(frames), fps


def _tmp_name(path: str) -> str:
    directory, name = os.path.split(os.path.abspath(path))
    stem, suffix = os.path.splitext(name)
    # Keep the suffix: PyAV picks the muxer from it.
    return os.path.join(directory, f".{stem}.tmp-{os.getpid()}{suffix}")
