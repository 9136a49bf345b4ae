"""dvdgan_tf.training.loop_actions: what the loop does every N steps."""

import os

import keras
import pytest
import tensorflow as tf

from dvdgan_tf.store import checkpointing
from dvdgan_tf.training import loop_actions


def _output(step, num_steps=1, totals=None, last=None, **flags):
    return loop_actions.LoopOutput(
        step=step,
        num_steps=num_steps,
        seconds=0.5 * num_steps,
        totals=totals or {"losses/generator": float(num_steps)},
        last=last or {"losses/generator": 1.0},
        finished=flags.get("finished", False),
        stopping=flags.get("stopping", False),
    )


class _Model:
    log_names = ("losses/generator",)

    def __init__(self):
        self.generator_optimizer = keras.optimizers.SGD(0.25)
        self.discriminator_optimizer = keras.optimizers.SGD(0.5)


def _manager(tmp_path):
    checkpoint = checkpointing.build_checkpoint(
        step=tf.Variable(0, dtype=tf.int64)
    )
    return checkpointing.make_manager(checkpoint, str(tmp_path), max_to_keep=5)


def test_non_finite_loss_names_the_step_the_loss_and_last_checkpoint(
    tmp_path,
):
    manager = _manager(tmp_path)
    manager.save(checkpoint_number=4)
    guard = loop_actions.NonFiniteLossGuard(manager)
    guard(_output(5))  # finite: nothing happens
    with pytest.raises(
        loop_actions.NonFiniteLossError,
        match=r"step 6: losses/generator=nan.*ckpt-4",
    ):
        guard(_output(6, last={"losses/generator": float("nan")}))


def test_scalar_logger_averages_over_the_interval_and_resets(tmp_path):
    logger = loop_actions.ScalarLogger(4, _Model(), 100, examples_per_step=6)
    logger(_output(1, 1, totals={"losses/generator": 3.0}))
    assert logger.last_means == {}  # not due yet
    logger(_output(4, 3, totals={"losses/generator": 9.0}))
    assert logger.last_means == {"losses/generator": pytest.approx(3.0)}
    logger(_output(5, 1, totals={"losses/generator": 1.0}, stopping=True))
    assert logger.last_means == {"losses/generator": pytest.approx(1.0)}


def test_scalar_logger_writes_throughput_and_learning_rates(tmp_path):
    writer = tf.summary.create_file_writer(str(tmp_path))
    logger = loop_actions.ScalarLogger(2, _Model(), 10, examples_per_step=6)
    with writer.as_default():
        logger(_output(2, 2, totals={"losses/generator": 4.0}))
    writer.flush()
    values = {}
    for name in os.listdir(tmp_path):
        for event in tf.compat.v1.train.summary_iterator(
            os.path.join(tmp_path, name)
        ):
            for value in event.summary.value:
                values[value.tag] = float(tf.make_ndarray(value.tensor))
    assert values["losses/generator"] == pytest.approx(2.0)
    # 2 steps in 2 x 0.5 s = 2 steps/s; 6 clips per step.
    assert values["perf/steps_per_second"] == pytest.approx(2.0)
    assert values["perf/examples_per_second"] == pytest.approx(12.0)
    assert values["optimizer/generator_learning_rate"] == pytest.approx(0.25)
    assert values["optimizer/discriminator_learning_rate"] == 0.5


def test_checkpoints_at_boundaries_and_the_end_but_not_on_a_stop(tmp_path):
    manager = _manager(tmp_path)
    saver = loop_actions.CheckpointSaver(3, manager, saved_step=0)
    for output in (
        _output(2),
        _output(3),
        _output(4, stopping=True),
        _output(5, finished=True),
    ):
        saver(output)
    assert checkpointing.list_checkpoint_steps(str(tmp_path)) == [3, 5]
    assert saver.save_if_unsaved(5) is None
    assert saver.save_if_unsaved(7).endswith("ckpt-7")
    assert checkpointing.list_checkpoint_steps(str(tmp_path)) == [3, 5, 7]


def test_operative_config_is_written_once_by_the_chief_only(tmp_path):
    chief_dir, worker_dir = tmp_path / "chief", tmp_path / "worker"
    chief_dir.mkdir()
    worker_dir.mkdir()
    writer = loop_actions.OperativeConfigWriter(str(chief_dir), chief=True)
    writer(_output(1))
    path = chief_dir / checkpointing.OPERATIVE_CONFIG_FILE
    written = path.stat().st_mtime_ns
    writer(_output(2))
    assert path.stat().st_mtime_ns == written
    loop_actions.OperativeConfigWriter(str(worker_dir), chief=False)(_output(1))
    assert os.listdir(worker_dir) == []


def test_sample_writer_runs_on_its_period_and_the_last_call():
    class _Grid:
        steps = []

        def write(self, generator, step, fps):
            self.steps.append(step)

    grid = _Grid()
    writer = loop_actions.SampleWriter(4, None, grid, 8.0, chief=True)
    for step in range(1, 7):
        writer(_output(step, stopping=step == 6))
    assert grid.steps == [4, 6]
    silent = loop_actions.SampleWriter(1, None, grid, 8.0, chief=False)
    silent(_output(8))
    assert grid.steps == [4, 6]
