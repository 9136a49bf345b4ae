"""Coordinated preemption of a multi-worker run: every worker stops at the
same step, the chief saves the run's checkpoint of that step.

A single process handles SIGTERM and Ctrl-C itself (`util.preemption.
StopRequest`: finish the host call, save, exit 0). With several workers
(MultiWorkerMirroredStrategy) that is not enough: a worker that stops alone
leaves the others blocked in the next collective, and they die without a
checkpoint. TensorFlow's `tf.distribute.experimental.
PreemptionCheckpointHandler` solves exactly this through the coordination
service: a stop signal on any worker (SIGTERM; on GCE/Cloud TPU also the
platform's maintenance notice, which the handler polls itself) is published
to all workers, they agree on the host call after which to stop, each saves
(the chief into the run's model_dir, the others into their scratch
directories, as every MWMS save must be made by all workers), and then the
handler calls its exit function.

`PreemptionCoordinator` wraps the handler as a loop action (`loop_actions`):
called after every host call on every worker, it asks the handler whether
to save now; when the agreed call is reached the handler saves step N with
the run's `CheckpointManager` and the exit function raises `CoordinatedStop`
(N), which `training.trainer` turns into a normal return with
``preempted=True``; the CLI then exits with `PREEMPTED_EXIT` (42, the code
of TF's handler outside Google Cloud, so that a cluster manager restarts
the job; a single process keeps exit 0). A first Ctrl-C on one worker is
forwarded to the handler as a SIGTERM (`StopRequest(coordinated=True)`), so
it stops all workers the same way.

A worker that dies without a signal (kill -9, a lost VM) cannot be saved
for; the survivors' next collective fails once the coordination service
misses its heartbeats, and `training.trainer` reports that in one line
(`WorkerLostError`), pointing at the last checkpoint the same command
resumes from.
"""

from __future__ import annotations

import tensorflow as tf

from dvdgan_tf.training import loop_actions

# Exit status of a worker of a coordinated multi-worker preemption (TF's
# PreemptionCheckpointHandler default outside Google Cloud).
PREEMPTED_EXIT = 42


class CoordinatedStop(Exception):
    """Every worker has saved step `step` and must stop (not an error)."""

    def __init__(self, step: int):
        super().__init__(f"coordinated preemption at step {step}")
        self.step = step


class WorkerLostError(RuntimeError):
    """Another worker stopped answering (killed, crashed, lost its VM)."""


def num_workers(strategy: tf.distribute.Strategy) -> int:
    """Worker (and chief) tasks of a MultiWorkerMirroredStrategy; else 1."""
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return 1
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    cluster = resolver.cluster_spec().as_dict()
    return len(cluster.get("worker", [])) + len(cluster.get("chief", []))


class PreemptionCoordinator:
    """Loop action around TF's PreemptionCheckpointHandler (one per worker).

    Must be the last action (after the regular checkpoint), created after
    the checkpoint was restored: the handler adds its own counter to the
    checkpoint object and restores the manager's latest checkpoint again.

    Args:
        strategy: a multi-worker `MultiWorkerMirroredStrategy`.
        manager: this worker's `tf.train.CheckpointManager` (the chief's
            writes into the model_dir, the others' into scratch dirs).
        saver: the run's `loop_actions.CheckpointSaver`, told about the
            handler's save so it is not repeated.

    Keras counterpart: ``keras.callbacks.BackupAndRestore`` (which, under
    MultiWorkerMirroredStrategy, uses the same handler).
    """

    every = None

    def __init__(self, strategy, manager, saver):
        self._saver = saver
        self._step = None
        self._handler = tf.distribute.experimental.PreemptionCheckpointHandler(
            strategy.cluster_resolver,
            manager,
            termination_config=tf.distribute.experimental.TerminationConfig(
                exit_fn=self._exit
            ),
        )

    def _exit(self):
        self._saver.saved_step = self._step
        raise CoordinatedStop(self._step)

    def __call__(self, output: loop_actions.LoopOutput) -> None:
        self._step = output.step
        self._handler.save_checkpoint_if_preempted(
            checkpoint_number=output.step
        )
