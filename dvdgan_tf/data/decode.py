"""Decoding source videos for the converters: PyAV, fps resampling, resize.

`decode_video` returns frames on a fixed-rate time grid (default 25 fps, the
MediaPipe / kinetics-i3d convention) with the short side resized to the
storage size. Resampling picks, for each output time t_k = t_0 + k / fps, the
last source frame shown at or before t_k (what a player displays), using the
stream's presentation timestamps, so variable-frame-rate sources come out
right. Resizing and the RGB conversion are one swscale pass with area
interpolation (PyAV `reformat`).

Failures are `DecodeFailure`s whose `reason` is one of "undecodable" (cannot
open or decode, no video stream), "truncated" (an error after some frames
decoded, or fewer than 90% of the frames the container declares) or
"zero_frames".
"""

from __future__ import annotations

import dataclasses
import os

import av
import numpy as np
from absl import logging

from dvdgan_tf.video_io import VideoDecodeError

# Frames at least this large get FFmpeg's frame/slice threading.
_THREADING_MIN_PIXELS = 640 * 360
# A file that decodes to fewer than this fraction of the frames its container
# declares (minus one) is reported as truncated: cut-off downloads often
# decode cleanly up to the cut, so a decode error alone does not catch them.
_TRUNCATION_TOLERANCE = 0.9


class DecodeFailure(VideoDecodeError):
    """A video that cannot be used, with a short reason category."""

    def __init__(self, reason: str, message: str):
        super().__init__(f"{reason}: {message}")
        self.reason = reason


@dataclasses.dataclass(frozen=True)
class DecodedVideo:
    """Decoded, resampled and resized frames of one file.

    Attributes:
        frames: uint8 [T, H, W, 3].
        fps: frame rate of `frames`.
        timestamps_us: int64 [T], source presentation time of each frame.
        source_fps: the stream's average frame rate.
        source_num_frames: frames decoded from the source (in range).
        source_shape: (height, width) of the source frames.
    """

    frames: np.ndarray
    fps: float
    timestamps_us: np.ndarray
    source_fps: float
    source_num_frames: int
    source_shape: tuple[int, int] = (0, 0)


def _declared_num_frames(container, stream, source_fps: float) -> int:
    """Frames the container says the stream has (0 when it does not say)."""
    if stream.frames:
        return int(stream.frames)
    if stream.duration and stream.time_base:
        seconds = float(stream.duration * stream.time_base)
        return int(round(seconds * source_fps))
    if container.duration:
        return int(round(container.duration / av.time_base * source_fps))
    return 0


def _seek_before(container, stream, seconds: float) -> None:
    """Seeks to the keyframe at or before `seconds` (best effort).

    Frames before `seconds` are still dropped by the caller, so a container
    that cannot seek only costs decode time.
    """
    if not stream.time_base:
        return
    try:
        container.seek(
            int(seconds / stream.time_base),
            stream=stream,
            backward=True,
            any_frame=False,
        )
    except av.FFmpegError:
        container.seek(0)


