"""Builds G, D_S and D_T from gin and prints their parameter counts.

    python tools/model_summary.py --gin_file=gin/k600_64.gin \
        [--gin_param="CHANNEL_MULTIPLIER = 48"]

Training bindings in the gin files are skipped (`skip_unknown=True`), so only
the model builders need to be importable. Building the 256x256 model takes
about a minute on a CPU (variables are created, nothing is run).
"""

import os
import sys

from absl import app
from absl import flags

# Lets the CLI run from a checkout without `pip install -e .`.
_REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_GIN_FILE = flags.DEFINE_multi_string(
    "gin_file", [], "Experiment gin file(s), e.g. gin/k600_64.gin."
)
_GIN_PARAM = flags.DEFINE_multi_string(
    "gin_param", [], "Extra gin bindings, e.g. 'NUM_FRAMES = 48'."
)


def _count(model):
    trainable = sum(int(w.numpy().size) for w in model.trainable_weights)
    total = sum(int(w.numpy().size) for w in model.weights)
    return trainable, total - trainable


def main(argv):
    del argv
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, _REPO_ROOT)

    from dvdgan_tf import cli
    from dvdgan_tf import configurables

    if not _GIN_FILE.value:
        raise app.UsageError("Pass at least one --gin_file.")
    configurables.add_gin_search_path(
        *[os.path.dirname(os.path.abspath(path)) for path in _GIN_FILE.value]
    )
    cli.parse_gin(_GIN_FILE.value, _GIN_PARAM.value, skip_unknown=True)
    generator = configurables.build_generator()
    spatial = configurables.build_spatial_discriminator()
    temporal = configurables.build_temporal_discriminator()
    print(f"config: {' '.join(_GIN_FILE.value)} {' '.join(_GIN_PARAM.value)}")
    print(
        f"generator: resolution {generator.resolution}, "
        f"{generator.num_frames} frames, preset {generator.width_preset}, "
        f"ch {generator.channel_multiplier}"
    )
    for index, ((state, out), shape) in enumerate(
        zip(generator.widths, generator.initial_state_shapes())
    ):
        print(
            f"  group {index + 1}: {shape[0]}x{shape[1]} ConvGRU {state} "
            f"-> blocks {state}, {out} -> {2 * shape[0]}x{2 * shape[1]}"
        )
    print(
        "  D_S blocks: "
        + ", ".join(f"{w}{'/2' if d else ''}" for w, d in spatial.layout)
    )
    print(
        "  D_T blocks: "
        + ", ".join(
            f"{w}{'/2' if d else ''}{' (3-D)' if i < 2 else ''}"
            for i, (w, d) in enumerate(temporal.layout)
        )
    )
    total = 0
    for name, model in (("G", generator), ("D_S", spatial), ("D_T", temporal)):
        trainable, non_trainable = _count(model)
        total += trainable
        print(
            f"{name:4s} trainable {trainable:>13,d}   "
            f"non-trainable {non_trainable:>9,d}"
        )
    print(f"all  trainable {total:>13,d}")


if __name__ == "__main__":
    sys.path.insert(0, _REPO_ROOT)
    from dvdgan_tf import cli

    cli.run(main)
