"""SIGTERM and Ctrl-C as a flag that long loops poll (`StopRequest`).

Preemption (a TPU/GPU scheduler's SIGTERM) and a user's first Ctrl-C both
mean "stop at the next safe point and save": the training loop finishes its
current host call and saves a checkpoint, the converter finishes its shard,
the evaluation job its checkpoint. A second Ctrl-C aborts at once.
"""

from __future__ import annotations

import os
import signal
import threading

from absl import logging


class StopRequest:
    """SIGTERM or a first Ctrl-C become a flag; a second Ctrl-C aborts.

    Use as a context manager around a loop that polls ``triggered`` at safe
    points (the training loop saves a checkpoint, the converter finishes its
    shard, the evaluation job its checkpoint). Handlers are installed only
    in the main thread and restored on exit.

    Args:
        what: what the loop does when stopped, for the log line (e.g.
            "saving a checkpoint and exiting").
        coordinated: the process is one worker of several whose SIGTERM
            belongs to TF's preemption handler (`training.preemption`), which
            makes every worker stop at the same step. SIGTERM is then left
            alone, and a first Ctrl-C is forwarded to it as a SIGTERM to this
            process (so it is coordinated too) instead of setting the flag.
    """

    def __init__(
        self,
        what: str = "stopping at the next safe point",
        coordinated: bool = False,
    ):
        self.triggered = False
        self.signal_name = None
        self._what = what
        self._coordinated = coordinated
        self._interrupted = False
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            signals = (signal.SIGINT,)
            if not self._coordinated:
                signals = (signal.SIGTERM, signal.SIGINT)
            for signum in signals:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and (self.triggered or self._interrupted):
            raise KeyboardInterrupt  # Second Ctrl-C: abort now.
        if self._coordinated:
            self._interrupted = True
            logging.warning(
                "SIGINT received: asking every worker to %s (Ctrl-C again to "
                "abort now).",
                self._what,
            )
            os.kill(os.getpid(), signal.SIGTERM)
            return
        self.triggered = True
        self.signal_name = signal.Signals(signum).name
        hint = " (Ctrl-C again to abort now)" if signum == signal.SIGINT else ""
        logging.warning(
            "%s received: %s%s.", self.signal_name, self._what, hint
        )

    def __exit__(self, *exc_info):
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}
        return False
