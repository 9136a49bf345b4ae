"""What happens every N steps: the training loop's periodic actions.

As in orbit's Controller, the train step (a compiled device loop, see
`training.make_train_loop`) is kept apart from what the host does between
its calls. After every host call the `controller.Controller` hands each
action a `LoopOutput`; an action with a period ``every`` also tells the
controller where the next call must stop, so a host call never runs past a
step at which some action is due.

| action                   | when                               | what        |
| ------------------------ | ---------------------------------- | ----------- |
| `NonFiniteLossGuard`     | every call (first)                 | raises on a |
|                          |                                    | NaN/inf loss|
| `OperativeConfigWriter`  | once, after the first call (chief) | operative   |
|                          |                                    | gin config  |
| `ScalarLogger`           | every `log_every` steps, and last  | console +   |
|                          |                                    | scalars     |
| `SampleWriter`           | every `sample_every` steps, last   | EMA GIF     |
|                          | (chief)                            |             |
| `CheckpointSaver`        | every `checkpoint_every` steps and | checkpoint  |
|                          | at `train_steps`; a preemption     |             |
|                          | save is `save_if_unsaved`          |             |

"Last" means the call that reaches `train_steps` or the one after which a
stop (SIGTERM) was requested.

For readers who know Keras' ``fit``: these are its callbacks, run by our
own loop because ``fit`` breaks under multi-replica strategies
(docs/DESIGN.md K2). `NonFiniteLossGuard` is ``TerminateOnNaN`` (but
raises, naming the step and loss), `ScalarLogger` plus the train-event
writer is ``TensorBoard`` (+ ``ProgbarLogger``), `CheckpointSaver` is
``ModelCheckpoint`` and, with the restore in `training.trainer`,
``BackupAndRestore``; `SampleWriter` and `OperativeConfigWriter` have no
Keras counterpart.
"""

from __future__ import annotations

import dataclasses
import math
import os
from typing import Protocol

import gin
import keras
from absl import logging

from dvdgan_tf.store import checkpointing
from dvdgan_tf.training import summaries
from dvdgan_tf.util import atomic_files


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class LoopOutput:
    """What one host call of the device loop produced.

    Attributes:
        step: completed steps after the call.
        num_steps: steps the call ran.
        seconds: wall time of the call.
        totals: per-tag sums of the cross-replica mean logs over its steps.
        last: the logs of its last step.
        finished: `step` reached `train_steps`.
        stopping: a stop (SIGTERM) was requested; the loop ends after this.
    """

    step: int
    num_steps: int
    seconds: float
    totals: dict
    last: dict
    finished: bool
    stopping: bool

    @property
    def final(self) -> bool:
        return self.finished or self.stopping


class Action(Protocol):
    """Called after every host call; ``every`` (or None) is its period."""

    every: int | None

    def __call__(self, output: LoopOutput) -> None: ...


def _due(every: int | None, output: LoopOutput) -> bool:
    return every is not None and output.step % every == 0


class NonFiniteLossGuard:
    """Stops training at the first non-finite loss, saving nothing.

    The device loop itself stops after such a step; this names the step,
    the losses and the last good checkpoint, which stays intact.

    Args:
        manager: the `tf.train.CheckpointManager` (for the message).

    Keras counterpart: ``keras.callbacks.TerminateOnNaN``.
    """

    every = None

    def __init__(self, manager):
        self._manager = manager

    def __call__(self, output: LoopOutput) -> None:
        bad = sorted(
            name
            for name, value in output.last.items()
            if not math.isfinite(value)
        )
        if not bad:
            return
        good = self._manager.latest_checkpoint or "none"
        raise NonFiniteLossError(
            f"Non-finite loss at step {output.step}: "
            + ", ".join(f"{name}={output.last[name]}" for name in bad)
            + f". Training stopped without saving; the last good "
            f"checkpoint is {good}. Lower the learning rates or check "
            "the data for NaNs, then resume from that checkpoint (the "
            "same command; the run's seed is restored from it, so "
            "changing gan.build_dvdgan.seed alone changes nothing)."
        )


class OperativeConfigWriter:
    """Writes gin's operative config once, after the first call (chief).

    No Keras callback counterpart (gin's "operative config" habit).
    """

    every = None

    def __init__(self, model_dir: str, chief: bool):
        self._path = os.path.join(
            model_dir, checkpointing.OPERATIVE_CONFIG_FILE
        )
        self._chief = chief
        self._done = False

    def __call__(self, output: LoopOutput) -> None:
        if self._done:
            return
        self._done = True
        if self._chief:
            config_text = gin.operative_config_str()
            atomic_files.write_text(self._path, config_text)
            summaries.write_gin_config(config_text, output.step)


