"""dvdgan_tf.data.manifest: the manifest round trip and the training checks."""

import json
import os

import pytest

from dvdgan_tf.data import manifest as manifest_lib


def _manifest(class_names=("a", "b", "c")):
    shard = manifest_lib.ShardInfo(
        manifest_lib.shard_name("train", 0, 2), 3, 300
    )
    second = manifest_lib.ShardInfo(
        manifest_lib.shard_name("train", 1, 2), 2, 200
    )
    return manifest_lib.Manifest(
        dataset_name="toy-s16-25fps-q90",
        class_names=tuple(class_names),
        splits={
            "train": manifest_lib.SplitInfo(5, 500, (shard, second)),
            "test": manifest_lib.SplitInfo(0, 0, ()),
        },
        storage_size=16,
        fps=25.0,
        jpeg_quality=90,
        skipped=(
            manifest_lib.SkippedInput("x.avi", "train", "truncated: 3 frames"),
            manifest_lib.SkippedInput("y.avi", "train", "truncated: 1 frame"),
            manifest_lib.SkippedInput("z.avi", "test", "missing"),
        ),
    )


def test_shard_names_sort_and_match_the_split_pattern(tmp_path):
    assert manifest_lib.shard_name("train", 3, 12) == (
        "train-00003-of-00012.tfrecord"
    )
    assert manifest_lib.shard_pattern(str(tmp_path), "test") == os.path.join(
        str(tmp_path), "test-*-of-*.tfrecord"
    )


def test_manifest_round_trips_with_derived_counts(tmp_path):
    manifest = _manifest()
    path = manifest_lib.write_manifest(str(tmp_path), manifest)
    with open(path) as f:
        data = json.load(f)
    assert data["storage_bytes"] == 500
    assert data["num_examples"] == {"train": 5, "test": 0}
    assert data["num_skipped_by_reason"] == {"missing": 1, "truncated": 2}
    assert manifest_lib.read_manifest(str(tmp_path)) == manifest
    assert manifest.num_classes == 3


def test_missing_manifest_says_how_to_make_one(tmp_path):
    with pytest.raises(FileNotFoundError, match="make_tfrecords"):
        manifest_lib.read_manifest(str(tmp_path))


def _converted(tmp_path):
    """A data dir whose shards are what the manifest lists (sizes too)."""
    manifest = _manifest()
    manifest_lib.write_manifest(str(tmp_path), manifest)
    for shard in manifest.splits["train"].shards:
        (tmp_path / shard.file).write_bytes(b"x" * shard.num_bytes)
    return str(tmp_path)


def test_training_check_returns_the_split_pattern(tmp_path):
    data_dir = _converted(tmp_path)
    pattern = manifest_lib.check_training_data(data_dir, "train")
    assert pattern == manifest_lib.shard_pattern(data_dir, "train")


@pytest.mark.parametrize(
    "case, message",
    [
        ("no_dir", "does not exist.*make_tfrecords"),
        ("no_manifest", "No manifest.json"),
        ("no_split", "No 'test' shards.*training.run.split"),
    ],
)
def test_training_check_names_what_is_missing(tmp_path, case, message):
    data_dir = str(tmp_path / "data")
    if case != "no_dir":
        os.makedirs(data_dir)
    if case == "no_split":
        _converted(tmp_path / "data")
    with pytest.raises(ValueError, match=message):
        manifest_lib.check_training_data(data_dir, "test")


def test_shards_are_checked_against_the_manifest(tmp_path):
    data_dir = _converted(tmp_path)
    first, second = _manifest().splits["train"].shards
    (tmp_path / first.file).write_bytes(b"x" * 10)  # truncated
    os.remove(tmp_path / second.file)  # deleted
    (tmp_path / "train-00009-of-00010.tfrecord").write_bytes(b"")  # stray
    with pytest.raises(ValueError) as error:
        manifest_lib.check_training_data(data_dir, "train")
    message = str(error.value)
    assert f"{first.file}: 10 bytes, the manifest says 300" in message
    assert f"{second.file}: missing" in message
    assert "train-00009-of-00010.tfrecord: not in the manifest" in message
    assert "make_tfrecords.py" in message
