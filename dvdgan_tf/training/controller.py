"""The host loop: runs the device loop between the steps actions are due.

orbit's Controller shape: a compiled ``train_fn(iterator, num_steps)`` runs
up to `steps_per_loop` steps per host call (`training.make_train_loop`);
between calls the `loop_actions` run. Each call stops at the next step where
any periodic action is due, so a summary, sample or checkpoint always sees
exactly its step.

SIGTERM (preemption) and a first Ctrl-C are turned into a flag
(`preemption.StopRequest`): the current call finishes, the actions see
``stopping=True`` (last interval logged, last samples written), the loop
ends, and the caller saves the preemption checkpoint. A second Ctrl-C aborts
at once.
"""

from __future__ import annotations

import time
from typing import Callable
from typing import Sequence

import tensorflow as tf

from dvdgan_tf.training import loop_actions
from dvdgan_tf.util import preemption


def next_boundary(step: int, every: int) -> int:
    """The first multiple of `every` after `step`."""
    return (step // every + 1) * every


class Controller:
    """Runs `train_fn` to `train_steps`, calling `actions` between calls.

    Args:
        train_fn: ``(iterator, num_steps: int32 scalar) -> (totals, count,
            last)`` (see `training.make_train_loop`); it may stop early
            after a non-finite step.
        iterator: the distributed dataset iterator.
        train_steps: total steps.
        steps_per_loop: at most this many steps per host call.
        actions: `loop_actions` objects, called in order after every call.
    """

    def __init__(
        self,
        train_fn: Callable,
        iterator,
        train_steps: int,
        steps_per_loop: int,
        actions: Sequence[loop_actions.Action],
    ):
        self._train_fn = train_fn
        self._iterator = iterator
        self.train_steps = int(train_steps)
        self.steps_per_loop = int(steps_per_loop)
        self.actions = list(actions)

    def _stop_step(self, step: int) -> int:
        stops = [self.train_steps, step + self.steps_per_loop]
        stops += [
            next_boundary(step, action.every)
            for action in self.actions
            if action.every
        ]
        return min(stops)

    def train(self, step: int, stop: preemption.StopRequest) -> int:
        """Trains from `step` until `train_steps` or a stop request.

        Returns:
            The step reached.
        """
        while step < self.train_steps and not stop.triggered:
            num_steps = self._stop_step(step) - step
            started = time.perf_counter()
            totals, count, last = self._train_fn(
                self._iterator, tf.constant(num_steps, tf.int32)
            )
            count = int(count)
            seconds = time.perf_counter() - started
            step += count
            output = loop_actions.LoopOutput(
                step=step,
                num_steps=count,
                seconds=seconds,
                totals={name: float(value) for name, value in totals.items()},
                last={name: float(value) for name, value in last.items()},
                finished=step >= self.train_steps,
                stopping=stop.triggered,
            )
            for action in self.actions:
                action(output)
            tf.summary.flush()
        return step
