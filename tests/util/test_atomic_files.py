"""Atomic writes leave the old file or the new one, never a partial one."""

import json
import os

import pytest

from dvdgan_tf.util import atomic_files


def test_write_json_replaces_the_file_and_leaves_no_temp(tmp_path):
    path = str(tmp_path / "metadata.json")
    atomic_files.write_json(path, {"b": 1, "a": [1, 2]})
    atomic_files.write_json(path, {"fps": 25.0})
    assert json.loads(open(path).read()) == {"fps": 25.0}
    assert os.listdir(tmp_path) == ["metadata.json"]


def test_a_failed_write_keeps_the_previous_file(tmp_path, monkeypatch):
    path = str(tmp_path / "config.json")
    atomic_files.write_text(path, "old\n")

    class _Unserialisable:
        pass

    with pytest.raises(TypeError):
        atomic_files.write_json(path, {"x": _Unserialisable()})

    def _failing_rename(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(atomic_files.tf.io.gfile, "rename", _failing_rename)
    with pytest.raises(OSError, match="disk full"):
        atomic_files.write_text(path, "new\n")
    assert open(path).read() == "old\n"
    assert os.listdir(tmp_path) == ["config.json"]
