"""Tests of the sharded, atomic, resumable writer and synthetic converter."""

import os
import subprocess
import sys
import textwrap

import pytest

from dvdgan_tf.data import convert
from dvdgan_tf.data import manifest as manifest_lib
from dvdgan_tf.data import records
from dvdgan_tf.data import writer

_REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)


def _items(n, split="train"):
    return [
        convert.SyntheticSource(
            key=f"{split}-{i:06d}",
            seed=0,
            index=i,
            label=i % 12,
            num_frames=4,
            size=16,
        )
        for i in range(n)
    ]


def _options(**overrides):
    values = dict(dataset_name="t", num_shards=4, progress=False)
    values.update(overrides)
    return writer.WriterOptions(**values)


def _ids(directory, split="train"):
    ids = []
    for shard in sorted(os.listdir(directory)):
        if shard.startswith(f"{split}-"):
            ids.extend(
                records.parse_clip(r).example_id
                for r in records.read_records(os.path.join(directory, shard))
            )
    return ids


def _shard_state(directory):
    return {
        name: os.stat(os.path.join(directory, name)).st_mtime_ns
        for name in os.listdir(directory)
        if name.endswith(".tfrecord")
    }


def test_clips_are_shuffled_round_robin_over_shards(tmp_path):
    info, skipped, _ = writer.write_split(
        str(tmp_path),
        "train",
        _items(10),
        convert.load_synthetic_clip,
        _options(),
    )
    assert [s.num_examples for s in info.shards] == [3, 3, 2, 2]
    assert skipped == ()
    ids = _ids(str(tmp_path))
    assert sorted(ids) == [f"train-{i:06d}" for i in range(10)]
    assert ids != sorted(ids)  # seeded shuffle before sharding


def test_shard_count_follows_target_shard_size(tmp_path):
    info, _, _ = writer.write_split(
        str(tmp_path),
        "train",
        _items(24),
        convert.load_synthetic_clip,
        _options(num_shards=None, shard_size_mb=8 * 1024 / 2**20),
    )
    # ~4 KB per 4-frame 16 px clip -> about two clips per 8 KB shard.
    assert 6 <= len(info.shards) <= 24
    assert info.num_examples == 24


def test_killed_conversion_resumes_without_duplicates(tmp_path):
    out = str(tmp_path)
    # Shards are written in order 0..3 (one worker); SIGKILL the process
    # while it is half-way through shard 2 (input #9 of the shuffled list).
    script = textwrap.dedent(f"""
        import os, signal, sys
        sys.path.insert(0, {_REPO!r})
        from dvdgan_tf.data import convert, writer
        from tests.data.test_writer import _items, _options
        items = _items(16)
        done = []
        def load(item):
            done.append(item)
            if len(done) == 10:
                os.kill(os.getpid(), signal.SIGKILL)
            return convert.load_synthetic_clip(item)
        writer.write_split({out!r}, "train", items, load, _options())
    """)
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=_REPO,
        capture_output=True,
        timeout=120,
    )
    assert result.returncode == -9, result.stderr.decode()[-2000:]
    before = _shard_state(out)
    assert sorted(before) == [
        "train-00000-of-00004.tfrecord",
        "train-00001-of-00004.tfrecord",
    ]
    assert any(".tmp-" in name for name in os.listdir(out))  # half shard

    info, _, _ = writer.write_split(
        out, "train", _items(16), convert.load_synthetic_clip, _options()
    )
    assert info.num_examples == 16
    ids = _ids(out)
    assert sorted(ids) == [f"train-{i:06d}" for i in range(16)]
    assert not any(".tmp-" in name for name in os.listdir(out))
    after = _shard_state(out)
    for name, mtime in before.items():
        assert after[name] == mtime  # finished shards were not rewritten


