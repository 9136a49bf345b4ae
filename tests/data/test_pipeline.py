"""Tests of the tf.data reader `pipeline.make_dataset`."""

import os

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.data import pipeline
from dvdgan_tf.data import records
from tests import tiny_config
from tests.data import fixtures

_T = tiny_config.FRAMES
_RES = tiny_config.RESOLUTION


def _take(dataset, n):
    return [{k: v.numpy() for k, v in b.items()} for b in dataset.take(n)]


def _eval_labels(pattern, context=None, num_frames=2, **kwargs):
    dataset = pipeline.make_dataset(
        context,
        file_pattern=pattern,
        global_batch_size=1,
        num_frames=num_frames,
        resolution=_RES,
        is_training=False,
        **kwargs,
    )
    return [int(b["label"][0]) for b in dataset]


def _index_shards(directory, lengths_per_shard, size=(_RES, _RES)):
    """Shard s holds clips with label s whose pixels encode frame indices."""
    n = len(lengths_per_shard)
    for s, lengths in enumerate(lengths_per_shard):
        clips = [
            fixtures.make_clip(fixtures.index_video(t, *size), s, f"s{s}-{i}")
            for i, t in enumerate(lengths)
        ]
        fixtures.write_shard(
            os.path.join(directory, f"train-{s:05d}-of-{n:05d}.tfrecord"), clips
        )
    return os.path.join(directory, "train-*.tfrecord")


def test_yields_per_replica_batches_in_unit_range(tmp_path):
    pattern, _, _ = fixtures.write_synthetic_shards(str(tmp_path), 2, 4)
    context = tf.distribute.InputContext(
        num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2
    )
    dataset = pipeline.make_dataset(
        context,
        file_pattern=pattern,
        global_batch_size=4,
        num_frames=_T,
        resolution=_RES,
        seed=0,
    )
    assert dataset.element_spec["video"].shape == (2, _T, _RES, _RES, 3)
    batch = _take(dataset, 1)[0]
    assert batch["video"].dtype == np.float32
    assert batch["label"].dtype == np.int32
    assert -1.0 <= batch["video"].min() and batch["video"].max() <= 1.0
    assert batch["video"].max() - batch["video"].min() > 1.0


def test_same_seed_gives_same_batches_and_other_seed_differs(tmp_path):
    pattern, _, _ = fixtures.write_synthetic_shards(str(tmp_path), 2, 6)

    def batches(seed):
        return _take(
            pipeline.make_dataset(
                None,
                file_pattern=pattern,
                global_batch_size=3,
                num_frames=_T,
                resolution=8,
                seed=seed,
            ),
            3,
        )

    first, second, other = batches(7), batches(7), batches(8)
    for a, b in zip(first, second):
        np.testing.assert_array_equal(a["video"], b["video"])
        np.testing.assert_array_equal(a["label"], b["label"])
    assert not all(
        np.array_equal(a["video"], c["video"]) for a, c in zip(first, other)
    )


def test_two_input_pipelines_read_disjoint_shards(tmp_path):
    pattern = _index_shards(str(tmp_path), [[4, 4]] * 4)
    seen = []
    for pipeline_id in range(2):
        context = tf.distribute.InputContext(
            num_input_pipelines=2,
            input_pipeline_id=pipeline_id,
            num_replicas_in_sync=1,
        )
        seen.append(set(_eval_labels(pattern, context)))
    assert seen[0] & seen[1] == set()
    assert seen[0] | seen[1] == {0, 1, 2, 3}


def test_eval_decodes_the_centred_strided_frames(tmp_path):
    pattern = _index_shards(str(tmp_path), [[11]])
    dataset = pipeline.make_dataset(
        None,
        file_pattern=pattern,
        global_batch_size=1,
        num_frames=4,
        frame_stride=2,
        resolution=_RES,
        is_training=False,
    )
    video = _take(dataset, 1)[0]["video"][0]
    frame_values = (video.mean(axis=(1, 2, 3)) + 1.0) * 127.5
    np.testing.assert_allclose(frame_values, [16, 32, 48, 64], atol=1.5)


def test_short_clips_loop_by_default_and_can_be_skipped(tmp_path):
    pattern = _index_shards(str(tmp_path), [[2, 8, 1, 8]])
    assert len(_eval_labels(pattern, num_frames=4)) == 4
    assert (
        len(_eval_labels(pattern, num_frames=4, short_clip_policy="skip")) == 2
    )
    dataset = pipeline.make_dataset(
        None,
        file_pattern=pattern,
        global_batch_size=1,
        num_frames=5,
        resolution=_RES,
        is_training=False,
    )
    looped = _take(dataset, 1)[0]["video"][0]
    frame_values = (looped.mean(axis=(1, 2, 3)) + 1.0) * 127.5
    np.testing.assert_allclose(frame_values, [0, 8, 0, 8, 0], atol=1.5)


def test_frames_are_resized_when_stored_size_differs(tmp_path):
    pattern = _index_shards(str(tmp_path), [[4, 4]], size=(24, 40))
    dataset = pipeline.make_dataset(
        None,
        file_pattern=pattern,
        global_batch_size=2,
        num_frames=_T,
        resolution=_RES,
        seed=1,
    )
    assert _take(dataset, 1)[0]["video"].shape == (2, _T, _RES, _RES, 3)


