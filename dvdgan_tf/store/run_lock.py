"""One training process per model_dir: an OS file lock that a dead process
cannot hold.

Two `train` commands on one model_dir would each restore the other's
checkpoints, rotate them away under each other and interleave their
events. `hold(model_dir)` takes an exclusive, non-blocking ``flock`` on
``<model_dir>/train.lock`` for the duration of a run and writes who holds
it (pid, host, start time, command line) into the file; a second run is
refused with that text. The kernel drops the lock when its process exits
for any reason (kill -9 included), so a stale file never blocks a restart:
only a live holder does.

Scope: local and network filesystems with POSIX ``flock`` (NFS v4 maps it
to byte-range locks). Object stores (``gs://``, ``s3://``) have no locks;
there the lock is skipped with a warning (`LOCK_FILE` is not written), as
for any path `tf.io.gfile` handles but ``os`` does not. Only the chief
locks: the other workers of a multi-worker run write to their own scratch
directories.
"""

from __future__ import annotations

import contextlib
import datetime
import os
import socket
import sys

from absl import logging

try:
    import fcntl
except ImportError:  # Windows: no flock.
    fcntl = None

LOCK_FILE = "train.lock"


class ModelDirBusyError(ValueError):
    """Another live process is training in the same model_dir."""


def _holder_text() -> str:
    started = datetime.datetime.now(datetime.timezone.utc).isoformat(
        timespec="seconds"
    )
    command = " ".join(sys.argv) or "python"
    return (
        f"pid {os.getpid()} on host {socket.gethostname()}, started "
        f"{started}: {command}\n"
    )


@contextlib.contextmanager
def hold(model_dir: str, enabled: bool = True):
    """Holds the model_dir's training lock inside the block.

    Args:
        model_dir: the run's directory (created if missing).
        enabled: False (non-chief workers) does nothing.

    Raises:
        ModelDirBusyError: another live process holds the lock; the message
            names it.
    """
    if not enabled or "://" in model_dir or fcntl is None:
        if enabled:
            logging.warning(
                "No training lock on %s (no file locks there): make sure a "
                "single run writes to it.",
                model_dir,
            )
        yield
        return
    os.makedirs(model_dir, exist_ok=True)
    path = os.path.join(model_dir, LOCK_FILE)
    # Not O_TRUNC: the holder's text must survive until the lock is ours.
    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            with open(path) as f:
                holder = f.read().strip() or "another process"
            raise ModelDirBusyError(
                f"{model_dir} is being trained by {holder}. Stop that run "
                "first (it saves on SIGTERM), or train into another "
                "model_dir."
            ) from None
        os.ftruncate(descriptor, 0)
        os.write(descriptor, _holder_text().encode())
        os.fsync(descriptor)
        try:
            yield
        finally:
            os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
