"""Tests of the built-in synthetic shape x motion dataset."""

import numpy as np
import pytest

from dvdgan_tf.data import synthetic
from tests import tiny_config

_T = 8


def _centroid_and_area(frame, background):
    mask = np.abs(frame.astype(int) - background.astype(int)).sum(-1) > 60
    ys, xs = np.nonzero(mask)
    return xs.mean(), ys.mean(), mask.sum()


def test_class_names_are_sorted_and_twelve():
    assert len(synthetic.CLASS_NAMES) == 12
    assert list(synthetic.class_names()) == sorted(synthetic.CLASS_NAMES)


def test_class_factors_split_label_into_appearance_and_motion():
    assert synthetic.class_factors(0) == (0, 0)
    assert synthetic.class_factors(6) == (1, 2)
    name = synthetic.CLASS_NAMES[6]
    assert name == (f"{synthetic.APPEARANCES[1]}_{synthetic.MOTIONS[2]}")


def test_reversed_label_is_an_involution_pairing_twin_motions():
    for label in range(synthetic.NUM_CLASSES):
        twin = synthetic.reversed_label(label)
        assert twin != label
        assert synthetic.reversed_label(twin) == label
        assert (
            synthetic.class_factors(twin)[0]
            == synthetic.class_factors(label)[0]
        )
    assert (
        synthetic.CLASS_NAMES[
            synthetic.reversed_label(synthetic.CLASS_NAMES.index("disc_left"))
        ]
        == "disc_right"
    )
    assert (
        synthetic.CLASS_NAMES[
            synthetic.reversed_label(
                synthetic.CLASS_NAMES.index("triangle_grow")
            )
        ]
        == "triangle_shrink"
    )


def test_time_reversed_clip_is_exactly_the_twin_class_clip():
    labels = np.arange(synthetic.NUM_CLASSES)
    twins = [synthetic.reversed_label(y) for y in labels]
    videos, _ = synthetic.generate_clips(12, _T, 24, seed=5, labels=labels)
    twin_videos, _ = synthetic.generate_clips(12, _T, 24, seed=5, labels=twins)
    np.testing.assert_array_equal(videos[:, ::-1], twin_videos)


def test_time_reversed_gives_backwards_clips_and_twin_labels():
    labels = np.array([0, 5, 11, 5])
    videos = np.arange(4 * 3, dtype=np.uint8).reshape(4, 3, 1, 1, 1)
    backwards, twins = synthetic.time_reversed(videos, labels)
    assert backwards.flags.c_contiguous and backwards.dtype == np.uint8
    np.testing.assert_array_equal(backwards[1, :, 0, 0, 0], [5, 4, 3])
    assert twins.dtype == np.int32
    assert twins.tolist() == [synthetic.reversed_label(y) for y in labels]
    # Reversing twice is the identity: clips and labels come back.
    again, back = synthetic.time_reversed(backwards, twins)
    np.testing.assert_array_equal(again, videos)
    np.testing.assert_array_equal(back, labels)


def test_generate_clips_is_deterministic_given_seed():
    a, la = synthetic.generate_clips(6, _T, 16, seed=3)
    b, lb = synthetic.generate_clips(6, _T, 16, seed=3)
    c, _ = synthetic.generate_clips(6, _T, 16, seed=4)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    assert not np.array_equal(a, c)


def test_generate_clips_shapes_dtypes_and_balanced_labels():
    videos, labels = synthetic.generate_clips(
        24, tiny_config.FRAMES, tiny_config.RESOLUTION, seed=0
    )
    assert videos.shape == (24, tiny_config.FRAMES, 16, 16, 3)
    assert videos.dtype == np.uint8 and labels.dtype == np.int32
    np.testing.assert_array_equal(
        np.bincount(labels, minlength=12), np.full(12, 2)
    )


def test_clips_of_one_class_differ_per_clip():
    videos, _ = synthetic.generate_clips(3, _T, 32, seed=0, labels=[2, 2, 2])
    assert not np.array_equal(videos[0], videos[1])
    assert not np.array_equal(videos[1], videos[2])


@pytest.mark.parametrize(
    "name,expect",
    [
        ("square_right", "x+"),
        ("square_left", "x-"),
        ("disc_grow", "area+"),
        ("disc_shrink", "area-"),
    ],
)
def test_motion_class_moves_the_shape_in_its_direction(name, expect):
    label = synthetic.CLASS_NAMES.index(name)
    video = synthetic.generate_clips(1, 16, 64, seed=1, labels=[label])[0][0]
    background = video[0, 0, 0]
    x0, _, a0 = _centroid_and_area(video[0], background)
    x1, _, a1 = _centroid_and_area(video[-1], background)
    change = {"x+": x1 - x0, "x-": x0 - x1, "area+": a1 - a0, "area-": a0 - a1}[
        expect
    ]
    assert change > 3


def test_bad_labels_raise_with_the_value():
    with pytest.raises(ValueError, match="label=12"):
        synthetic.class_factors(12)
    with pytest.raises(ValueError, match="Expected 2 labels"):
        synthetic.generate_clips(2, 4, 16, seed=0, labels=[1])
    with pytest.raises(ValueError, match="num_frames"):
        synthetic.generate_clips(2, 1, 16, seed=0)
