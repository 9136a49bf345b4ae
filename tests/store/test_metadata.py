"""dvdgan_tf.store.metadata: RunMetadata, the typed metadata.json."""

import json

import pytest

from dvdgan_tf.store import checkpointing
from dvdgan_tf.store.metadata import RunMetadata
from tests.data import test_manifest


def _converted(tmp_path):
    return test_manifest._converted(tmp_path)


# --- moved from tests/data/test_manifest.py (manifest.model_metadata) ---
def test_model_metadata_comes_from_the_manifest(tmp_path):
    data_dir = _converted(tmp_path)
    metadata = RunMetadata.from_data(data_dir, "train", 2, 8, 16, 3)
    assert metadata == {
        "num_frames": 8,
        "resolution": 16,
        "frame_stride": 2,
        "num_conditioning_frames": 0,
        "class_names": ["a", "b", "c"],
        "fps": 25.0,
        "dataset": "toy-s16-25fps-q90",
        "split": "train",
    }


def test_model_metadata_without_data_has_generic_names():
    metadata = RunMetadata.from_data(None, "train", 1, 4, 16, 2)
    assert metadata["class_names"] == ["0", "1"] and metadata["fps"] is None


def test_class_count_mismatch_says_which_macro_to_set(tmp_path):
    data_dir = _converted(tmp_path)
    with pytest.raises(ValueError, match="NUM_CLASSES = 3"):
        RunMetadata.from_data(data_dir, "train", 1, 4, 16, 5)


# --- the typed reader ---
def test_missing_keys_take_the_one_set_of_defaults():
    metadata = RunMetadata.from_dict({"fps": 25.0})
    assert (metadata.fps, metadata.frame_stride, metadata.dataset) == (
        25.0,
        1,
        None,
    )
    assert metadata.class_names == () and metadata.num_conditioning_frames == 0
    assert metadata.dataset_or_unknown == "unknown"
    # Old files wrote null strides: consecutive frames.
    assert RunMetadata.from_dict({"frame_stride": None}).frame_stride == 1


def test_derived_clip_frames_and_playback_fps():
    metadata = RunMetadata.from_dict(
        {
            "num_frames": 6,
            "num_conditioning_frames": 2,
            "fps": 24.0,
            "frame_stride": 2,
        }
    )
    assert metadata.clip_frames == 8
    assert metadata.playback_fps == 12.0
    assert RunMetadata(fps=None).playback_fps == 8.0


def test_round_trip_through_the_model_dir_keeps_unknown_keys(tmp_path):
    class _Generator:
        def get_config(self):
            return {"name": "g"}

    written = RunMetadata.from_data(None, "train", 2, 8, 16, 3).replace(
        extra={"note": "from a newer version"}
    )
    checkpointing.write_model_spec(str(tmp_path), _Generator(), written)
    stored = json.loads((tmp_path / "metadata.json").read_text())
    assert stored["note"] == "from a newer version"
    assert stored["class_names"] == ["0", "1", "2"] and stored["fps"] is None
    assert "step" not in stored  # export-only fields are left out
    read = checkpointing.read_metadata(str(tmp_path))
    assert isinstance(read, RunMetadata) and read == written
    assert read.class_names == ("0", "1", "2") and read.frame_stride == 2


def test_a_field_of_the_wrong_kind_names_the_file(tmp_path):
    (tmp_path / "metadata.json").write_text('{"num_frames": "eight"}')
    with pytest.raises(checkpointing.CheckpointError, match="metadata.json"):
        checkpointing.read_metadata(str(tmp_path))