def _learning_rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


class ScalarLogger:
    """Interval means of the logs, throughput and learning rates.

    Every `every` steps (and on the last call) writes TensorBoard scalars
    and one console line with steps/s and examples/s, each averaged over the
    steps since the previous line.

    Args:
        every: steps between lines.
        model: the `gan.DVDGAN` (log names, optimizers).
        train_steps: the run's total, for the progress line.
        examples_per_step: real + generated clips per step (throughput).

    Keras counterpart: ``keras.callbacks.TensorBoard`` (scalars) and
    ``ProgbarLogger`` (the console line).
    """

    def __init__(self, every, model, train_steps, examples_per_step):
        self.every = every
        self._model = model
        self._train_steps = train_steps
        self._examples_per_step = examples_per_step
        self.last_means: dict = {}
        self._reset()

    def _reset(self):
        self._totals = {name: 0.0 for name in self._model.log_names}
        self._steps = 0
        self._seconds = 0.0

    def __call__(self, output: LoopOutput) -> None:
        for name, value in output.totals.items():
            self._totals[name] += value
        self._steps += output.num_steps
        self._seconds += output.seconds
        if not (_due(self.every, output) or output.final) or not self._steps:
            return
        self.last_means = {
            name: total / self._steps for name, total in self._totals.items()
        }
        steps_per_second = self._steps / max(self._seconds, 1e-9)
        examples_per_second = steps_per_second * self._examples_per_step
        scalars = dict(self.last_means)
        scalars["perf/steps_per_second"] = steps_per_second
        scalars["perf/examples_per_second"] = examples_per_second
        scalars["optimizer/generator_learning_rate"] = _learning_rate(
            self._model.generator_optimizer
        )
        scalars["optimizer/discriminator_learning_rate"] = _learning_rate(
            self._model.discriminator_optimizer
        )
        summaries.write_scalars(scalars, output.step)
        logging.info(
            summaries.format_progress(
                output.step,
                self._train_steps,
                self.last_means,
                steps_per_second,
                examples_per_second,
            )
        )
        self._reset()


class SampleWriter:
    """The EMA generator's fixed sample grid as a GIF summary (chief only).

    Args:
        every: steps between GIFs (and on the last call).
        generator: the EMA generator.
        grid: a `summaries.SampleGrid` (fixed latents and labels).
        fps: GIF playback rate.
        chief: only the chief writes summaries.

    No Keras callback counterpart (a GIF of the EMA generator).
    """

    def __init__(self, every, generator, grid, fps, chief):
        self.every = every
        self._generator = generator
        self._grid = grid
        self._fps = fps
        self._chief = chief

    def __call__(self, output: LoopOutput) -> None:
        if self._chief and (_due(self.every, output) or output.final):
            self._grid.write(self._generator, output.step, fps=self._fps)


class CheckpointSaver:
    """Regular checkpoints, and the one preemption save.

    Saves every `every` steps and when `train_steps` is reached. A stop
    request does not save here: the controller calls `save_if_unsaved`
    once the loop has ended, so that save happens in exactly one place.

    Args:
        every: steps between checkpoints.
        manager: the `tf.train.CheckpointManager`.
        saved_step: the step of the checkpoint already on disk (the restored
            one; None for a new run), so an immediate stop does not save it
            again.

    Keras counterpart: ``keras.callbacks.ModelCheckpoint``; with the
    restore at start (`training.trainer`), ``BackupAndRestore``.
    """

    def __init__(self, every, manager, saved_step: int | None):
        self.every = every
        self._manager = manager
        self.saved_step = saved_step

    def save(self, step: int) -> str:
        """Saves `step` (retrying a flaky filesystem; a failed save leaves
        no partial checkpoint: `checkpointing.save_with_retries`)."""
        path = checkpointing.save_with_retries(self._manager, step)
        self.saved_step = step
        return path

    def __call__(self, output: LoopOutput) -> None:
        if _due(self.every, output) or output.finished:
            logging.info("Saved checkpoint %s.", self.save(output.step))

    def save_if_unsaved(self, step: int) -> str | None:
        """Saves `step` unless it is already on disk; returns the path."""
        if self.saved_step == step:
            return None
        return self.save(step)
