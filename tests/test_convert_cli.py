"""Tests of the `dvdgan-convert` command line (dvdgan_tf/convert.py; also
`tools/make_tfrecords.py`)."""

import os

import pytest

from dvdgan_tf import convert
from dvdgan_tf.data import manifest as manifest_lib


def _tool():
    return convert


def test_help_lists_every_dataset(capsys):
    with pytest.raises(SystemExit) as exit_info:
        _tool().main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    for command in ("ucf101", "kinetics", "bair", "folder", "synthetic"):
        assert command in out


def test_synthetic_command_writes_a_readable_dataset(tmp_path):
    out = str(tmp_path)
    args = [
        "synthetic",
        f"--output_dir={out}",
        "--num_clips=24",
        "--num_test_clips=12",
        "--num_frames=4",
        "--size=16",
        "--workers=1",
        "--no_progress",
    ]
    assert _tool().main(args) == 0
    manifest = manifest_lib.read_manifest(out)
    assert manifest.splits["train"].num_examples == 24
    assert len(manifest.splits["train"].shards) == 4
    assert manifest.dataset_name == "synthetic-s16-25fps-q90"


def test_missing_input_dir_is_an_error_naming_it(tmp_path):
    missing = os.path.join(str(tmp_path), "no_such_dir")
    with pytest.raises(FileNotFoundError, match="no_such_dir"):
        _tool().main(
            [
                "folder",
                f"--input_dir={missing}",
                f"--output_dir={tmp_path}",
                "--workers=1",
            ]
        )
