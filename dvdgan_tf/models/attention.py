"""Self-attention for the v1 DVD-GAN generator (optional, off by default).

Implements the two attention uses of the v1 paper's generator
(arXiv 1907.06571v1; dropped in v2, SPEC 1.7):

  * a non-causal single-head self-attention over all T * H * W positions of
    the first ConvGRU's output (`SelfAttention(axes="all")`);
  * "separable attention" before the last residual block: three attention
    layers in sequence attending along height, width and time
    (`SelfAttention(axes="height")`, `"width"`, `"time"`), so memory grows
    with max(H^2 W T, H W^2 T, H W T^2) instead of (H W T)^2.

Each layer is the BigGAN / SAGAN non-local block: SN 1x1 projections theta,
phi (C/8 channels) and g (C/2), softmax(theta phi^T) g, an SN 1x1 output
projection back to C, and a learned scalar gate gamma initialised to 0 so the
block starts as the identity.

Choices (not facts from the paper): no max-pooling of phi / g (BigGAN pools
them 2x2; at 4x4 there is nothing to pool), widths C/8 and C/2 as in BigGAN.
"""

import keras
from keras import ops

from dvdgan_tf.models import spectral_norm

# Axis of a [B, T, H, W, C] tensor attended along, per `axes` choice.
_AXIS = {"time": 1, "height": 2, "width": 3}
AXES_CHOICES = ("all", "time", "height", "width")


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class SelfAttention(keras.layers.Layer):
    """Gated non-local attention over all positions or along one axis.

    Args:
        axes: "all" (every T * H * W position attends to every other),
            or "time" / "height" / "width" (attention along that axis only,
            independently for every position on the other axes).
        seed: int seed of the initializers, or None.

    Input shape:
        [B, T, H, W, C], C >= 8.

    Output shape:
        [B, T, H, W, C].

    Reference: Zhang et al. 2019 (SAGAN); BigGAN-PyTorch `Attention`.
    """

    def __init__(self, axes="all", seed=None, **kwargs):
        super().__init__(**kwargs)
        if axes not in AXES_CHOICES:
            raise ValueError(
                f"SelfAttention: expected `axes` in {AXES_CHOICES}; "
                f"received: axes={axes!r}"
            )
        self.axes = axes
        self.seed = seed

    def build(self, input_shape):
        channels = input_shape[-1]
        if len(input_shape) != 5 or channels is None or channels < 8:
            raise ValueError(
                "SelfAttention expects [B, T, H, W, C] with C >= 8; "
                f"received: input_shape={input_shape}"
            )
        widths = {
            "theta": channels // 8,
            "phi": channels // 8,
            "g": channels // 2,
        }
        for name, width in widths.items():
            layer = spectral_norm.SNDense(
                width,
                use_bias=False,
                seed=spectral_norm.derive_seed(self.seed, name),
                name=name,
            )
            layer.build(input_shape)
            setattr(self, name, layer)
        self.output_projection = spectral_norm.SNDense(
            channels,
            use_bias=False,
            seed=spectral_norm.derive_seed(self.seed, "output_projection"),
            name="output_projection",
        )
        self.output_projection.build(tuple(input_shape[:-1]) + (channels // 2,))
        self.gamma = self.add_weight(
            name="gamma", shape=(), initializer="zeros"
        )

    def _to_sequences(self, x):
        """[B, T, H, W, C] -> ([N, L, C], permutation, permuted shape)."""
        if self.axes == "all":
            shape = tuple(x.shape)
            return (
                ops.reshape(x, (-1, shape[1] * shape[2] * shape[3], shape[4])),
                None,
                shape,
            )
        axis = _AXIS[self.axes]
        perm = [a for a in range(4) if a != axis] + [axis, 4]
        x = ops.transpose(x, perm)
        permuted_shape = tuple(x.shape)
        return (
            ops.reshape(x, (-1, permuted_shape[3], permuted_shape[4])),
            perm,
            permuted_shape,
        )

    def _from_sequences(self, x, perm, shape):
        if perm is None:
            return ops.reshape(x, (-1,) + shape[1:])
        x = ops.reshape(x, (-1,) + shape[1:])
        inverse = [perm.index(a) for a in range(5)]
        return ops.transpose(x, inverse)

    def call(self, inputs, training=False):
        sequences, perm, shape = self._to_sequences(inputs)
        theta = self.theta(sequences, training=training)
        phi = self.phi(sequences, training=training)
        g = self.g(sequences, training=training)
        logits = ops.matmul(theta, ops.transpose(phi, (0, 2, 1)))
        weights = ops.softmax(ops.cast(logits, "float32"), axis=-1)
        attended = ops.matmul(ops.cast(weights, g.dtype), g)
        attended = self.output_projection(attended, training=training)
        attended = self._from_sequences(attended, perm, shape)
        return inputs + ops.cast(self.gamma, attended.dtype) * attended

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update(axes=self.axes, seed=self.seed)
        return config
