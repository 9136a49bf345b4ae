"""`dvdgan-convert` from a checkout: see dvdgan_tf/convert.py.

python tools/make_tfrecords.py synthetic --output_dir=data/synthetic
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Runnable from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dvdgan_tf import convert  # noqa: E402

if __name__ == "__main__":
    convert.console_main()
