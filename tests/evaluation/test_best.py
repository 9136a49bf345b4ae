"""The best checkpoint by a metric, kept out of keep_checkpoints rotation."""

import json
import os

import pytest

from dvdgan_tf.evaluation import best
from dvdgan_tf.evaluation import job
from dvdgan_tf.evaluation.tasks import MetricResult
from dvdgan_tf.store import checkpointing
from tests import model_dir_fixture


def _result(name, value, protocol="p"):
    return MetricResult(name, protocol, 16, 0, value)


def _judge(accuracy, frechet=100.0):
    return [
        _result("judge_accuracy", accuracy, "judge600"),
        _result("judge_frechet_distance", frechet, "judge600"),
        _result("judge_real_accuracy", 1.0, "judge600"),
    ]


@pytest.fixture
def model_dir(tmp_path):
    """A tiny model_dir with checkpoints at steps 5, 6 and 7 (copies)."""
    path = str(tmp_path / "run")
    model_dir_fixture.write_tiny_model_dir(path)
    directory = checkpointing.checkpoint_dir(path)
    for step in (6, 7):
        for name in os.listdir(directory):
            if name.startswith("ckpt-5."):
                with open(os.path.join(directory, name), "rb") as f:
                    data = f.read()
                target = name.replace("ckpt-5.", f"ckpt-{step}.")
                with open(os.path.join(directory, target), "wb") as f:
                    f.write(data)
    return path


def _update(model_dir, step, results, metric="auto", generator="ema"):
    results_dir = os.path.join(model_dir, "eval")
    return best.update(model_dir, results_dir, step, results, metric, generator)


def _kept(model_dir):
    return sorted(os.listdir(os.path.join(model_dir, "eval", "best")))


def test_direction_distances_down_scores_up():
    assert best.lower_is_better("fvd") and best.lower_is_better("fid")
    assert best.lower_is_better("judge_frechet_distance")
    assert not best.lower_is_better("is")
    assert not best.lower_is_better("judge_accuracy")


def test_auto_picks_fvd_before_the_judge_and_skips_reference_values():
    results = _judge(0.9) + [_result("fvd", 300.0, "fvd2048_16f")]
    assert best.pick(results, "auto").name == "fvd"
    assert best.pick(_judge(0.9), "auto").name == "judge_accuracy"
    assert best.pick(results, "none") is None
    with pytest.raises(ValueError, match="choose one of: judge_accuracy/"):
        best.pick(_judge(0.9), "judge_real_accuracy")


def test_a_name_with_two_protocols_must_be_given_as_a_tag():
    results = [_result("fvd", 1.0, "fvd2048_16f"), _result("fvd", 2.0, "x")]
    with pytest.raises(ValueError, match="several results"):
        best.pick(results, "fvd")
    assert best.pick(results, "fvd/x").value == 2.0


def test_a_metric_the_evaluation_does_not_compute_fails_before_work():
    with pytest.raises(ValueError, match="not computed by --metrics=judge"):
        job.EvalSettings(metrics=("judge",), best_metric="fvd")
    job.EvalSettings(metrics=("judge",), best_metric="judge_motion_accuracy")
    job.EvalSettings(metrics=("fvd",), best_metric="fvd/fvd2048_16f")


def test_better_scores_replace_the_kept_checkpoint_worse_do_not(model_dir):
    assert _update(model_dir, 5, _judge(0.50))["step"] == 5
    assert _kept(model_dir) == [
        "ckpt-5.data-00000-of-00001",
        "ckpt-5.index",
    ]
    assert _update(model_dir, 6, _judge(0.40)) is None  # worse accuracy
    record = _update(model_dir, 7, _judge(0.75))
    assert record["step"] == 7 and record["value"] == 0.75
    assert record["metric"] == "judge_accuracy/judge600"
    assert _kept(model_dir) == [
        "ckpt-7.data-00000-of-00001",
        "ckpt-7.index",
    ]
    with open(os.path.join(model_dir, "eval", "best.json")) as f:
        assert json.load(f) == record


def test_lower_is_better_for_a_distance(model_dir):
    metric = "judge_frechet_distance"
    _update(model_dir, 5, _judge(0.5, frechet=200.0), metric)
    assert _update(model_dir, 6, _judge(0.9, frechet=250.0), metric) is None
    assert _update(model_dir, 7, _judge(0.1, frechet=150.0), metric)["step"]


def test_kept_checkpoint_survives_rotation_and_still_resolves(model_dir):
    _update(model_dir, 6, _judge(0.9))
    directory = checkpointing.checkpoint_dir(model_dir)
    for name in os.listdir(directory):
        if name.startswith("ckpt-6."):
            os.remove(os.path.join(directory, name))  # what rotation does
    path, step = checkpointing.resolve_checkpoint(model_dir, 6)
    assert step == 6
    assert path == os.path.join(model_dir, "eval", "best", "ckpt-6")
    generator, _, _ = checkpointing.load_generator(model_dir, 6)
    assert generator.built
    with pytest.raises(checkpointing.CheckpointError, match="kept best: .6."):
        checkpointing.resolve_checkpoint(model_dir, 99)


def test_a_checkpoint_rotated_before_keeping_is_a_warning(model_dir, caplog):
    directory = checkpointing.checkpoint_dir(model_dir)
    os.remove(os.path.join(directory, "ckpt-6.index"))
    assert _update(model_dir, 6, _judge(0.9)) is None
    assert "keep_checkpoints" in caplog.text
    assert not os.path.exists(os.path.join(model_dir, "eval", "best.json"))


def test_a_record_of_the_other_generator_is_replaced(model_dir):
    _update(model_dir, 5, _judge(0.9), generator="ema")
    record = _update(model_dir, 6, _judge(0.1), generator="live")
    assert record["generator"] == "live" and record["step"] == 6
