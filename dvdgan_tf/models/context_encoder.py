"""DVD-GAN-FP context encoder: real context frames -> ConvGRU initial states.

Implements the "conditioning stack" of DVD-GAN-FP (the frames it reads are
the *context*, the word the package uses for them) (arXiv 1907.06571v2,
frame-conditional figure; SPEC section 5; docs/DESIGN.md D4):

  frames [B, C, H, W, 3] in [-1, 1]
  -> fold the C frames into the batch                  [B * C, H, W, 3]
  -> D residual blocks laid out as D_S (`discriminators.block_layout`),
     each frame separately (shared weights)            [B * C, h, w, c_e]
  -> per G level g (state size h_g = 4 * 2^g): the last block output of
     that size, frames concatenated along channels     [B, h_g, h_g, C * c_e]
  -> SN 3x3 conv to the ConvGRU's width c_g -> ReLU    [B, h_g, h_g, c_g]
  = the initial state of G's ConvGRU at level g.

Choices (not facts from the paper):

  * Every level is initialised (`levels="all"`, the DGMR construction the v2
    one-GRU-per-resolution generator suggests); `levels="first"` initialises
    only the lowest (4x4) ConvGRU, as the v2 figure draws it, and leaves the
    others at zero.
  * The encoder's blocks are its own (not shared with D_S), initialised
    with their own seeds; D_S's first block sees the raw image, so does the
    encoder's (no pre-activation).
  * v1's text mixes with a 1x1 conv to 512 channels; we follow the v2 figure
    (kernel 3 + ReLU) at each level's state width.
"""

from __future__ import annotations

import keras
from keras import ops

from dvdgan_tf.models import discriminators
from dvdgan_tf.models import spectral_norm

LEVELS = ("all", "first")


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class ContextEncoder(keras.layers.Layer):
    """Maps C real frames to one ConvGRU initial state per generator level.

    Args:
        resolution: frame H = W (the generator's resolution).
        num_conditioning_frames: C >= 1.
        state_shapes: (h_g, w_g, c_g) of each generator level's ConvGRU state
            (`Generator.initial_state_shapes()`), lowest resolution first.
        channel_multiplier: ch, the width unit of the D_S block layout.
        levels: "all" (every level initialised) or "first" (only the lowest).
        seed: int seed of the initializers, or None.

    Call arguments:
        frames: float [B, C, H, W, 3] in [-1, 1].
        training: SN power-iteration updates if True.

    Output:
        A list with one entry per level: float [B, h_g, w_g, c_g] (after a
        ReLU), or None for a level left at the zero state (levels="first").
    """

    def __init__(
        self,
        resolution,
        num_conditioning_frames,
        state_shapes,
        channel_multiplier=96,
        levels="all",
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if (
            not isinstance(num_conditioning_frames, int)
            or num_conditioning_frames < 1
        ):
            raise ValueError(
                "ContextEncoder: expected num_conditioning_frames >= 1; "
                f"received: {num_conditioning_frames!r}"
            )
        if levels not in LEVELS:
            raise ValueError(
                f"ContextEncoder: expected levels in {LEVELS}; "
                f"received: {levels!r}"
            )
        self.resolution = int(resolution)
        self.num_conditioning_frames = num_conditioning_frames
        self.state_shapes = [tuple(int(d) for d in s) for s in state_shapes]
        self.channel_multiplier = channel_multiplier
        self.levels = levels
        self.seed = seed
        self.layout = tuple(
            discriminators.block_layout(self.resolution, channel_multiplier)
        )
        self.blocks = discriminators.frame_blocks(self.layout, seed)
        # Output size of every block, to pick each level's feature map: the
        # last block whose output has the level's size.
        size, self._block_sizes = self.resolution, []
        for _, down in self.layout:
            size = size // 2 if down else size
            self._block_sizes.append(size)
        self._level_blocks = []
        for level, (height, _, _) in enumerate(self.state_shapes):
            matches = [
                i for i, s in enumerate(self._block_sizes) if s == height
            ]
            if not matches:
                raise ValueError(
                    f"ContextEncoder: no encoder feature map of size "
                    f"{height} for generator level {level} (block output "
                    f"sizes {self._block_sizes})"
                )
            self._level_blocks.append(matches[-1])
        count = len(self.state_shapes) if levels == "all" else 1
        self.mixers = [
            spectral_norm.SNConv2D(
                self.state_shapes[level][2],
                3,
                seed=spectral_norm.derive_seed(seed, f"mixer_{level + 1}"),
                name=f"mixer_{level + 1}",
            )
            for level in range(count)
        ]

    def build(self, input_shape=None):
        """Creates every variable from the configuration (no data needed)."""
        shape = (None, self.resolution, self.resolution, 3)
        widths = []
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
            widths.append(shape[-1])
        for level, mixer in enumerate(self.mixers):
            height, width, _ = self.state_shapes[level]
            channels = widths[self._level_blocks[level]]
            mixer.build(
                (None, height, width, self.num_conditioning_frames * channels)
            )
        self.built = True

    def call(self, frames, training=False):
        expected = (self.num_conditioning_frames, self.resolution)
        if (
            len(frames.shape) != 5
            or tuple(frames.shape[1:3]) != expected
            or frames.shape[3] != self.resolution
            or frames.shape[4] != 3
        ):
            raise ValueError(
                "ContextEncoder: expected context frames "
                f"[B, C, H, W, 3] = [B, {expected[0]}, {self.resolution}, "
                f"{self.resolution}, 3]; received shape {tuple(frames.shape)}"
            )
        c = self.num_conditioning_frames
        x = ops.reshape(
            ops.cast(frames, self.compute_dtype),
            (-1,) + tuple(frames.shape[2:]),
        )
        features = []
        for block in self.blocks:
            x = block(x, training=training)
            features.append(x)
        states = []
        for level in range(len(self.state_shapes)):
            if level >= len(self.mixers):
                states.append(None)
                continue
            h = features[self._level_blocks[level]]
            # [B * C, h, w, c] -> [B, h, w, C * c]: frames along channels,
            # frame-major within each position.
            h = ops.reshape(h, (-1, c) + tuple(h.shape[1:]))
            h = ops.transpose(h, (0, 2, 3, 1, 4))
            h = ops.reshape(h, (-1,) + tuple(h.shape[1:3]) + (c * h.shape[-1],))
            states.append(ops.relu(self.mixers[level](h, training=training)))
        return states

    def get_config(self):
        config = super().get_config()
        config.update(
            resolution=self.resolution,
            num_conditioning_frames=self.num_conditioning_frames,
            state_shapes=[list(s) for s in self.state_shapes],
            channel_multiplier=self.channel_multiplier,
            levels=self.levels,
            seed=self.seed,
        )
        return config