def test_random_flip_is_off_by_default_and_flips_when_asked(tmp_path):
    frames = np.zeros((4, _RES, _RES, 3), np.uint8)
    frames[:, :, : _RES // 2] = 255  # bright left half
    fixtures.write_shard(
        os.path.join(str(tmp_path), "a.tfrecord"),
        [fixtures.make_clip(frames, 0, "a")],
    )

    def left_is_bright(random_flip):
        dataset = pipeline.make_dataset(
            None,
            file_pattern=os.path.join(str(tmp_path), "*.tfrecord"),
            global_batch_size=1,
            num_frames=2,
            resolution=_RES,
            seed=3,
            random_flip=random_flip,
        )
        return [b["video"][0, 0, 0, 0, 0] > 0 for b in _take(dataset, 16)]

    assert all(left_is_bright(False))
    flips = left_is_bright(True)
    assert 0 < sum(flips) < 16


def test_no_matching_files_names_the_pattern(tmp_path):
    pattern = os.path.join(str(tmp_path), "nothing-*.tfrecord")
    with pytest.raises(ValueError, match="nothing-"):
        pipeline.make_dataset(
            None,
            file_pattern=pattern,
            global_batch_size=2,
            num_frames=_T,
            resolution=_RES,
        )


def test_fewer_shards_than_pipelines_is_an_error(tmp_path):
    pattern = _index_shards(str(tmp_path), [[4]])
    context = tf.distribute.InputContext(
        num_input_pipelines=2, input_pipeline_id=1
    )
    with pytest.raises(ValueError, match="2 input pipelines"):
        pipeline.make_dataset(
            context,
            file_pattern=pattern,
            global_batch_size=2,
            num_frames=2,
            resolution=_RES,
        )


def test_record_without_label_fails_naming_the_key(tmp_path):
    example = tf.train.SequenceExample()
    frame = records.encode_jpeg(np.zeros((_RES, _RES, 3), np.uint8))
    for _ in range(3):
        example.feature_lists.feature_list[
            "image/encoded"
        ].feature.add().bytes_list.value.append(frame)
    path = os.path.join(str(tmp_path), "x.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(example.SerializeToString())
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="clip/label/index"
    ):
        _eval_labels(path)


def test_frames_of_different_sizes_fail_clearly(tmp_path):
    example = tf.train.SequenceExample.FromString(
        records.serialize_clip(
            fixtures.make_clip(fixtures.index_video(2, _RES, _RES), 0, "a")
        )
    )
    odd = records.encode_jpeg(np.zeros((_RES + 8, _RES, 3), np.uint8))
    example.feature_lists.feature_list[
        "image/encoded"
    ].feature.add().bytes_list.value.append(odd)
    path = os.path.join(str(tmp_path), "x.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(example.SerializeToString())
    with pytest.raises(
        tf.errors.InvalidArgumentError, match="Shapes of all inputs must match"
    ):
        list(
            pipeline.make_dataset(
                None,
                file_pattern=path,
                global_batch_size=1,
                num_frames=3,
                resolution=_RES,
                is_training=False,
            )
        )


def test_bad_arguments_echo_the_value(tmp_path):
    pattern = _index_shards(str(tmp_path), [[4]])
    with pytest.raises(ValueError, match="frame_stride=0"):
        pipeline.make_dataset(
            None,
            file_pattern=pattern,
            global_batch_size=1,
            num_frames=2,
            frame_stride=0,
            resolution=_RES,
        )
    with pytest.raises(ValueError, match="'pad'"):
        pipeline.make_dataset(
            None,
            file_pattern=pattern,
            global_batch_size=1,
            num_frames=2,
            resolution=_RES,
            short_clip_policy="pad",
        )


def test_record_without_frames_fails_naming_the_key(tmp_path):
    example = tf.train.SequenceExample()
    example.context.feature["clip/label/index"].int64_list.value.append(1)
    path = os.path.join(str(tmp_path), "x.tfrecord")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(example.SerializeToString())
    with pytest.raises(tf.errors.InvalidArgumentError, match="image/encoded"):
        _eval_labels(path)


def test_mixed_stored_sizes_need_resize_true(tmp_path):
    # First record stored at 16 px (no resize chosen), a later one at 24 px.
    clips = [
        fixtures.make_clip(fixtures.index_video(4, _RES, _RES), 0, "a"),
        fixtures.make_clip(fixtures.index_video(4, 24, 24), 1, "b"),
    ]
    path = fixtures.write_shard(
        os.path.join(str(tmp_path), "x.tfrecord"), clips
    )

    def read(resize):
        return list(
            pipeline.make_dataset(
                None,
                file_pattern=path,
                global_batch_size=1,
                num_frames=2,
                resolution=_RES,
                is_training=False,
                resize=resize,
            )
        )

    with pytest.raises(
        tf.errors.InvalidArgumentError,
        match="not compatible with expected shape",
    ):
        read(None)
    assert [b["video"].shape[2] for b in read(True)] == [_RES, _RES]
