"""dvdgan_tf: DVD-GAN (Clark, Donahue, Simonyan 2019) in Keras 3 / TensorFlow.

Reference: "Adversarial Video Generation on Complex Datasets", arXiv 1907.06571
(v2). The model specification the code follows, with provenance for every
choice the paper leaves open, is docs/DESIGN.md; deviations are listed in
each module's docstring.

Axis glossary, used in every docstring of the package:

  | Letter | Meaning                                           |
  | ------ | ------------------------------------------------- |
  | B      | per-replica batch                                 |
  | T      | frames                                            |
  | K      | frames sampled for the spatial discriminator D_S  |
  | H, W   | height and width                                  |
  | C      | channels                                          |
  | Z      | latent size (120 in the paper)                    |
  | N      | number of classes (0 = unconditional)             |

Videos are channels-last, float32 [B, T, H, W, C] with values in [-1, 1]
unless a docstring says otherwise (uint8 [0, 255] at the I/O boundary).

Importing the package has no side effects: no TF device setup, no gin parsing,
no downloads (it only checks that a TensorFlow build is installed).
"""

import importlib.util

__version__ = "0.1.0"

if importlib.util.find_spec("tensorflow") is None:
    # TensorFlow comes from an extra (setup.cfg): its CPU, CUDA and TPU
    # builds are different distributions.
    raise ImportError(
        "dvdgan_tf needs TensorFlow 2.21 and none is installed. Install the "
        "build for your machine: pip install 'dvdgan_tf[cpu]' (CPU), "
        "'dvdgan_tf[gpu]' (NVIDIA GPUs, the CUDA build) or 'dvdgan_tf[tpu]' "
        "(TPU VMs); from a checkout: make venv TF=cpu|gpu (docs/INSTALL.md)."
    )
