"""Tests of `tools/plot_results.py` (the figures of docs/RESULTS.md)."""

import importlib.util
import json
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow.core.framework import summary_pb2
from tensorflow.core.util import event_pb2

from tests import model_dir_fixture

_TOOL = os.path.join(
    os.path.dirname(
        os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    ),
    "tools",
    "plot_results.py",
)


def _tool():
    spec = importlib.util.spec_from_file_location("plot_results", _TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _write_segment(directory, name, start, steps):
    """One process's event file: first event at `start`, then {step: time}."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, f"events.out.tfevents.{name}")
    with tf.io.TFRecordWriter(path) as writer:
        writer.write(
            event_pb2.Event(
                wall_time=start, file_version="brain.Event:2"
            ).SerializeToString()
        )
        for step, wall_time in steps.items():
            summary = summary_pb2.Summary(
                value=[summary_pb2.Summary.Value(tag="loss", simple_value=1.0)]
            )
            writer.write(
                event_pb2.Event(
                    wall_time=wall_time, step=step, summary=summary
                ).SerializeToString()
            )


def _write_results(model_dir, step, accuracy):
    os.makedirs(os.path.join(model_dir, "eval"), exist_ok=True)
    record = {
        "step": step,
        "metrics": [
            {"name": "judge_accuracy", "value": accuracy},
            {"name": "judge_motion_accuracy", "value": accuracy / 2},
        ],
    }
    with open(
        os.path.join(model_dir, "eval", f"results-{step}.json"), "w"
    ) as f:
        json.dump(record, f)


def _two_step_run(tmp_path, wall_time_at_200):
    """A run dir: one process logging steps 100 (60 s) and 200, results of
    both steps written out of order (class accuracy 0.25 and 0.5)."""
    model_dir = str(tmp_path / "run")
    _write_segment(
        os.path.join(model_dir, "train"),
        "1",
        0.0,
        {100: 60.0, 200: wall_time_at_200},
    )
    _write_results(model_dir, 200, 0.5)
    _write_results(model_dir, 100, 0.25)
    return model_dir


def test_minutes_add_up_over_resumed_processes(tmp_path):
    tool = _tool()
    train = str(tmp_path / "train")
    # Process 1 runs from t = 1000 s to 1120 s; process 2 (resumed) starts
    # at 5000 s: the gap is not training time.
    _write_segment(train, "1", 1000.0, {10: 1060.0, 20: 1120.0})
    _write_segment(train, "2", 5000.0, {30: 5030.0, 40: 5090.0})
    minutes = tool.training_minutes(str(tmp_path))
    assert minutes == pytest.approx({10: 1.0, 20: 2.0, 30: 2.5, 40: 3.5})
    assert tool.minutes_at(15, minutes) == pytest.approx(2.0)


def test_results_are_read_by_step_and_curves_are_written(tmp_path):
    tool = _tool()
    model_dir = _two_step_run(tmp_path, 120.0)
    results = tool.read_results(model_dir)
    assert list(results) == [100, 200]
    assert results[200]["judge_motion_accuracy"] == 0.25
    output = str(tmp_path / "curves.png")
    tool.plot_curves([("a run", model_dir)], output, "title")
    assert os.path.getsize(output) > 10_000


def test_a_run_without_results_says_how_to_make_them(tmp_path):
    with pytest.raises(ValueError, match="dvdgan_tf.evaluate"):
        _tool().read_results(str(tmp_path))


def test_table_lists_each_step_with_minutes_and_values(tmp_path):
    tool = _tool()
    model_dir = _two_step_run(tmp_path, 150.0)
    lines = tool.format_table([("demo", model_dir)])
    rows = [
        line
        for line in lines
        if line.startswith("| 1") or line.startswith("| 2")
    ]
    assert lines[0].endswith("chance: class 0.083, motion 0.25)")
    # step, minutes, class, motion: the metrics the run has.
    assert rows[0] == "| 100 | 1.0 | 0.250 | 0.125 |"
    assert rows[1] == "| 200 | 2.5 | 0.500 | 0.250 |"


def test_table_and_curves_show_fvd_is_and_fid(tmp_path):
    tool = _tool()
    model_dir = str(tmp_path / "run")
    _write_segment(os.path.join(model_dir, "train"), "1", 0.0, {100: 60.0})
    os.makedirs(os.path.join(model_dir, "eval"))
    record = {
        "step": 100,
        "metrics": [
            {"name": "fvd", "value": 812.34},
            {"name": "is", "value": 11.567},
            {"name": "fid", "value": 45.0},
            {"name": "judge_real_accuracy", "value": 1.0},  # a reference
        ],
    }
    with open(os.path.join(model_dir, "eval", "results-100.json"), "w") as f:
        json.dump(record, f)
    lines = tool.format_table([("k600", model_dir)])
    assert lines[2] == (
        "| step | minutes | FVD (lower is better) | FID (lower is better) "
        "| IS |"
    )
    assert lines[4] == "| 100 | 1.0 | 812.3 | 45.0 | 11.57 |"
    output = str(tmp_path / "curves.png")
    tool.plot_curves([("k600", model_dir)], output, "")
    assert os.path.getsize(output) > 5_000


def test_table_reads_another_results_folder(tmp_path):
    tool = _tool()
    model_dir = str(tmp_path / "run")
    _write_results(model_dir, 100, 0.25)
    os.rename(
        os.path.join(model_dir, "eval"), os.path.join(model_dir, "eval_live")
    )
    with pytest.raises(ValueError, match="run/eval holds no"):
        tool.format_table([("demo", model_dir)])
    lines = tool.format_table([("demo", model_dir)], "eval_live")
    assert any(line.startswith("| 100 | nan | 0.250") for line in lines)


def _seed_runs(tmp_path):
    """Three seeds of one config: seed 2 has no result at step 200 yet."""
    for seed, (first, second) in enumerate(
        [(0.2, 0.6), (0.4, 0.9), (0.3, None)]
    ):
        model_dir = str(tmp_path / "runs" / f"seed{seed}")
        _write_segment(
            os.path.join(model_dir, "train"),
            "1",
            0.0,
            {100: 60.0 * (seed + 1), 200: 120.0 * (seed + 1)},
        )
        _write_results(model_dir, 100, first)
        if second is not None:
            _write_results(model_dir, 200, second)
    return str(tmp_path / "runs" / "seed*")


def test_seed_glob_table_gives_median_and_range_per_step(tmp_path):
    tool = _tool()
    lines = tool.format_table([("demo", _seed_runs(tmp_path))])
    assert lines[0].startswith("demo (3 seeds: ")
    rows = [
        line
        for line in lines
        if line.startswith("| 1") or line.startswith("| 2")
    ]
    # step, seeds, minutes, class, motion (the metrics the runs have).
    assert rows[0] == (
        "| 100 | 3 | 2.0 [1.0, 3.0] | 0.300 [0.200, 0.400] "
        "| 0.150 [0.100, 0.200] |"
    )
    # Step 200: only the two seeds evaluated there.
    assert rows[1].startswith(
        "| 200 | 2 | 3.0 [2.0, 4.0] | 0.750 [0.600, 0.900] |"
    )


def test_seed_glob_curves_are_drawn_and_an_empty_glob_is_an_error(tmp_path):
    tool = _tool()
    output = str(tmp_path / "seeds.png")
    tool.plot_curves([("demo", _seed_runs(tmp_path))], output, "seeds")
    assert os.path.getsize(output) > 10_000
    with pytest.raises(ValueError, match="matches no directory"):
        tool.expand_run(str(tmp_path / "nothing*"))


def _synthetic_fp_model_dir(path):
    from tests.evaluation import test_job as test_evaluate

    test_evaluate._make_synthetic_model_dir(
        path, num_conditioning_frames=model_dir_fixture.FP_CONTEXT
    )
    return path


def test_grid_panels_of_an_fp_model_show_the_reversal_check(tmp_path):
    from dvdgan_tf.data import synthetic
    from dvdgan_tf.inference import generation

    model_dir = _synthetic_fp_model_dir(str(tmp_path / "fp"))
    panels, names, step = _tool().grid_panels(model_dir, seed=0)
    titles = [title for title, _ in panels]
    assert titles == [
        "generated (EMA G)",
        "real",
        "reversed context, twin label",
        "real, reversed",
    ]
    (_, fake), (_, real), (_, fake_back), (_, back) = panels
    assert step == model_dir_fixture.STEP
    assert names == list(synthetic.class_names())  # one row per class
    assert real.shape == (synthetic.NUM_CLASSES, 4, 16, 16, 3)
    assert all(clips.shape == real.shape for _, clips in panels)
    np.testing.assert_array_equal(back, real[:, ::-1])
    context = model_dir_fixture.FP_CONTEXT
    np.testing.assert_array_equal(
        fake[:, :context],
        generation.mark_context(real, context)[:, :context],
    )
    np.testing.assert_array_equal(
        fake_back[:, :context],
        generation.mark_context(back, context)[:, :context],
    )
    # Same z, other context and label: another prediction.
    assert (
        np.abs(
            fake_back[:, context:].astype(int) - fake[:, context:].astype(int)
        ).mean()
        > 1
    )


def test_grid_gif_has_one_image_per_frame(tmp_path):
    from PIL import Image

    model_dir = _synthetic_fp_model_dir(str(tmp_path / "fp"))
    output = str(tmp_path / "grid.gif")
    _tool().plot_grid(model_dir, output, seed=0, scale=2, title="t")
    with Image.open(output) as gif:
        assert gif.format == "GIF"
        assert gif.n_frames == 4
        # 12 rows of 16 + 1 pixels, upscaled 2x, fit in the image.
        assert gif.size[1] > 12 * 17 * 2
