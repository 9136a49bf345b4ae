"""dvdgan_tf.data.sources: enumerating each dataset's inputs (no decoding)."""

import os

import pytest

from dvdgan_tf.data import sources


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x")


def test_folder_dataset_labels_follow_sorted_class_folders(tmp_path):
    for relative in ("b/2.mp4", "b/1.AVI", "a/x.webm", "a/y.MPG"):
        _touch(str(tmp_path / relative))
    listed = sources.list_folder(str(tmp_path))
    assert listed.class_names == ("a", "b")
    (train,) = listed.splits.values()
    assert [(v.key, v.label, v.label_name) for v in train] == [
        ("a/x.webm", 0, "a"),
        ("a/y.MPG", 0, "a"),
        ("b/1.AVI", 1, "b"),
        ("b/2.mp4", 1, "b"),
    ]
    assert train[2].media_id == "1"
    assert listed.unusable == ()


def test_every_other_file_under_the_root_is_accounted_for(tmp_path):
    for relative in (
        "a/clip.ts",  # MPEG-TS: a video
        "a/clip.flv",
        "a/notes.txt",
        "a/.DS_Store",
        "only_text/readme.md",  # no video: not a class
        "loose.mp4",  # not in a class folder
        "a/deeper/nested.mp4",
    ):
        _touch(str(tmp_path / relative))
    listed = sources.list_folder(str(tmp_path))
    assert listed.class_names == ("a",)
    assert [v.key for v in listed.splits["train"]] == [
        "a/clip.flv",
        "a/clip.ts",
    ]
    reasons = {s.input: s.reason.split(":")[0] for s in listed.unusable}
    assert reasons == {
        "a/notes.txt": "not_a_video",
        "a/.DS_Store": "hidden_file",
        "only_text/readme.md": "not_a_video",
        "loose.mp4": "not_in_a_class_folder",
        os.path.join("a", "deeper", "nested.mp4"): "not_in_a_class_folder",
    }


def test_folder_without_videos_is_rejected(tmp_path):
    _touch(str(tmp_path / "a" / "notes.txt"))
    with pytest.raises(ValueError):
        sources.list_folder(str(tmp_path))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        sources.list_folder(str(tmp_path / "missing"))


def _ucf_lists(root, train_lines, test_lines):
    lists = root / "lists"
    lists.mkdir()
    (lists / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 Archery\n")
    (lists / "trainlist01.txt").write_text("\n".join(train_lines) + "\n")
    (lists / "testlist01.txt").write_text("\n".join(test_lines) + "\n")
    return str(lists)


def test_ucf101_split_lists_map_to_labels_and_report_unusable_rows(tmp_path):
    videos = tmp_path / "UCF-101"
    _touch(str(videos / "Archery" / "v_Archery_g01_c01.avi"))
    _touch(str(videos / "ApplyEyeMakeup" / "v_ApplyEyeMakeup_g08_c01.avi"))
    lists = _ucf_lists(
        tmp_path,
        [
            "Archery/v_Archery_g01_c01.avi 2",
            "archery/v_Archery_g02_c01.avi 2",  # not on disk
            "Bowling/v_Bowling_g01_c01.avi 3",  # unknown class
        ],
        ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi"],
    )
    listed = sources.list_ucf101(str(videos), lists, 1)
    assert listed.class_names == ("ApplyEyeMakeup", "Archery")
    (train,) = listed.splits["train"]
    assert (train.label, train.media_id) == (1, "v_Archery_g01_c01")
    assert [v.label for v in listed.splits["test"]] == [0]
    reasons = sorted(s.reason.split(":")[0] for s in listed.unusable)
    assert reasons == ["missing", "unknown_label"]


def test_ucf101_split_number_is_checked(tmp_path):
    with pytest.raises(ValueError, match="received: 4"):
        sources.list_ucf101(str(tmp_path), str(tmp_path), 4)
