"""tools/run_seeds.py: one config, several seeds, both seeds varied."""

import glob
import os
import subprocess
import sys

from dvdgan_tf.data import convert

_REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
_TOOL = os.path.join(_REPO, "tools", "run_seeds.py")


def test_each_seed_trains_its_own_run_with_model_and_data_seed(tmp_path):
    data_dir = str(tmp_path / "data")
    convert.convert_synthetic(
        data_dir, num_clips=12, num_test_clips=0, num_frames=6, size=16
    )
    output = tmp_path / "seeds"
    command = [
        sys.executable,
        _TOOL,
        f"--gin_file={os.path.join(_REPO, 'gin', 'test_tiny.gin')}",
        f"--gin_param=DATA_DIR = '{data_dir}'",
        "--gin_param=training.run.train_steps = 1",
        "--gin_param=training.run.sample_every = 1000",
        "--seeds=3,4",
        f"--output_dir={output}",
        "--judge_dir=",
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    for seed in (3, 4):
        run = output / f"seed{seed}"
        assert glob.glob(str(run / "checkpoints" / "ckpt-1.index"))
        # The values that arrived in the run, read from gin's record.
        config = (run / "operative_config.gin").read_text()
        assert f"build_dvdgan.seed = {seed}" in config
        assert f"make_dataset.seed = {seed}" in config
        assert "seed" in (run / "log.txt").read_text()
    assert "seed 4: training: done" in done.stdout


def test_a_missing_output_dir_is_a_one_line_usage_error():
    done = subprocess.run(
        [sys.executable, _TOOL, "--gin_file=gin/demo_cpu.gin"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines()[-1] == (
        "error: --output_dir is required."
    )
