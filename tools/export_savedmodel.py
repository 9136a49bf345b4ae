"""Exports the EMA generator of a training directory as a SavedModel.

    python tools/export_savedmodel.py --model_dir=runs/demo \\
        --export_dir=export/demo [--step=N] [--version=V]

Writes EXPORT_DIR/<version>/ (TF Serving layout; version = the step unless
taken) with signatures `serving_default` (z, label -> video), `sample`
(seed, label, truncation -> video) and `metadata`; see
dvdgan_tf/inference/export.py.
Inspect with `saved_model_cli show --all --dir EXPORT_DIR/<version>`.
"""

import os
import sys

# Runnable from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app  # noqa: E402
from absl import flags  # noqa: E402
from absl import logging  # noqa: E402

from dvdgan_tf import cli  # noqa: E402
from dvdgan_tf.inference import export  # noqa: E402

flags.DEFINE_string("model_dir", None, "Training directory.", required=True)
flags.DEFINE_string("export_dir", None, "TF Serving base path.", required=True)
flags.DEFINE_integer("step", None, "Checkpoint step; default: the latest.")
flags.DEFINE_integer("version", None, "Version dir; default: the step.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    f = flags.FLAGS
    cli.check_output_dir(f.export_dir, "--export_dir")
    path = export.export(f.model_dir, f.export_dir, f.step, f.version)
    logging.info("SavedModel written to %s", path)


if __name__ == "__main__":
    cli.run(main)
