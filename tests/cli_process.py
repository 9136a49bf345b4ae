"""Running a CLI in a subprocess and signalling it at a log line (tests)."""

from __future__ import annotations

import os
import subprocess
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TIMEOUT_S = 180


def env() -> dict:
    """The test environment with the checkout first on PYTHONPATH."""
    variables = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONUNBUFFERED="1")
    variables["PYTHONPATH"] = (
        REPO + os.pathsep + variables.get("PYTHONPATH", "")
    )
    variables.pop("DVDGAN_TF_TRACEBACK", None)
    return variables


def signal_at(command, marker: str, signum, timeout: float = TIMEOUT_S):
    """Starts `command`, sends `signum` once a line contains `marker`.

    Bounded: gives up reading after `timeout` seconds and kills the process
    if it has not exited `timeout` seconds after the signal.

    Returns:
        (exit status, everything the process printed).
    """
    process = subprocess.Popen(
        command,
        cwd=REPO,
        env=env(),
        stderr=subprocess.STDOUT,
        stdout=subprocess.PIPE,
        text=True,
    )
    lines, deadline = [], time.monotonic() + timeout
    try:
        for line in process.stdout:
            lines.append(line)
            if marker in line:
                process.send_signal(signum)
                break
            if time.monotonic() > deadline:
                break
        rest, _ = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, "".join(lines) + (rest or "")
