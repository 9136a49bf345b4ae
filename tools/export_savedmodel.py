"""`dvdgan-export` from a checkout: see dvdgan_tf/export.py.

    python tools/export_savedmodel.py --model_dir=runs/demo \\
        --export_dir=export/demo
"""

import os
import sys

# Runnable from a checkout without installing the package.
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from dvdgan_tf import export  # noqa: E402

if __name__ == "__main__":
    export.console_main()
