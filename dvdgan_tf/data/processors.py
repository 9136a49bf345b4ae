"""Pure TF functions on one clip: choose frames, decode, resize, crop, scale.

Used by `pipeline.make_dataset` inside `tf.data.Dataset.map`; each function is
a graph-friendly op on one example so it can be tested on its own (DMVR's
processors). Randomness is stateless: every random function takes an int
[2] seed tensor, so a pipeline given a seed is exactly reproducible.
"""

from __future__ import annotations

import enum

import tensorflow as tf

from dvdgan_tf.util import pixels


class ShortClipPolicy(enum.Enum):
    """What the reader does with a clip shorter than the window it needs.

    LOOP: read the clip cyclically (frame index modulo its length), as DMVR
        does; the clip is still used. The default.
    SKIP: drop the clip from the stream.
    """

    LOOP = "loop"
    SKIP = "skip"


def window_length(num_frames: int, frame_stride: int) -> int:
    """Frames a window of `num_frames` at `frame_stride` spans in the source."""
    return (num_frames - 1) * frame_stride + 1


def sample_frame_indices(
    clip_length: tf.Tensor,
    num_frames: int,
    frame_stride: int,
    is_training: bool,
    seed: tf.Tensor,
) -> tf.Tensor:
    """Chooses which stored frames make the output clip.

    Training: a uniformly random start among the windows that fit. Eval: the
    centred window. A clip shorter than the window is read cyclically from a
    random (training) or zero (eval) start: indices wrap modulo its length.

    Args:
        clip_length: int32 scalar, frames stored for the clip (>= 1).
        num_frames: T, frames wanted.
        frame_stride: step between chosen frames in the stored sequence.
        is_training: random vs centred window.
        seed: int [2] stateless seed.

    Returns:
        int32 [T] indices into the stored frames, increasing (mod length).
    """
    span = window_length(num_frames, frame_stride)
    clip_length = tf.cast(clip_length, tf.int32)
    slack = clip_length - span
    if is_training:
        max_start = tf.where(slack >= 0, slack, clip_length - 1)
        start = tf.random.stateless_uniform(
            [], seed, minval=0, maxval=max_start + 1, dtype=tf.int32
        )
    else:
        start = tf.maximum(slack // 2, 0)
    offsets = tf.range(num_frames, dtype=tf.int32) * frame_stride
    return tf.math.floormod(start + offsets, clip_length)


def decode_frames(encoded: tf.Tensor, num_frames: int) -> tf.Tensor:
    """Decodes T JPEG strings into one uint8 [T, H, W, 3] tensor.

    The loop is unrolled (T is static), which lets the T decodes run in
    parallel within one map call and avoids map_fn's while-loop overhead.
    There is deliberately no Assert op here: control-flow and assert ops in
    a tf.data map function cost ~15% of reader throughput (measured with
    bench/data_throughput.py); frames of different sizes already fail in
    the stack, with both shapes in the message.

    Args:
        encoded: string [T], one JPEG per frame.
        num_frames: T (static).

    Returns:
        uint8 [T, H, W, 3].

    Raises:
        tf.errors.InvalidArgumentError (at run time): frames of one clip have
            different sizes ("Shapes of all inputs must match: values[0]
            .shape = [...] != values[i].shape = [...]").
    """
    return tf.stack(
        [tf.io.decode_jpeg(encoded[i], channels=3) for i in range(num_frames)]
    )


def crop_square(
    video: tf.Tensor, is_training: bool, seed: tf.Tensor
) -> tf.Tensor:
    """Crops the largest square, [T, H, W, C] -> [T, S, S, C], S = min(H, W).

    Training: one uniformly random offset for all frames. Eval: centre.
    Followed by `resize_square`, this equals resizing the short side to the
    output size and then cropping, but resamples only the pixels kept.
    """
    shape = tf.shape(video)
    size = tf.minimum(shape[1], shape[2])
    max_y = shape[1] - size
    max_x = shape[2] - size
    if is_training:
        offset = tf.random.stateless_uniform(
            [2], seed, minval=0, maxval=tf.int32.max, dtype=tf.int32
        )
        y = offset[0] % (max_y + 1)
        x = offset[1] % (max_x + 1)
    else:
        y, x = max_y // 2, max_x // 2
    return video[:, y : y + size, x : x + size, :]


def resize_square(video: tf.Tensor, resolution: int) -> tf.Tensor:
    """Resizes square frames [T, S, S, C] to float32 [T, R, R, C].

    Antialiased bilinear, which averages like an area filter when
    downscaling (e.g. 128-px storage read at 64). Call it only when S != R:
    the pipeline decides that once, from the stored frame size, because a
    per-clip tf.cond halves reader throughput.
    """
    resized = tf.image.resize(video, [resolution, resolution], antialias=True)
    return tf.ensure_shape(resized, [None, resolution, resolution, None])


def random_flip_left_right(video: tf.Tensor, seed: tf.Tensor) -> tf.Tensor:
    """Flips all frames of a clip horizontally with probability 1/2."""
    flip = tf.random.stateless_uniform([], seed) < 0.5
    return tf.cond(flip, lambda: tf.reverse(video, axis=[2]), lambda: video)


def normalize_to_unit_range(video: tf.Tensor) -> tf.Tensor:
    """Maps pixel values [0, 255] to float32 [-1, 1] (`util.pixels`).

    uint8 input goes through one `Dequantize` op (quint8, MIN_COMBINED over
    [-1, 1]: -1 + x * 2 / 255), bit-identical to `pixels.from_uint8_tensor`
    for all 256 values but a single pass over the clip: the three-op version
    took about half of the reader's time at 16x128x128 (measured with
    bench/data_throughput.py). Float input (from `resize_square`) takes the
    plain arithmetic.

    Args:
        video: uint8 or float [..., C] with values in [0, 255].

    Returns:
        float32, same shape, in [-1, 1].
    """
    if video.dtype == tf.uint8:
        return tf.quantization.dequantize(
            tf.bitcast(video, tf.quint8), -1.0, 1.0, mode="MIN_COMBINED"
        )
    return pixels.from_uint8_tensor(video)
