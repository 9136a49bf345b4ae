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
no downloads.
"""

__version__ = "0.1.0"
