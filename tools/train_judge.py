"""Trains the synthetic-data judge and saves it (dvdgan_tf.metrics.judge).

    python tools/train_judge.py --judge_dir=runs/judge

Frames and size default to the demo's (`NUM_FRAMES` and `RESOLUTION` of
--gin_file, gin/demo_cpu.gin); the judge only scores clips of exactly that
shape. Prints held-out accuracy (should be near 1), accuracy on time-reversed
clips against the original label (near 0) and against the twin label (near
1), and the motion accuracy of static clips (near chance, 1/4).
"""

import json
import os
import sys
import time

from absl import app
from absl import flags
from absl import logging

from dvdgan_tf import cli

_GIN_FILE = flags.DEFINE_string(
    "gin_file",
    os.path.join("gin", "demo_cpu.gin"),
    "Experiment whose NUM_FRAMES / RESOLUTION macros set the defaults of "
    "--num_frames / --size.",
)
_JUDGE_DIR = flags.DEFINE_string(
    "judge_dir", os.path.join("runs", "judge"), "Where to save the judge."
)
_NUM_FRAMES = flags.DEFINE_integer(
    "num_frames", None, "Clip length T; default: NUM_FRAMES of --gin_file."
)
_SIZE = flags.DEFINE_integer(
    "size", None, "Frame size H = W; default: RESOLUTION of --gin_file."
)
_NUM_TRAIN_CLIPS = flags.DEFINE_integer(
    "num_train_clips", 2400, "Training clips."
)
_NUM_TEST_CLIPS = flags.DEFINE_integer(
    "num_test_clips", 600, "Held-out clips for the controls."
)
_EPOCHS = flags.DEFINE_integer("epochs", 6, "Passes over the training clips.")
_WIDTH = flags.DEFINE_integer("width", 16, "Channels of the first conv.")
_SEED = flags.DEFINE_integer("seed", 0, "Seed of clips and initialisation.")


def _demo_shape(gin_file):
    """(NUM_FRAMES, RESOLUTION) macros of a gin experiment file.

    Raises:
        cli.UsageError: the file does not parse or a macro is not an
            integer.
    """
    import gin

    # skip_unknown: only the macros are needed, not the configurables.
    gin.add_config_file_search_path(os.path.dirname(os.path.abspath(gin_file)))
    cli.parse_gin([gin_file], skip_unknown=True)
    try:
        values = []
        for name in ("NUM_FRAMES", "RESOLUTION"):
            value = gin.query_parameter(f"%{name}")
            if isinstance(value, bool) or not isinstance(value, int):
                raise cli.UsageError(
                    f"{gin_file}: {name} = {value!r} is not an integer; fix "
                    f"the macro, or pass --num_frames and --size."
                )
            values.append(value)
        return tuple(values)
    finally:
        gin.clear_config()


def _find_gin_file(path: str) -> str | None:
    """`path`, or the same relative path under the repository (so the
    default works from any directory); None if neither exists."""
    if os.path.exists(path):
        return path
    in_repo = os.path.join(os.path.dirname(os.path.dirname(__file__)), path)
    return (
        in_repo if not os.path.isabs(path) and os.path.exists(in_repo) else None
    )


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    from dvdgan_tf.metrics import judge as judge_lib

    cli.check_output_dir(_JUDGE_DIR.value, "--judge_dir")
    num_frames, size = _NUM_FRAMES.value, _SIZE.value
    if num_frames is None or size is None:
        gin_file = _find_gin_file(_GIN_FILE.value)
        if gin_file is None:
            raise cli.UsageError(
                f"--gin_file={_GIN_FILE.value} does not exist; pass "
                "--num_frames and --size, or the experiment's gin file."
            )
        demo_frames, demo_size = _demo_shape(gin_file)
        num_frames = demo_frames if num_frames is None else num_frames
        size = demo_size if size is None else size
    settings = judge_lib.JudgeSettings(
        num_frames=num_frames,
        size=size,
        width=_WIDTH.value,
        num_train_clips=_NUM_TRAIN_CLIPS.value,
        num_test_clips=_NUM_TEST_CLIPS.value,
        epochs=_EPOCHS.value,
        seed=_SEED.value,
    )
    start = time.time()
    judge = judge_lib.train_judge(settings, verbose=2)
    judge.save(_JUDGE_DIR.value)
    controls = judge.controls
    logging.info("Saved the judge to %s", _JUDGE_DIR.value)
    sys.stdout.write(
        json.dumps(
            {
                "judge_dir": _JUDGE_DIR.value,
                "num_frames": num_frames,
                "size": size,
                "train_seconds": round(time.time() - start, 1),
                "held_out_accuracy": controls.accuracy,
                "reversed_accuracy_vs_label": controls.reversed_accuracy,
                "reversed_accuracy_vs_reversed_label": (
                    controls.reversed_twin_accuracy
                ),
                "static_motion_accuracy": controls.static_motion_accuracy,
                "num_test_clips": controls.num_clips,
            },
            indent=2,
        )
        + "\n"
    )


if __name__ == "__main__":
    cli.run(main)
