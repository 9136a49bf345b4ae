"""Motion diagnostics for a model of the synthetic dataset.

Three measurements that tell *why* a generator does or does not learn the
synthetic set's motion (issue: "diagnose before tuning"):

* `motion_energy`: mean |x_{t+1} - x_t| per time step (uint8 units) of
  clips: generated clips that are static, a decaying transient, or moving
  like the real ones (flat profile) look different here;
* `motion_energy_split`: the same change split into the object's region
  and the background (the synthetic set's background never changes, so any
  change there is flicker), and the object region's area;
* `temporal_direction_probe`: D_T's mean score gap between real clips and
  their time reversals under the same label, and between the true label
  and its time-reversed twin label. The synthetic set is symmetric under
  time reversal without its label (every motion has a twin), so D_T can
  reward a direction only through its projection term: a gap near 0 means
  D_T does not tell directions apart and cannot teach them to G;
* `motion_confusion`: the judge's predicted motion against the requested
  one, for generated clips, split into the translate (left/right) and scale
  (grow/shrink) families.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from dvdgan_tf.data import synthetic
from dvdgan_tf.models import discriminators
from dvdgan_tf.util import pixels


def motion_energy(videos) -> np.ndarray:
    """float64 [T - 1]: mean |x_{t+1} - x_t| per step over uint8 clips.

    Args:
        videos: uint8 [M, T, H, W, 3].
    """
    videos = np.asarray(videos).astype(np.float32)
    return (
        np.abs(np.diff(videos, axis=1))
        .mean(axis=(0, 2, 3, 4))
        .astype(np.float64)
    )


@dataclasses.dataclass(frozen=True)
class EnergySplit:
    """Where the frame-to-frame change of clips is (uint8 units).

    Attributes:
        object_region: float [T - 1], mean |x_{t+1} - x_t| over the pixels of
            the object's region (pixels far from the background colour in
            any frame, grown by one pixel).
        background: float [T - 1], the same over the other pixels: 0 for the
            synthetic set's real clips, flicker for generated ones.
        background_share: float [T - 1], the background's share of the
            total change.
        object_area: mean fraction of the frame the object region covers
            (blur widens it).
    """

    object_region: list
    background: list
    background_share: list
    object_area: float


def motion_energy_split(videos, threshold: float = 40.0) -> EnergySplit:
    """`motion_energy` split into object region and background.

    The background colour of each frame is the median of its border pixels
    (the synthetic set's objects stay inside the frame); the object region
    is every pixel whose colour is more than `threshold` (uint8, max over
    channels) from it in at least one frame, grown by one pixel.

    Args:
        videos: uint8 [M, T, H, W, 3].
    """
    videos = np.asarray(videos).astype(np.float32)
    border = np.concatenate(
        [
            videos[:, :, 0],
            videos[:, :, -1],
            videos[:, :, :, 0],
            videos[:, :, :, -1],
        ],
        axis=2,
    )  # [M, T, 4W, 3]
    background = np.median(border, axis=2)[:, :, None, None]
    far = np.abs(videos - background).max(axis=-1) > threshold
    region = far.any(axis=1)  # [M, H, W]
    grown = region.copy()
    for axis in (1, 2):
        for shift in (1, -1):
            grown |= np.roll(region, shift, axis=axis)
    change = np.abs(np.diff(videos, axis=1)).mean(axis=-1)  # [M, T-1, H, W]
    inside = grown[:, None]
    total = change.sum(axis=(2, 3))
    in_object = (change * inside).sum(axis=(2, 3))
    in_background = total - in_object
    area = inside.sum(axis=(2, 3)).astype(np.float64)
    pixels = change.shape[2] * change.shape[3]
    return EnergySplit(
        object_region=(in_object / np.maximum(area, 1)).mean(0).tolist(),
        background=(in_background / np.maximum(pixels - area, 1))
        .mean(0)
        .tolist(),
        background_share=(in_background / np.maximum(total, 1e-6))
        .mean(0)
        .tolist(),
        object_area=float(grown.mean()),
    )


@dataclasses.dataclass(frozen=True)
class DirectionProbe:
    """D_T's preference for the right direction of time.

    Attributes:
        forward_minus_reversed: mean D_T(real clip, label) - D_T(the clip
            played backwards, label).
        label_minus_twin: mean D_T(real clip, label) - D_T(real clip, the
            label of the time-reversed motion).
        forward_accuracy: fraction of clips scored higher forwards than
            backwards under their label.
        num_clips: clips measured.
    """

    forward_minus_reversed: float
    label_minus_twin: float
    forward_accuracy: float
    num_clips: int


def temporal_direction_probe(
    temporal_discriminator, videos, labels, batch_size: int = 32
) -> DirectionProbe:
    """Scores real clips forwards, backwards and under the twin label.

    Args:
        temporal_discriminator: a trained D_T (called in inference mode).
        videos: uint8 [M, T, H, W, 3] real synthetic clips.
        labels: int [M] their labels.
        batch_size: clips per call.
    """
    labels = np.asarray(labels).astype(np.int32)
    videos = np.asarray(videos)
    backwards, twins = synthetic.time_reversed(videos, labels)

    def scores(clips, clip_labels):
        out = []
        for start in range(0, len(clips), batch_size):
            video = pixels.from_uint8_tensor(clips[start : start + batch_size])
            pooled = discriminators.downsample_video(video)
            out.append(
                temporal_discriminator(
                    pooled,
                    tf.constant(clip_labels[start : start + batch_size]),
                    training=False,
                ).numpy()
            )
        return np.concatenate(out).astype(np.float64)

    forward = scores(videos, labels)
    backward = scores(backwards, labels)
    twin = scores(videos, twins)
    return DirectionProbe(
        forward_minus_reversed=float(np.mean(forward - backward)),
        label_minus_twin=float(np.mean(forward - twin)),
        forward_accuracy=float(np.mean(forward > backward)),
        num_clips=int(len(videos)),
    )


def motion_confusion(probabilities, labels) -> dict:
    """The judge's motion confusion on generated clips, by motion family.

    Args:
        probabilities: float [M, 12] judge class probabilities.
        labels: int [M] requested classes.

    Returns:
        {"matrix": int [4, 4] counts (rows: requested motion, columns:
        predicted, in `synthetic.MOTIONS` order), "motions": the names,
        "translate_accuracy", "scale_accuracy", "family_accuracy" (the
        predicted motion is in the requested family, direction aside),
        "reversed_rate" (predicted = the requested motion's twin)}.
    """
    probabilities = np.asarray(probabilities)
    labels = np.asarray(labels).reshape(-1)
    num_motions = synthetic.NUM_MOTIONS
    joint = probabilities.reshape(-1, synthetic.NUM_APPEARANCES, num_motions)
    predicted = joint.sum(axis=1).argmax(axis=1)
    requested = labels % num_motions
    matrix = np.zeros((num_motions, num_motions), np.int64)
    for r, p in zip(requested, predicted):
        matrix[r, p] += 1
    names = synthetic.MOTIONS
    translate = [names.index("left"), names.index("right")]
    scale = [names.index("grow"), names.index("shrink")]

    def accuracy(rows):
        mask = np.isin(requested, rows)
        return float(np.mean(predicted[mask] == requested[mask]))

    family = np.array([0 if m in translate else 1 for m in range(num_motions)])
    twin = np.array(
        [
            synthetic.reversed_label(m) % num_motions  # appearance 0's twin
            for m in range(num_motions)
        ]
    )
    return {
        "matrix": matrix.tolist(),
        "motions": list(names),
        "translate_accuracy": accuracy(translate),
        "scale_accuracy": accuracy(scale),
        "family_accuracy": float(
            np.mean(family[predicted] == family[requested])
        ),
        "reversed_rate": float(np.mean(predicted == twin[requested])),
    }
