"""What every command line of the project shares: errors, Ctrl-C, outputs.

One error contract for `train`, `evaluate`, `sample`,
`tools/export_savedmodel.py`, `tools/make_tfrecords.py` and
`tools/train_judge.py`:

* a failure prints **one line**, ``error: <what, where, what to do>``, on
  stderr and no traceback;
* exit status **2** for usage errors (`UsageError`: a bad flag value, an
  unusable output path), **1** for runtime failures (missing or damaged
  data and checkpoints, NaN losses, ...), **130** after a second Ctrl-C;
* ``DVDGAN_TF_TRACEBACK=1`` in the environment (or absl's ``--verbosity=1``)
  also prints the traceback.

`run_main(main)` wraps an absl ``main(argv)`` with that contract, for
`absl.app.run(run_main(main))`. `check_output_dir` validates an output
directory before any work. `StopRequest` turns SIGTERM and the first Ctrl-C
(SIGINT) into a flag that long-running loops poll, so they stop at a safe
point and save; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import functools
import os
import re
import signal
import sys
import threading
import traceback
from typing import Callable

from absl import app
from absl import logging

TRACEBACK_ENV = "DVDGAN_TF_TRACEBACK"
USAGE_EXIT = 2
RUNTIME_EXIT = 1
INTERRUPTED_EXIT = 130


class UsageError(ValueError):
    """The command line is wrong (exit status 2)."""


def _show_traceback() -> bool:
    return os.environ.get(TRACEBACK_ENV, "") not in ("", "0") or (
        logging.level_debug()
    )


def describe(error: BaseException) -> str:
    """One line for an exception: its message, or its type and message.

    ValueError / FileNotFoundError messages are ours and stand alone; other
    types are prefixed with their name. For TensorFlow errors only the line
    that says what failed is kept (`_tf_error_line`); gin's "In call to
    configurable" suffix is dropped.
    """
    text = getattr(error, "message", None) or str(error)
    message = text.split("\n  In call to configurable")[0].strip()
    # TF op errors start with "{{function_node ...}}".
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)
    if not message:
        message = type(error).__name__
    if type(error).__module__.startswith("tensorflow"):
        message = _tf_error_line(message)
    if not isinstance(error, (ValueError, FileNotFoundError)):
        message = f"{type(error).__name__}: {message}"
    return " ".join(message.split())


def _tf_error_line(message: str) -> str:
    """The line of a TF error that says what failed.

    Graph-mode errors read "Graph execution error: / Detected at node ... /
    <stack> / <the op's message> / [[{{node ...}}]]"; an assertion's own
    message sits after "assertion failed:".
    """
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if "assertion failed:" in message:
        text = message.split("assertion failed:", 1)[1]
        return text.split("\n")[0].strip()
    useful = [
        line
        for line in lines
        if not line.startswith(("Graph execution error", "Detected at node"))
        and not line.startswith(("<stack", "[[", "File "))
    ]
    return useful[0] if useful else (lines[0] if lines else "")


def fail(error: BaseException, status: int) -> None:
    """Prints ``error: ...`` (and the traceback if asked); exits."""
    hint = ""
    if _show_traceback():
        traceback.print_exception(error, file=sys.stderr)
    elif status == RUNTIME_EXIT:  # Usage errors need no traceback.
        hint = f" (set {TRACEBACK_ENV}=1 for the traceback)"
    print(f"error: {describe(error)}{hint}", file=sys.stderr, flush=True)
    sys.exit(status)


def run_main(main: Callable) -> Callable:
    """Wraps an absl ``main(argv)`` with the error contract above."""

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except (app.UsageError, SystemExit):
            raise
        except UsageError as error:
            fail(error, USAGE_EXIT)
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr, flush=True)
            sys.exit(INTERRUPTED_EXIT)
        except Exception as error:  # noqa: BLE001 - the one CLI boundary.
            fail(error, RUNTIME_EXIT)

    return wrapped


def check_output_dir(path: str | None, flag: str, create: bool = True) -> str:
    """An output directory that exists or can be created, and is writable.

    Args:
        path: the directory (local or a `tf.io.gfile` URL such as gs://).
        flag: the flag that gave it, for the message.
        create: create it now; False only checks (for a directory the job
            creates later, after its own checks, e.g. training's model_dir).

    Raises:
        UsageError: no path, a path that is a file, or one that cannot be
            created or written (the message names the flag).
    """
    import tensorflow as tf  # Local: keep `import cli` cheap for the tools.

    if not path:
        raise UsageError(f"{flag} is required.")
    if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
        raise UsageError(
            f"{flag}={path} is a file, not a directory; pass a directory "
            "(it is created if missing)."
        )
    if "://" in path:
        if create:
            tf.io.gfile.makedirs(path)
        return path
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(
            f"{flag}={path} cannot be created: {existing} is a file."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"{flag}={path} is not writable by this user ({existing} is "
            "not); choose another directory or fix its permissions."
        )
    if create:
        os.makedirs(path, exist_ok=True)
    return path


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
