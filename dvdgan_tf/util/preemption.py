"""SIGTERM and Ctrl-C as a flag that long loops poll (`StopRequest`).

Preemption (a TPU/GPU scheduler's SIGTERM) and a user's first Ctrl-C both
mean "stop at the next safe point and save": the training loop finishes its
current host call and saves a checkpoint, the converter finishes its shard,
the evaluation job its checkpoint. A second Ctrl-C aborts at once.
"""

from __future__ import annotations

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
    """

    def __init__(self, what: str = "stopping at the next safe point"):
        self.triggered = False
        self.signal_name = None
        self._what = what
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for signum in (signal.SIGTERM, signal.SIGINT):
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def _handle(self, signum, frame):
        if signum == signal.SIGINT and self.triggered:
            raise KeyboardInterrupt  # Second Ctrl-C: abort now.
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
