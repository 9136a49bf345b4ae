"""Converters do not depend on the order their inputs come in.

The other data tests write their fixtures already in canonical order
(classes alphabetical, rows sorted), so an order rule that merely follows
the input would pass them. Here every lister gets the same dataset twice,
written in two different orders (files created in reverse, CSV rows and
split-list lines permuted, classInd.txt unsorted), and must return the
same `Sources`: sorted class names, labels indexing them, each split's
inputs sorted by key, and the same file picked when two files could serve
one clip. One conversion is checked down to the bytes of its shards.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from dvdgan_tf.data import convert
from dvdgan_tf.data import sources
from tests.data import fixtures


def _touch(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(b"x")


KINETICS_ROWS = [
    ("zumba", "zzzzzzzzzzz", 5, 15, "train"),
    ("abseiling", "bbbbbbbbbbb", 0, 10, "train"),
    ("juggling", "jjjjjjjjjjj", 1, 11, "validate"),
    ("abseiling", "aaaaaaaaaaa", 10, 20, "train"),
    ("zumba", "yyyyyyyyyyy", 2, 12, "validate"),
]


def _kinetics(root, rows, file_order):
    video_dir = os.path.join(root, "clips")
    stems = [f"{r[1]}_{r[2]:06d}_{r[3]:06d}" for r in rows]
    # One clip exists twice (two sub-folders): the pick must not depend on
    # the directory walk.
    files = [os.path.join(video_dir, "a", f"{s}.mp4") for s in stems]
    files.append(os.path.join(video_dir, "b", f"{stems[0]}.mp4"))
    for path in file_order(files):
        _touch(path)
    csv_path = os.path.join(root, "k.csv")
    with open(csv_path, "w") as f:
        f.write("label,youtube_id,time_start,time_end,split\n")
        f.writelines(f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]}\n" for r in rows)
    return sources.list_kinetics([csv_path], video_dir)


def _relative(listed, root):
    """The listing with paths relative to `root` (comparable across roots)."""
    return (
        listed.class_names,
        {
            split: [
                (
                    v.key,
                    os.path.relpath(v.path, root),
                    v.label,
                    v.label_name,
                    v.media_id,
                )
                for v in items
            ]
            for split, items in sorted(listed.splits.items())
        },
        sorted((s.split, s.input, s.reason) for s in listed.unusable),
    )


def _check_canonical(listed):
    assert list(listed.class_names) == sorted(listed.class_names)
    for items in listed.splits.values():
        assert [v.key for v in items] == sorted(v.key for v in items)
        for v in items:
            assert listed.class_names[v.label] == v.label_name


def test_kinetics_listing_ignores_row_and_file_order(tmp_path):
    forward = _kinetics(str(tmp_path / "f"), KINETICS_ROWS, lambda f: f)
    backward = _kinetics(
        str(tmp_path / "b"), KINETICS_ROWS[::-1], lambda f: f[::-1]
    )
    assert _relative(forward, str(tmp_path / "f")) == _relative(
        backward, str(tmp_path / "b")
    )
    _check_canonical(forward)
    assert forward.class_names == ("abseiling", "zumba")  # train rows only
    (first,) = [
        v for v in forward.splits["train"] if v.media_id == "zzzzzzzzzzz"
    ]
    assert os.path.relpath(first.path, str(tmp_path / "f")).startswith(
        os.path.join("clips", "a")
    )  # the first in path order


def _ucf(root, class_index_lines, train_lines, reverse_files):
    videos = os.path.join(root, "UCF-101")
    files = [
        os.path.join(videos, "Archery", "v_Archery_g01_c01.avi"),
        os.path.join(videos, "Archery", "v_Archery_g02_c01.avi"),
        os.path.join(videos, "Basketball", "v_Basketball_g01_c01.avi"),
        os.path.join(videos, "ApplyEyeMakeup", "v_ApplyEyeMakeup_g08_c01.avi"),
    ]
    for path in files[::-1] if reverse_files else files:
        _touch(path)
    lists = os.path.join(root, "lists")
    os.makedirs(lists)
    with open(os.path.join(lists, "classInd.txt"), "w") as f:
        f.write("\n".join(class_index_lines) + "\n")
    with open(os.path.join(lists, "trainlist01.txt"), "w") as f:
        f.write("\n".join(train_lines) + "\n")
    with open(os.path.join(lists, "testlist01.txt"), "w") as f:
        f.write("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi\n")
    return sources.list_ucf101(videos, lists, 1)


def test_ucf101_listing_ignores_list_order_and_class_index_order(tmp_path):
    train = [
        "Archery/v_Archery_g01_c01.avi 2",
        "Basketball/v_Basketball_g01_c01.avi 3",
        "Archery/v_Archery_g02_c01.avi 2",
    ]
    classes = ["1 ApplyEyeMakeup", "2 Archery", "3 Basketball"]
    forward = _ucf(str(tmp_path / "f"), classes, train, False)
    backward = _ucf(str(tmp_path / "b"), classes[::-1], train[::-1], True)
    assert _relative(forward, str(tmp_path / "f")) == _relative(
        backward, str(tmp_path / "b")
    )
    _check_canonical(forward)
    assert [v.label for v in forward.splits["train"]] == [1, 1, 2]


def test_folder_listing_ignores_file_creation_order(tmp_path):
    names = ["b/2.mp4", "a/y.MPG", "c/1.avi", "a/x.webm", "b/1.AVI"]
    for relative in names:
        _touch(str(tmp_path / "f" / relative))
    for relative in names[::-1]:
        _touch(str(tmp_path / "b" / relative))
    forward = sources.list_folder(str(tmp_path / "f"))
    backward = sources.list_folder(str(tmp_path / "b"))
    assert _relative(forward, str(tmp_path / "f")) == _relative(
        backward, str(tmp_path / "b")
    )
    _check_canonical(forward)


def _shard_bytes(directory):
    found = {}
    for name in sorted(os.listdir(directory)):
        if name.endswith(".tfrecord"):
            with open(os.path.join(directory, name), "rb") as f:
                found[name] = f.read()
    return found


@pytest.fixture(scope="module")
def kinetics_conversions(tmp_path_factory):
    outputs = []
    for name, rows, order in (
        ("forward", KINETICS_ROWS[:4], lambda items: items),
        ("backward", KINETICS_ROWS[:4][::-1], lambda items: items[::-1]),
    ):
        root = str(tmp_path_factory.mktemp(name))
        stems = [(f"{r[1]}_{r[2]:06d}_{r[3]:06d}", ".mp4") for r in rows]
        videos = os.path.join(root, "clips")
        # Frames from a seed per clip, so both trees hold the same videos.
        for stem in order(stems):
            fixtures.write_videos(
                videos,
                [stem],
                num_frames=4,
                size=16,
                seed=sum(map(ord, stem[0])),
            )
        csv_path = os.path.join(root, "k.csv")
        with open(csv_path, "w") as f:
            f.write("label,youtube_id,time_start,time_end,split\n")
            f.writelines(f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]}\n" for r in rows)
        out = os.path.join(root, "out")
        convert.convert_kinetics(
            [csv_path],
            videos,
            out,
            options=convert.ConvertOptions(
                num_shards=2, min_frames=1, max_frames=4, size=16
            ),
        )
        outputs.append(out)
    return outputs


def test_kinetics_shards_are_identical_for_permuted_inputs(
    kinetics_conversions,
):
    forward, backward = (_shard_bytes(d) for d in kinetics_conversions)
    assert forward and forward.keys() == backward.keys()
    for name in forward:
        assert forward[name] == backward[name], name
    assert np.sum([len(b) for b in forward.values()]) > 0
