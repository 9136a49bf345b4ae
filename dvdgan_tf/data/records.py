"""The on-disk clip record: one `tf.train.SequenceExample` per clip.

Keys follow MediaSequence (MediaPipe), which DMVR and the TF Model Garden video
reader also parse, so data written here can be read by all of them:

  | where        | key                          | type                       |
  | ------------ | ---------------------------- | -------------------------- |
  | context      | `clip/label/index`           | int64 list (one value)     |
  | context      | `clip/label/string`          | bytes list (class name)    |
  | context      | `clip/label/text`            | the same (DMVR's default)  |
  | context      | `example/id`                 | bytes                      |
  | context      | `example/dataset_name`       | bytes                      |
  | context      | `clip/media_id`              | bytes (source file/YT id)  |
  | context      | `clip/start/timestamp`       | int64, microseconds        |
  | context      | `clip/end/timestamp`         | int64, microseconds        |
  | context      | `image/frame_rate`           | float (stored fps)         |
  | context      | `image/height`, `image/width`, `image/channels` | int64   |
  | context      | `image/format`               | bytes (`JPEG`)             |
  | feature list | `image/encoded`              | one JPEG per frame         |
  | feature list | `image/timestamp`            | int64 microseconds / frame |
  | feature list | `<prefix>/feature/floats`: an extra float stream per    |
  |              | frame, e.g. `robot/action/feature/floats` (BAIR)        |

`Clip.float_features` and `ParsedClip.float_features` are keyed by the prefix
(`robot/action`); records written before the MediaSequence spelling (the bare
prefix as key) are still read.

Extra int64 context values (e.g. the synthetic set's `clip/appearance/index`,
`clip/motion/index`) go in the context under their own keys.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Mapping

import numpy as np
import tensorflow as tf
from PIL import Image

LABEL_INDEX_KEY = "clip/label/index"
LABEL_STRING_KEY = "clip/label/string"
# DMVR's default label-name key; written too, so DMVR reads names unmodified.
LABEL_TEXT_KEY = "clip/label/text"
# MediaSequence's suffix of a per-frame float feature under a prefix.
FLOATS_SUFFIX = "/feature/floats"
EXAMPLE_ID_KEY = "example/id"
DATASET_NAME_KEY = "example/dataset_name"
MEDIA_ID_KEY = "clip/media_id"
START_TIMESTAMP_KEY = "clip/start/timestamp"
END_TIMESTAMP_KEY = "clip/end/timestamp"
FRAME_RATE_KEY = "image/frame_rate"
HEIGHT_KEY = "image/height"
WIDTH_KEY = "image/width"
CHANNELS_KEY = "image/channels"
FORMAT_KEY = "image/format"
IMAGE_KEY = "image/encoded"
TIMESTAMP_KEY = "image/timestamp"

DEFAULT_JPEG_QUALITY = 90


@dataclasses.dataclass(frozen=True)
class Clip:
    """One clip ready to be serialised.

    Attributes:
        frames: uint8 [T, H, W, 3] RGB frames (already resized/resampled).
        label: 0-based class index in the sorted class-name list.
        label_name: the class name.
        example_id: unique id of the clip within its dataset.
        media_id: source file name or YouTube id.
        fps: frame rate of `frames`.
        timestamps_us: int64 [T] frame times in the source, microseconds;
            None means `t / fps`.
        float_features: extra per-frame float streams, name -> float [T, D].
        int_context: extra int64 context values, name -> int.
    """

    frames: np.ndarray
    label: int
    label_name: str
    example_id: str
    media_id: str
    fps: float
    timestamps_us: np.ndarray | None = None
    float_features: Mapping[str, np.ndarray] = dataclasses.field(
        default_factory=dict
    )
    int_context: Mapping[str, int] = dataclasses.field(default_factory=dict)


def encode_jpeg(
    frame: np.ndarray, quality: int = DEFAULT_JPEG_QUALITY
) -> bytes:
    """Encodes one uint8 [H, W, 3] RGB frame as a 4:2:0 baseline JPEG."""
    buffer = io.BytesIO()
    Image.fromarray(frame).save(
        buffer, format="JPEG", quality=quality, subsampling="4:2:0"
    )
    return buffer.getvalue()


def _bytes(values) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))


def _ints(values) -> tf.train.Feature:
    return tf.train.Feature(
        int64_list=tf.train.Int64List(value=[int(v) for v in values])
    )


def _floats(values) -> tf.train.Feature:
    return tf.train.Feature(
        float_list=tf.train.FloatList(value=[float(v) for v in values])
    )


def serialize_clip(
    clip: Clip,
    dataset_name: str = "",
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
) -> bytes:
    """Serialises a clip as a SequenceExample with per-frame JPEGs.

    Args:
        clip: the clip; `clip.frames` is uint8 [T, H, W, 3] with T >= 1.
        dataset_name: stored under `example/dataset_name`.
        jpeg_quality: JPEG quality, 1..100.

    Returns:
        The serialised `tf.train.SequenceExample`.

    Raises:
        ValueError: frames are not uint8 [T, H, W, 3] with T >= 1, or an
            extra float stream does not have T rows.
    """
    frames = np.asarray(clip.frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
        raise ValueError(
            "Expected clip frames uint8 [T, H, W, 3]; received: "
            f"dtype={frames.dtype}, shape={frames.shape} "
            f"(example_id={clip.example_id!r})"
        )
    num_frames, height, width, _ = frames.shape
    if num_frames == 0:
        raise ValueError(f"Clip {clip.example_id!r} has zero frames.")
    if clip.timestamps_us is None:
        timestamps = np.round(np.arange(num_frames) * 1e6 / clip.fps)
    else:
        timestamps = np.asarray(clip.timestamps_us)
    context = {
        LABEL_INDEX_KEY: _ints([clip.label]),
        LABEL_STRING_KEY: _bytes([clip.label_name.encode()]),
        LABEL_TEXT_KEY: _bytes([clip.label_name.encode()]),
        EXAMPLE_ID_KEY: _bytes([clip.example_id.encode()]),
        DATASET_NAME_KEY: _bytes([dataset_name.encode()]),
        MEDIA_ID_KEY: _bytes([clip.media_id.encode()]),
        START_TIMESTAMP_KEY: _ints([timestamps[0]]),
        END_TIMESTAMP_KEY: _ints([timestamps[-1] + round(1e6 / clip.fps)]),
        FRAME_RATE_KEY: _floats([clip.fps]),
        HEIGHT_KEY: _ints([height]),
        WIDTH_KEY: _ints([width]),
        CHANNELS_KEY: _ints([3]),
        FORMAT_KEY: _bytes([b"JPEG"]),
    }
    for key, value in clip.int_context.items():
        context[key] = _ints([value])
    feature_lists = {
        IMAGE_KEY: tf.train.FeatureList(
            feature=[_bytes([encode_jpeg(f, jpeg_quality)]) for f in frames]
        ),
        TIMESTAMP_KEY: tf.train.FeatureList(
            feature=[_ints([t]) for t in timestamps]
        ),
    }
    for key, values in clip.float_features.items():
        values = np.asarray(values, dtype=np.float32).reshape(num_frames, -1)
        if values.shape[0] != num_frames:
            raise ValueError(
                f"Float stream {key!r} has {values.shape[0]} rows; expected "
                f"one per frame ({num_frames})."
            )
        feature_lists[key + FLOATS_SUFFIX] = tf.train.FeatureList(
            feature=[_floats(row) for row in values]
        )
    example = tf.train.SequenceExample(
        context=tf.train.Features(feature=context),
        feature_lists=tf.train.FeatureLists(feature_list=feature_lists),
    )
    # deterministic=True sorts map keys: identical bytes in every process.
    return example.SerializeToString(deterministic=True)


@dataclasses.dataclass(frozen=True)
class ParsedClip:
    """A record read back in NumPy (tests, tools, inspection)."""

    frames: np.ndarray
    label: int
    label_name: str
    example_id: str
    media_id: str
    fps: float
    timestamps_us: np.ndarray
    float_features: Mapping[str, np.ndarray]
    int_context: Mapping[str, int]


def parse_clip(serialized: bytes) -> ParsedClip:
    """Parses a serialised record eagerly, decoding every frame.

    Args:
        serialized: bytes of a `tf.train.SequenceExample` in this layout.

    Returns:
        The clip, frames uint8 [T, H, W, 3].

    Raises:
        ValueError: the record lacks `image/encoded` or `clip/label/index`.
    """
    example = tf.train.SequenceExample.FromString(serialized)
    context = example.context.feature
    lists = example.feature_lists.feature_list
    for key, present in (
        (IMAGE_KEY, IMAGE_KEY in lists),
        (LABEL_INDEX_KEY, LABEL_INDEX_KEY in context),
    ):
        if not present:
            raise ValueError(f"Record lacks the required key {key!r}.")

    def text(key):
        if key not in context:
            return ""
        return context[key].bytes_list.value[0].decode()

    frames = np.stack(
        [
            np.asarray(
                Image.open(io.BytesIO(f.bytes_list.value[0])).convert("RGB")
            )
            for f in lists[IMAGE_KEY].feature
        ]
    )
    floats = {
        key.removesuffix(FLOATS_SUFFIX): np.array(
            [list(f.float_list.value) for f in fl.feature], np.float32
        )
        for key, fl in lists.items()
        if key not in (IMAGE_KEY, TIMESTAMP_KEY)
    }
    standard = {
        LABEL_INDEX_KEY,
        START_TIMESTAMP_KEY,
        END_TIMESTAMP_KEY,
        HEIGHT_KEY,
        WIDTH_KEY,
        CHANNELS_KEY,
    }
    ints = {
        key: int(f.int64_list.value[0])
        for key, f in context.items()
        if key not in standard and f.int64_list.value
    }
    timestamps = np.array(
        [f.int64_list.value[0] for f in lists[TIMESTAMP_KEY].feature]
        if TIMESTAMP_KEY in lists
        else [],
        np.int64,
    )
    return ParsedClip(
        frames=frames,
        label=int(context[LABEL_INDEX_KEY].int64_list.value[0]),
        label_name=text(LABEL_STRING_KEY) or text(LABEL_TEXT_KEY),
        example_id=text(EXAMPLE_ID_KEY),
        media_id=text(MEDIA_ID_KEY),
        fps=float(context[FRAME_RATE_KEY].float_list.value[0])
        if FRAME_RATE_KEY in context
        else 0.0,
        timestamps_us=timestamps,
        float_features=floats,
        int_context=ints,
    )


def read_records(path: str) -> list[bytes]:
    """Returns every serialised record of one TFRecord file, in order."""
    return [r.numpy() for r in tf.data.TFRecordDataset(path)]