def test_shard_without_marker_is_rewritten(tmp_path):
    out = str(tmp_path)
    writer.write_split(
        out, "train", _items(8), convert.load_synthetic_clip, _options()
    )
    # A shard renamed into place but whose marker never made it, with junk.
    os.remove(
        os.path.join(
            out, writer.PROGRESS_DIR, "train-00001-of-00004.tfrecord.json"
        )
    )
    with open(os.path.join(out, "train-00001-of-00004.tfrecord"), "wb") as f:
        f.write(b"half a record")
    info, _, _ = writer.write_split(
        out, "train", _items(8), convert.load_synthetic_clip, _options()
    )
    assert sorted(_ids(out)) == [f"train-{i:06d}" for i in range(8)]
    assert info.num_examples == 8


def test_rerun_of_finished_split_writes_nothing(tmp_path):
    out = str(tmp_path)
    writer.write_split(
        out, "train", _items(8), convert.load_synthetic_clip, _options()
    )
    before = _shard_state(out)
    calls = []

    def load(item):
        calls.append(item)
        return convert.load_synthetic_clip(item)

    writer.write_split(out, "train", _items(8), load, _options())
    assert calls == [] and _shard_state(out) == before


def test_different_inputs_for_an_unfinished_dir_are_refused(tmp_path):
    writer.write_split(
        str(tmp_path),
        "train",
        _items(8),
        convert.load_synthetic_clip,
        _options(),
    )
    with pytest.raises(ValueError, match="different inputs or settings"):
        writer.write_split(
            str(tmp_path),
            "train",
            _items(9),
            convert.load_synthetic_clip,
            _options(),
        )


def test_loader_exception_skips_only_that_input(tmp_path):
    def load(item):
        if item.index == 3:
            raise RuntimeError("decoder exploded")
        return convert.load_synthetic_clip(item)

    info, skipped, _ = writer.write_split(
        str(tmp_path), "train", _items(6), load, _options()
    )
    assert info.num_examples == 5
    assert [(s.input, s.reason) for s in skipped] == [
        ("train-000003", "error: RuntimeError: decoder exploded")
    ]


def test_parallel_workers_write_the_same_bytes_as_one(tmp_path):
    options = convert.ConvertOptions(min_frames=1, num_shards=2, progress=False)
    serial = os.path.join(str(tmp_path), "serial")
    parallel = os.path.join(str(tmp_path), "parallel")
    kwargs = dict(num_clips=12, num_test_clips=0, num_frames=4, size=16)
    convert.convert_synthetic(serial, options=options, **kwargs)
    manifest = convert.convert_synthetic(
        parallel,
        options=convert.ConvertOptions(
            min_frames=1, num_shards=2, num_workers=2, progress=False
        ),
        **kwargs,
    )
    for shard in manifest.splits["train"].shards:
        with (
            open(os.path.join(serial, shard.file), "rb") as a,
            open(os.path.join(parallel, shard.file), "rb") as b,
        ):
            assert a.read() == b.read()


def test_synthetic_conversion_manifest_describes_the_set(tmp_path):
    manifest = convert.convert_synthetic(
        str(tmp_path),
        num_clips=24,
        num_test_clips=12,
        num_frames=4,
        size=16,
        options=convert.ConvertOptions(
            min_frames=1, num_shards=2, progress=False
        ),
    )
    read = manifest_lib.read_manifest(str(tmp_path))
    assert read == manifest
    assert read.num_classes == 12 and read.storage_size == 16
    assert {k: v.num_examples for k, v in read.splits.items()} == {
        "train": 24,
        "test": 12,
    }
    assert read.storage_bytes == sum(
        os.path.getsize(os.path.join(str(tmp_path), s.file))
        for split in read.splits.values()
        for s in split.shards
    )
    clip = records.parse_clip(
        records.read_records(
            os.path.join(str(tmp_path), read.splits["train"].shards[0].file)
        )[0]
    )
    appearance, motion = divmod(clip.label, 4)
    assert clip.int_context == {
        convert.APPEARANCE_INDEX_KEY: appearance,
        convert.MOTION_INDEX_KEY: motion,
    }


def test_read_manifest_of_unconverted_dir_says_what_to_do(tmp_path):
    with pytest.raises(FileNotFoundError, match="make_tfrecords"):
        manifest_lib.read_manifest(str(tmp_path))
