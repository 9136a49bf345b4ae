"""tools/plan.py: the planner's arithmetic, as the command prints it."""

import json
import os
import subprocess
import sys

import pytest

_REPO = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
_GIB = 2**30
_PARTS = (
    "networks",
    "ema_generator",
    "optimizers",
    "input_batch",
    "saved_activations",
    "gradients",
    "working_set",
)


def _plan(tmp_path, *args):
    out = tmp_path / "plan.json"
    completed = subprocess.run(
        [sys.executable, os.path.join(_REPO, "tools", "plan.py"), *args]
        + [f"--json={out}"],
        capture_output=True,
        text=True,
        cwd=_REPO,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-2000:]
    return json.loads(out.read_text()), completed.stdout


@pytest.fixture(scope="module")
def planned(tmp_path_factory):
    # A global batch no single device holds, on 4 devices: 16,384 clips
    # per replica fit an H100 but not a TPU v3 core.
    return _plan(
        tmp_path_factory.mktemp("plan"),
        "--gin_file=gin/test_tiny.gin",
        "--gin_param=training.run.global_batch_size = 65536",
        "--hardware=tpu-v3,h100-80g",
        "--replicas=4",
        "--utilisation=0.5",
    )


def test_memory_adds_up_and_grows_per_clip(planned):
    result, stdout = planned
    memory = result["memory"]
    assert memory["batch_size"] == 1
    assert memory["per_clip"] > 0
    assert memory["peak_phase"] == "generator step"
    assert all(memory[p] > 0 for p in _PARTS)
    assert memory["total"] == sum(memory[p] for p in _PARTS)
    assert "saved activations" in stdout and "(generator step)" in stdout


def test_largest_batch_and_fewest_devices_follow_from_the_memory(planned):
    result, _ = planned
    memory = result["memory"]
    total_at_one = sum(memory[p] for p in _PARTS)
    for plan, gib in zip(result["plans"], (16.0, 80.0)):
        capacity = gib * _GIB * 0.9
        assert plan["capacity_gib"] == pytest.approx(gib * 0.9)
        largest = int((capacity - total_at_one) // memory["per_clip"]) + 1
        assert abs(plan["largest_per_replica_batch"] - largest) <= 1
        # The fewest power-of-two devices whose share of 65,536 fits.
        fewest = plan["fewest_replicas"]
        assert 65536 // fewest <= plan["largest_per_replica_batch"]
        assert 65536 // (fewest // 2) > plan["largest_per_replica_batch"]
        assert plan["replicas"] == 4 and plan["per_replica_batch"] == 16384


def test_step_time_is_flops_over_the_assumed_utilised_peak(planned):
    result, _ = planned
    tpu, h100 = result["plans"]
    flops = result["flops_per_clip"]
    # float32 config: TPU v3 61.5 TFLOP/s per core, H100 494 (TF32), at 0.5.
    assert tpu["step_seconds"] == pytest.approx(
        flops * tpu["per_replica_batch"] / (61.5e12 * 0.5)
    )
    assert h100["step_seconds"] == pytest.approx(
        flops * h100["per_replica_batch"] / (494e12 * 0.5)
    )
    assert tpu["hours_to_train_steps"] == pytest.approx(
        tpu["step_seconds"] * 2 / 3600  # test_tiny trains 2 steps
    )


def test_a_batch_that_does_not_fit_says_so_and_what_would(planned):
    result, stdout = planned
    tpu, h100 = result["plans"]
    assert not tpu["fits"] and h100["fits"]
    assert tpu["largest_per_replica_batch"] < 16384
    assert "use more replicas" in tpu["advice"]
    assert "does NOT fit" in stdout


def test_unknown_hardware_is_a_usage_error(tmp_path):
    completed = subprocess.run(
        [
            sys.executable,
            os.path.join(_REPO, "tools", "plan.py"),
            "--gin_file=gin/test_tiny.gin",
            "--hardware=tpu-v9",
        ],
        capture_output=True,
        text=True,
        cwd=_REPO,
        timeout=300,
    )
    assert completed.returncode == 2
    assert "tpu-v9" in completed.stderr and "tpu-v3" in completed.stderr
