"""dvdgan_tf.evaluation.real_clips: the real side of a metric."""

import numpy as np
import pytest

from dvdgan_tf.data import convert
from dvdgan_tf.data import synthetic
from dvdgan_tf.evaluation import real_clips


@pytest.fixture(scope="module")
def synthetic_records(tmp_path_factory):
    path = tmp_path_factory.mktemp("data")
    convert.convert_synthetic(
        str(path),
        num_clips=5,
        num_test_clips=0,
        num_frames=4,
        size=16,
        options=convert.ConvertOptions(min_frames=1, num_shards=1),
    )
    return str(path / "train-*")


def test_real_clips_stream_from_records_in_batches(synthetic_records):
    batches = list(
        real_clips.real_clip_batches(
            5,
            4,
            1,
            16,
            "synthetic",
            file_pattern=synthetic_records,
            batch_size=2,
        )
    )
    assert [len(videos) for videos, _ in batches] == [2, 2, 1]
    videos, labels = real_clips.load_real_clips(
        5, 4, 1, 16, "synthetic", file_pattern=synthetic_records
    )
    assert videos.shape == (5, 4, 16, 16, 3) and videos.dtype == np.uint8
    assert sorted(labels) == sorted(synthetic.balanced_labels(5, 0))


def test_too_few_real_clips_is_a_clear_error(synthetic_records):
    with pytest.raises(ValueError, match="holds 5 clips, the protocol needs 8"):
        real_clips.load_real_clips(
            8, 4, 1, 16, "synthetic", file_pattern=synthetic_records
        )


def test_non_synthetic_data_needs_a_file_pattern():
    with pytest.raises(ValueError, match="--real_file_pattern"):
        real_clips.load_real_clips(4, 4, 1, 16, "ucf101-s128-25fps-q90")


def test_rendered_synthetic_clips_are_the_dataset_generator_clips():
    expected, expected_labels = synthetic.generate_clips(
        6, 4, 16, real_clips.REAL_SEED
    )
    batches = list(
        real_clips.real_clip_batches(6, 4, 1, 16, "synthetic", batch_size=4)
    )
    assert [len(videos) for videos, _ in batches] == [4, 2]
    videos = np.concatenate([videos for videos, _ in batches])
    labels = np.concatenate([labels for _, labels in batches])
    np.testing.assert_array_equal(videos, expected)
    np.testing.assert_array_equal(labels, expected_labels)


def test_rendered_clips_with_a_stride_keep_every_second_frame():
    strided, _ = real_clips.load_real_clips(3, 4, 2, 16, "synthetic")
    full, _ = synthetic.generate_clips(3, 7, 16, real_clips.REAL_SEED)
    np.testing.assert_array_equal(strided, full[:, ::2])


@pytest.mark.parametrize(
    "name, expected",
    [
        ("synthetic", True),
        ("synthetic-s64-25fps-q90", True),
        ("synthetic_v2-s64", False),
        ("ucf101-s128-25fps-q90", False),
    ],
)
def test_is_synthetic_reads_the_converted_dataset_name(name, expected):
    assert real_clips.is_synthetic(name) is expected
