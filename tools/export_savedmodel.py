"""Exports the EMA generator of a training directory as a SavedModel.

    python tools/export_savedmodel.py --model_dir=runs/demo \\
        --export_dir=export/demo [--step=N] [--version=V]

Writes EXPORT_DIR/<version>/ (TF Serving layout; version = the step unless
taken) with signatures `serving_default` (z, label -> video), `sample`
(seed, label, truncation -> video) and `metadata`; see dvdgan_tf/export.py.
Inspect with `saved_model_cli show --all --dir EXPORT_DIR/<version>`.
"""

import os
import sys

from absl import app
from absl import flags
from absl import logging

flags.DEFINE_string("model_dir", None, "Training directory.", required=True)
flags.DEFINE_string("export_dir", None, "TF Serving base path.", required=True)
flags.DEFINE_integer("step", None, "Checkpoint step; default: the latest.")
flags.DEFINE_integer("version", None, "Version dir; default: the step.")


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    # Runnable from a checkout without installing the package.
    repo_root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    sys.path.insert(0, repo_root)
    from dvdgan_tf import export

    f = flags.FLAGS
    try:
        path = export.export(f.model_dir, f.export_dir, f.step, f.version)
    except ValueError as e:  # CheckpointError is a ValueError too.
        sys.exit(f"error: {e}")
    logging.info("SavedModel written to %s", path)


if __name__ == "__main__":
    app.run(main)
