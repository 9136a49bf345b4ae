"""Tests of the SequenceExample clip record layout."""

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.data import records
from tests.data import fixtures


def _clip(**overrides):
    values = dict(
        frames=fixtures.index_video(5, 16, 24),
        label=3,
        label_name="jump",
        example_id="v_jump_g01_c01",
        media_id="v_jump_g01_c01",
        fps=25.0,
        float_features={"robot/action": np.arange(20).reshape(5, 4)},
        int_context={"clip/motion/index": 2},
    )
    values.update(overrides)
    return records.Clip(**values)


def test_serialized_clip_uses_mediasequence_keys():
    example = tf.train.SequenceExample.FromString(
        records.serialize_clip(_clip(), dataset_name="ds")
    )
    context = example.context.feature
    assert context["clip/label/index"].int64_list.value == [3]
    assert context["clip/label/string"].bytes_list.value == [b"jump"]
    # DMVR's default label-name key, written too.
    assert context["clip/label/text"].bytes_list.value == [b"jump"]
    assert context["example/id"].bytes_list.value == [b"v_jump_g01_c01"]
    assert context["image/frame_rate"].float_list.value == [25.0]
    assert context["image/height"].int64_list.value == [16]
    assert context["image/width"].int64_list.value == [24]
    assert context["clip/end/timestamp"].int64_list.value == [200000]
    lists = example.feature_lists.feature_list
    frames = lists["image/encoded"].feature
    assert len(frames) == 5
    # MediaSequence's float spelling: <prefix>/feature/floats.
    assert "robot/action" not in lists
    actions = lists["robot/action/feature/floats"].feature
    assert list(actions[1].float_list.value) == [4.0, 5.0, 6.0, 7.0]
    assert frames[0].bytes_list.value[0][:2] == b"\xff\xd8"  # JPEG SOI


def test_parse_clip_round_trips_within_jpeg_tolerance():
    clip = _clip()
    parsed = records.parse_clip(records.serialize_clip(clip))
    assert parsed.frames.shape == (5, 16, 24, 3)
    assert np.abs(parsed.frames.astype(int) - clip.frames).max() <= 2
    assert (parsed.label, parsed.label_name, parsed.fps) == (3, "jump", 25.0)
    np.testing.assert_array_equal(
        parsed.timestamps_us, [0, 40000, 80000, 120000, 160000]
    )
    np.testing.assert_array_equal(
        parsed.float_features["robot/action"], np.arange(20).reshape(5, 4)
    )
    assert parsed.int_context["clip/motion/index"] == 2


def test_serialize_rejects_non_uint8_frames_naming_the_clip():
    with pytest.raises(ValueError, match="v_jump_g01_c01"):
        records.serialize_clip(_clip(frames=np.zeros((2, 4, 4, 3), np.float32)))


def test_parse_clip_names_a_missing_required_key():
    example = tf.train.SequenceExample()
    example.feature_lists.feature_list["image/encoded"].feature.add()
    with pytest.raises(ValueError, match="clip/label/index"):
        records.parse_clip(example.SerializeToString())


def test_records_with_the_old_float_key_spelling_still_parse():
    example = tf.train.SequenceExample.FromString(
        records.serialize_clip(_clip(float_features={}))
    )
    old = example.feature_lists.feature_list["robot/action"]
    for row in np.arange(10.0).reshape(5, 2):
        old.feature.add().float_list.value.extend(row)
    parsed = records.parse_clip(example.SerializeToString())
    np.testing.assert_array_equal(
        parsed.float_features["robot/action"], np.arange(10.0).reshape(5, 2)
    )
