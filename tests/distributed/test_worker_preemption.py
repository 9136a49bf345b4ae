"""Faults of a two-worker run (`python -m dvdgan_tf.train --strategy=
multi_worker`, two local processes): a stop on any one worker stops both
at the same step, the chief saves that step, both exit with
`PREEMPTED_EXIT`, and the same command resumes from it; a killed worker
ends the survivor with one clear error in bounded time.

Each case trains the tiny config (`gin/test_tiny.gin`) with one step per
host call and no periodic checkpoint before the stop, so the only
checkpoint a case can find is the one the stop wrote.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from dvdgan_tf.store import checkpointing
from dvdgan_tf.training import worker_preemption
from tests.data import fixtures
from tests.distributed import ports

REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
TIMEOUT_S = 240
PREEMPTED = worker_preemption.PREEMPTED_EXIT


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("synthetic"))
    return fixtures.convert_tiny_synthetic(path, num_clips=16)


class _Cluster:
    """Two `dvdgan_tf.train` workers on localhost, their output collected."""

    def __init__(
        self,
        model_dir,
        data_dir,
        train_steps,
        checkpoint_every=1000,
        heartbeat_s=None,
    ):
        workers = [f"127.0.0.1:{port}" for port in ports.free_ports(2)]
        self.logs = [[], []]
        self.processes = []
        for index in range(2):
            env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=REPO)
            env["TF_CONFIG"] = json.dumps(
                {
                    "cluster": {"worker": workers},
                    "task": {"type": "worker", "index": index},
                }
            )
            command = [
                sys.executable,
                "-m",
                "dvdgan_tf.train",
                "--gin_file=gin/test_tiny.gin",
                "--strategy=multi_worker",
                f"--model_dir={model_dir}",
                f"--gin_param=DATA_DIR='{data_dir}'",
                f"--gin_param=training.run.train_steps={train_steps}",
                f"--gin_param=training.run.checkpoint_every={checkpoint_every}",
                "--gin_param=training.run.sample_every=1000",
            ]
            if heartbeat_s is not None:
                command.append(f"--worker_heartbeat_s={heartbeat_s}")
            process = subprocess.Popen(
                command,
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            self.processes.append(process)
            threading.Thread(
                target=self._read, args=(index,), daemon=True
            ).start()

    def _read(self, index):
        for line in self.processes[index].stdout:
            self.logs[index].append(line.rstrip())

    def step(self, index) -> int:
        steps = [
            int(match.group(1))
            for line in list(self.logs[index])
            for match in [re.search(r"step (\d+)/\d+ ", line)]
            if match
        ]
        return max(steps, default=0)

    def wait_for_step(self, index, step):
        deadline = time.monotonic() + TIMEOUT_S
        while self.step(index) < step:
            assert time.monotonic() < deadline, self.text(index)
            assert all(p.poll() is None for p in self.processes), self.text()
            time.sleep(0.1)

    def signal(self, index, signum):
        self.processes[index].send_signal(signum)

    def wait(self, timeout=TIMEOUT_S):
        """Exit codes of both workers (killing them after `timeout`)."""
        deadline = time.monotonic() + timeout
        codes = []
        for process in self.processes:
            try:
                codes.append(
                    process.wait(max(1.0, deadline - time.monotonic()))
                )
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                codes.append("timeout")
        time.sleep(0.2)  # let the readers drain
        return codes

    def text(self, index=None):
        indices = [index] if index is not None else [0, 1]
        return "\n".join(
            f"--- worker {i}:\n" + "\n".join(self.logs[i][-40:])
            for i in indices
        )


def _stopped_step(cluster, index):
    for line in cluster.logs[index]:
        match = re.search(r"every worker stopped at step (\d+)", line)
        if match:
            return int(match.group(1))
    raise AssertionError(cluster.text(index))


def _stop_and_resume(tmp_path, data_dir, stop):
    """Starts two workers, applies `stop(cluster)` at step >= 3, checks the
    coordinated save, then resumes with the same command."""
    model_dir = str(tmp_path / "run")
    cluster = _Cluster(model_dir, data_dir, train_steps=10_000)
    try:
        cluster.wait_for_step(0, 3)
        cluster.wait_for_step(1, 3)
        stop(cluster)
        codes = cluster.wait()
    finally:
        for process in cluster.processes:
            if process.poll() is None:
                process.kill()
    assert codes == [PREEMPTED, PREEMPTED], cluster.text()
    stopped = _stopped_step(cluster, 0)
    assert _stopped_step(cluster, 1) == stopped
    assert stopped >= 3
    assert checkpointing.list_checkpoint_steps(model_dir) == [stopped]
    assert not os.path.exists(os.path.join(model_dir, "workers"))
    # The same command (more steps) resumes from the saved step on both.
    resumed = _Cluster(model_dir, data_dir, train_steps=stopped + 2)
    codes = resumed.wait()
    assert codes == [0, 0], resumed.text()
    for index in (0, 1):
        assert any(
            f"ckpt-{stopped} (step {stopped})" in line
            for line in resumed.logs[index]
        ), resumed.text(index)
    assert checkpointing.list_checkpoint_steps(model_dir)[-1] == stopped + 2
    return stopped


@pytest.mark.distributed
def test_sigterm_to_the_non_chief_saves_the_run_and_resumes(tmp_path, data_dir):
    _stop_and_resume(tmp_path, data_dir, lambda c: c.signal(1, signal.SIGTERM))


@pytest.mark.distributed
@pytest.mark.slow
def test_sigterm_to_the_chief_saves_the_run_and_resumes(tmp_path, data_dir):
    _stop_and_resume(tmp_path, data_dir, lambda c: c.signal(0, signal.SIGTERM))


@pytest.mark.distributed
@pytest.mark.slow
def test_sigterm_to_both_workers_saves_once(tmp_path, data_dir):
    def both(cluster):
        cluster.signal(0, signal.SIGTERM)
        cluster.signal(1, signal.SIGTERM)

    _stop_and_resume(tmp_path, data_dir, both)


@pytest.mark.distributed
@pytest.mark.slow
def test_first_ctrl_c_on_one_worker_stops_both(tmp_path, data_dir):
    _stop_and_resume(tmp_path, data_dir, lambda c: c.signal(1, signal.SIGINT))


@pytest.mark.distributed
def test_a_killed_worker_ends_the_survivor_with_one_clear_error(
    tmp_path, data_dir
):
    """kill -9 of one worker: the survivor exits 1 within bounded time with
    one line naming the last checkpoint, and the run resumes from it."""
    model_dir = str(tmp_path / "run")
    cluster = _Cluster(
        model_dir,
        data_dir,
        train_steps=10_000,
        checkpoint_every=2,
        heartbeat_s=30,
    )
    try:
        cluster.wait_for_step(0, 3)
        cluster.wait_for_step(1, 3)
        started = time.monotonic()
        cluster.signal(1, signal.SIGKILL)
        codes = cluster.wait(timeout=180)
        seconds = time.monotonic() - started
    finally:
        for process in cluster.processes:
            if process.poll() is None:
                process.kill()
    assert codes == [1, -signal.SIGKILL], cluster.text()
    errors = [line for line in cluster.logs[0] if line.startswith("error:")]
    assert len(errors) == 1, cluster.text(0)
    assert "Lost contact with another worker" in errors[0]
    last = checkpointing.list_checkpoint_steps(model_dir)[-1]
    assert last >= 2 and f"the last checkpoint is step {last}" in errors[0]
    print(f"the survivor stopped {seconds:.0f} s after the kill")
    assert seconds < 150
    for index in (0, 1):  # --worker_heartbeat_s reached the service config
        assert any(
            "a worker silent for 30 s is declared lost" in line
            for line in cluster.logs[index]
        ), cluster.text(index)
    resumed = _Cluster(model_dir, data_dir, train_steps=last + 1)
    assert resumed.wait() == [0, 0], resumed.text()
    for index in (0, 1):
        assert any(
            f"ckpt-{last} (step {last})" in line for line in resumed.logs[index]
        ), resumed.text(index)


@pytest.mark.distributed
@pytest.mark.slow
def test_a_second_ctrl_c_aborts_that_worker_and_the_other_ends_clearly(
    tmp_path, data_dir
):
    """The second SIGINT is sent once the first was handled (two pending
    SIGINTs would merge into one). It races the coordinated save the first
    one started: either it wins (that worker exits 130 at once and the
    chief ends with one clear line, or finishes the save), or the save was
    already done (both 42, the step saved)."""
    model_dir = str(tmp_path / "run")
    cluster = _Cluster(model_dir, data_dir, train_steps=10_000)
    try:
        cluster.wait_for_step(1, 3)
        cluster.signal(1, signal.SIGINT)
        deadline = time.monotonic() + 60
        while not any("SIGINT received" in line for line in cluster.logs[1]):
            assert time.monotonic() < deadline, cluster.text(1)
            time.sleep(0.01)
        cluster.signal(1, signal.SIGINT)
        codes = cluster.wait(timeout=180)
    finally:
        for process in cluster.processes:
            if process.poll() is None:
                process.kill()
    assert codes[1] in (130, PREEMPTED), cluster.text(1)
    if codes[1] == PREEMPTED:  # the save finished first
        assert codes[0] == PREEMPTED, cluster.text(0)
        assert checkpointing.list_checkpoint_steps(model_dir), cluster.text()
        return
    assert any("error: interrupted" in line for line in cluster.logs[1])
    assert codes[0] in (PREEMPTED, 1), cluster.text(0)
    errors = [line for line in cluster.logs[0] if line.startswith("error:")]
    assert len(errors) == (1 if codes[0] == 1 else 0), cluster.text(0)
