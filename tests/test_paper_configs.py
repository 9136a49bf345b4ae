"""Each paper config is the paper's protocol (dvdgan_tf/paper.py, one table):
clip, classes, frame stride, training length and data dir; its header names
the table row, the numbers, the evaluate command and what the user
supplies."""

import glob
import os
import re

import gin
import pytest

from dvdgan_tf import configurables
from dvdgan_tf import paper

GIN_DIR = configurables.GIN_DIR
BY_FILE = {e.gin_file: e for e in paper.EXPERIMENTS}


def _header(name):
    with open(os.path.join(GIN_DIR, name)) as f:
        lines = f.read().split("include", 1)[0].splitlines()
    return " ".join(line.lstrip("# ").strip() for line in lines)


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_config_trains_the_papers_clips_for_the_papers_length(name):
    experiment = BY_FILE[name]
    configurables.add_gin_search_path()
    gin.clear_config()
    gin.parse_config_files_and_bindings([os.path.join(GIN_DIR, name)], [])
    try:
        got = {
            "num_frames": gin.query_parameter("%NUM_FRAMES"),
            "resolution": gin.query_parameter("%RESOLUTION"),
            "num_classes": gin.query_parameter("%NUM_CLASSES"),
            "data_dir": gin.query_parameter("%DATA_DIR"),
            "train_steps": gin.query_parameter("training.run.train_steps"),
            "frame_stride": gin.query_parameter("training.run.frame_stride"),
            "conditioning_frames": gin.query_parameter(
                "%NUM_CONDITIONING_FRAMES"
            )
            if experiment.conditioning_frames
            else 0,
        }
    finally:
        gin.clear_config()
    assert got == {key: getattr(experiment, key) for key in got}


@pytest.mark.parametrize("name", sorted(BY_FILE))
def test_header_names_row_numbers_command_and_what_to_supply(name):
    experiment = BY_FILE[name]
    header = _header(name)
    assert f"{experiment.table}, {experiment.metric}: " in header
    assert experiment.targets in header
    assert f"dvdgan-evaluate --model_dir=RUN {experiment.evaluate}" in header
    assert f"You supply: {experiment.supply}." in header
    assert f"--output_dir={experiment.data_dir}" in header
    if experiment.caveat:
        assert "Not the paper's protocol" in header


def test_every_config_that_names_a_paper_table_is_in_the_table():
    claimed = {
        os.path.basename(path)
        for path in glob.glob(os.path.join(GIN_DIR, "*.gin"))
        if re.search(
            r"paper \(v2\) Table|Paper protocol",
            _header(os.path.basename(path)),
        )
    }
    assert claimed == set(BY_FILE)


def test_synthesis_and_prediction_lengths_are_the_papers():
    assert paper.SYNTHESIS_STEPS == 300_000
    assert paper.PREDICTION_STEPS == 1_000_000
    for experiment in paper.EXPERIMENTS:
        expected = (
            paper.PREDICTION_STEPS
            if experiment.conditioning_frames
            else paper.SYNTHESIS_STEPS
        )
        assert experiment.train_steps == expected, experiment.gin_file