def resized_shape(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(H', W') with min(H', W') == short_side and the aspect ratio kept."""
    if short_side <= 0:
        raise ValueError(f"Expected short_side > 0; received: {short_side}")
    scale = short_side / min(height, width)
    if height <= width:
        return short_side, max(short_side, round(width * scale))
    return max(short_side, round(height * scale)), short_side


def resample_indices(
    times: np.ndarray, fps: float, end_time: float
) -> tuple[np.ndarray, np.ndarray]:
    """Which source frames to show on a `fps` grid starting at times[0].

    Args:
        times: float [N] increasing presentation times (seconds).
        fps: output frame rate.
        end_time: when the last source frame stops being shown.

    Returns:
        (int [T] source indices, float [T] output grid times).
    """
    grid = (
        times[0]
        + np.arange(int(np.ceil((end_time - times[0]) * fps - 1e-6))) / fps
    )
    indices = np.searchsorted(times, grid + 1e-6, side="right") - 1
    return np.clip(indices, 0, len(times) - 1), grid


def decode_video(
    path: str,
    *,
    fps: float | None = 25.0,
    short_side: int | None = 128,
    start_seconds: float | None = None,
    end_seconds: float | None = None,
    max_frames: int | None = None,
    keep_truncated: bool = False,
) -> DecodedVideo:
    """Decodes a video file to uint8 RGB frames at a fixed rate and size.

    Args:
        path: any container/codec the bundled FFmpeg reads.
        fps: output frame rate; None keeps every source frame.
        short_side: output short side in pixels; None keeps the source size.
        start_seconds, end_seconds: keep only source frames shown in
            [start, end) (untrimmed sources); None means the whole file.
        max_frames: keep at most this many output frames (from the start).
        keep_truncated: return the frames that decoded from a file that
            breaks off (a decode error after some frames, or fewer frames
            than the container declares) instead of failing "truncated".

    Returns:
        The decoded video.

    Raises:
        FileNotFoundError: no such file.
        DecodeFailure: undecodable, truncated or zero frames.
    """
    if not os.path.exists(path):
        raise FileNotFoundError(f"No such video file: {path}")
    frames, times = [], []
    error = None
    stopped_early = False
    try:
        with av.open(path) as container:
            if not container.streams.video:
                raise DecodeFailure("undecodable", f"{path}: no video stream")
            stream = container.streams.video[0]
            source_fps = float(
                stream.average_rate or stream.guessed_rate or 25.0
            )
            if (stream.codec_context.width or 0) * (
                stream.codec_context.height or 0
            ) >= _THREADING_MIN_PIXELS:
                stream.thread_type = "AUTO"
            expected = _declared_num_frames(container, stream, source_fps)
            if start_seconds is not None and start_seconds > 0:
                _seek_before(container, stream, start_seconds)
            size = source_shape = None
            try:
                for index, frame in enumerate(container.decode(stream)):
                    time = (
                        frame.time
                        if frame.time is not None
                        else (index / source_fps)
                    )
                    if start_seconds is not None and time < start_seconds:
                        continue
                    if end_seconds is not None and time >= end_seconds:
                        break
                    if (
                        max_frames is not None
                        and times
                        and time >= times[0] + max_frames / (fps or source_fps)
                    ):
                        stopped_early = True  # enough for max_frames
                        break
                    if size is None:
                        source_shape = (frame.height, frame.width)
                        size = (
                            (frame.height, frame.width)
                            if short_side is None
                            else resized_shape(
                                frame.height, frame.width, short_side
                            )
                        )
                    frames.append(
                        frame.reformat(
                            width=size[1],
                            height=size[0],
                            format="rgb24",
                            interpolation="AREA",
                        ).to_ndarray()
                    )
                    times.append(time)
            except (av.FFmpegError, ValueError, OSError) as e:
                if not frames:
                    raise
                error = e
    except DecodeFailure:
        raise
    except EOFError as e:  # av.error.EOFError: the file ends mid-structure
        raise DecodeFailure("truncated", f"{path}: unexpected end ({e})") from e
    except (av.FFmpegError, ValueError, OSError) as e:
        raise DecodeFailure("undecodable", f"{path}: {e}") from e
    truncation = None
    if error is not None:
        truncation = f"decode error after {len(frames)} frames ({error})"
    whole_file = (
        start_seconds is None and end_seconds is None and not stopped_early
    )
    if (
        truncation is None
        and whole_file
        and expected
        and len(frames) < _TRUNCATION_TOLERANCE * expected - 1
    ):
        truncation = (
            f"decoded {len(frames)} of the {expected} frames the container "
            "declares"
        )
    if truncation is not None:
        if not keep_truncated:
            raise DecodeFailure("truncated", f"{path}: {truncation}")
        logging.warning("%s: %s; keeping the decoded frames.", path, truncation)
    if not frames:
        raise DecodeFailure("zero_frames", f"{path}: decoded zero frames")
    if any(f.shape != frames[0].shape for f in frames):
        raise DecodeFailure(
            "undecodable", f"{path}: frame size changes within the stream"
        )
    times_arr = np.asarray(times, dtype=np.float64)
    # Frames must be in presentation order for resampling; decoders already
    # emit them that way, but broken timestamps are made monotonic.
    times_arr = np.maximum.accumulate(times_arr)
    if fps is None:
        indices = np.arange(len(frames))
        out_fps = source_fps
        out_times = times_arr
    else:
        end_time = times_arr[-1] + 1.0 / source_fps
        indices, out_times = resample_indices(times_arr, fps, end_time)
        out_fps = float(fps)
    if max_frames is not None:
        indices, out_times = indices[:max_frames], out_times[:max_frames]
    if len(indices) == 0:
        raise DecodeFailure(
            "zero_frames", f"{path}: no frames after resampling"
        )
    return DecodedVideo(
        frames=np.stack([frames[i] for i in indices]),
        fps=out_fps,
        timestamps_us=np.round(out_times * 1e6).astype(np.int64),
        source_fps=source_fps,
        source_num_frames=len(frames),
        source_shape=source_shape,
    )
