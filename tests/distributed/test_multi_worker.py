"""MultiWorkerMirroredStrategy: two local worker processes train in lockstep."""

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest

from dvdgan_tf.store import checkpointing
from tests.distributed import ports

REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
TIMEOUT_S = 300
STEPS = 2


@pytest.mark.distributed
@pytest.mark.parametrize("prediction", [False, True], ids=["synthesis", "fp"])
def test_two_workers_train_to_identical_weights(tmp_path, prediction):
    workers = [f"127.0.0.1:{port}" for port in ports.free_ports(2)]
    model_dir = str(tmp_path / "run")
    processes = []
    for index in range(2):
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
        env["PYTHONPATH"] = REPO + os.pathsep + env.get("PYTHONPATH", "")
        env["TF_CONFIG"] = json.dumps(
            {
                "cluster": {"worker": workers},
                "task": {"type": "worker", "index": index},
            }
        )
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.distributed.mwms_worker",
                    f"--model_dir={model_dir}",
                    f"--steps={STEPS}",
                    f"--output={tmp_path / f'worker_{index}.npz'}",
                    f"--prediction={prediction}",
                ],
                cwd=REPO,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
        )
    outputs, deadline = [], time.monotonic() + TIMEOUT_S
    try:
        for process in processes:
            remaining = max(1.0, deadline - time.monotonic())
            outputs.append(process.communicate(timeout=remaining)[0])
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, output in zip(processes, outputs):
        assert process.returncode == 0, output[-3000:]

    chief = np.load(tmp_path / "worker_0.npz")
    other = np.load(tmp_path / "worker_1.npz")
    assert int(chief["step"]) == STEPS and int(chief["replicas"]) == 2
    assert set(chief.files) == set(other.files)
    for key in chief.files:
        np.testing.assert_array_equal(chief[key], other[key], err_msg=key)
    # Only the chief's checkpoint stays; the other worker's copy is removed.
    assert checkpointing.list_checkpoint_steps(model_dir) == [STEPS]
    assert not os.path.exists(os.path.join(model_dir, "workers"))
