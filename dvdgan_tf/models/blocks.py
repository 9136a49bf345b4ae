"""Residual blocks of DVD-GAN's generator and discriminators.

Implements the v2 block figure of arXiv 1907.06571 (SPEC 1.4 and 2):

  * `GBlock`: cBN -> ReLU -> (bilinear x2 up) -> 3x3 conv -> cBN -> ReLU ->
    3x3 conv, plus a shortcut (bilinear x2 up) -> 1x1 conv. Frames are folded
    into the batch axis; the cBN layers use per-time-step statistics.
  * `DBlock`: BigGAN's discriminator block, ReLU -> 3x3 conv -> ReLU -> 3x3
    conv -> average pool, plus a shortcut 1x1 conv -> average pool. The first
    block of a discriminator has no leading ReLU (`preactivation=False`).
    The same class is the 3-D block of D_T: inject `conv_layer=SNConv3D` and a
    3-D `pool_size` (3x3x3 kernels).

Layers are injected as classes (BigGAN-PyTorch's `which_conv` / `which_bn`):
`conv_layer` is called as `conv_layer(filters, kernel_size, seed=, name=)`
and `norm_layer` as `norm_layer(num_frames, seed=, name=)`. Only classes
registered with keras serialization are accepted, so a block's config stays
JSON-serialisable (the class is stored by its registered name).

Choices (not facts from the paper):

  * G blocks always have the 1x1 shortcut conv (drawn in every block of the
    v2 figure). D blocks follow BigGAN: the shortcut is a learned 1x1 conv
    only when the width changes or the block downsamples, identity otherwise.
  * In D's shortcut the average pool is applied before the 1x1 conv; the two
    commute exactly (both linear), pooling first is cheaper.
  * Upsampling is bilinear (v2 legend), not BigGAN's nearest neighbour.
"""

import keras
from keras import ops

from dvdgan_tf.models import normalization
from dvdgan_tf.models import spectral_norm


def serialize_layer_class(layer_class) -> str:
    """Registered name of a layer class (for a JSON config).

    Raises:
        ValueError: if the class is not registered with keras serialization.
    """
    name = keras.saving.get_registered_name(layer_class)
    if keras.saving.get_registered_object(name) is not layer_class:
        raise ValueError(
            "Layer factories must be classes registered with "
            "`keras.saving.register_keras_serializable`; received: "
            f"{layer_class!r}"
        )
    return name


def deserialize_layer_class(name_or_class):
    """Inverse of `serialize_layer_class`; classes pass through."""
    if not isinstance(name_or_class, str):
        serialize_layer_class(name_or_class)
        return name_or_class
    layer_class = keras.saving.get_registered_object(name_or_class)
    if layer_class is None:
        raise ValueError(
            f"Unknown layer class {name_or_class!r}: expected a registered "
            "name such as 'dvdgan_tf>SNConv2D'. Import the module that "
            "defines it before deserialising."
        )
    return layer_class


def _upsample(x):
    """Bilinear x2 of [N, H, W, C], computed in float32, returned in x's
    dtype. TF's ResizeBilinear takes bfloat16 but its XLA gradient kernel
    then returns float32 where the graph expects bfloat16, and XLA refuses
    the step ("floating point types of different precisions",
    mixed_bfloat16 + jit_compile, the TPU path; bench/xla_compile.py)."""
    height, width = x.shape[1], x.shape[2]
    resized = ops.image.resize(
        ops.cast(x, "float32"),
        (2 * height, 2 * width),
        interpolation="bilinear",
    )
    return ops.cast(resized, x.dtype)


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class GBlock(keras.layers.Layer):
    """Generator residual block with class-conditional BN.

    Args:
        out_channels: output width.
        upsample: whether to double height and width (bilinear).
        num_frames: T, frames folded into the batch axis (for the cBN).
        conv_layer: registered conv class (or its registered name).
        norm_layer: registered conditional-BN class (or its name).
        seed: int seed of the initializers, or None.

    Call arguments:
        inputs: float [B * T, H, W, C], frames folded batch-major.
        conditioning: float [B * T, D], c repeated per frame the same way.
        training: batch statistics / SN updates if True.

    Input shape:
        inputs [B * T, H, W, C], conditioning [B * T, D].

    Output shape:
        [B * T, 2H, 2W, out_channels] if `upsample`, else
        [B * T, H, W, out_channels].

    Reference: DVD-GAN v2 block figure; BigGAN-PyTorch `GBlock`.
    """

    def __init__(
        self,
        out_channels,
        upsample,
        num_frames,
        conv_layer=spectral_norm.SNConv2D,
        norm_layer=normalization.ClassConditionalBatchNorm,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(out_channels, int) or out_channels <= 0:
            raise ValueError(
                "GBlock: expected `out_channels` to be a positive int; "
                f"received: out_channels={out_channels!r}"
            )
        self.out_channels = out_channels
        self.upsample = bool(upsample)
        self.num_frames = num_frames
        self.conv_layer = deserialize_layer_class(conv_layer)
        self.norm_layer = deserialize_layer_class(norm_layer)
        self.seed = seed

    def _seed(self, name):
        return spectral_norm.derive_seed(self.seed, name)

    def build(self, inputs_shape, conditioning_shape):
        batch, height, width, _ = inputs_shape
        scale = 2 if self.upsample else 1
        out_shape = (batch, height * scale, width * scale)
        self.bn_1 = self.norm_layer(
            self.num_frames, seed=self._seed("bn_1"), name="bn_1"
        )
        self.bn_1.build(inputs_shape, conditioning_shape)
        self.conv_1 = self.conv_layer(
            self.out_channels, 3, seed=self._seed("conv_1"), name="conv_1"
        )
        self.conv_1.build(out_shape + (inputs_shape[-1],))
        self.bn_2 = self.norm_layer(
            self.num_frames, seed=self._seed("bn_2"), name="bn_2"
        )
        self.bn_2.build(out_shape + (self.out_channels,), conditioning_shape)
        self.conv_2 = self.conv_layer(
            self.out_channels, 3, seed=self._seed("conv_2"), name="conv_2"
        )
        self.conv_2.build(out_shape + (self.out_channels,))
        self.shortcut = self.conv_layer(
            self.out_channels, 1, seed=self._seed("shortcut"), name="shortcut"
        )
        self.shortcut.build(out_shape + (inputs_shape[-1],))

    def call(self, inputs, conditioning, training=False):
        x = ops.relu(self.bn_1(inputs, conditioning, training=training))
        shortcut = inputs
        if self.upsample:
            x = _upsample(x)
            shortcut = _upsample(shortcut)
        x = self.conv_1(x, training=training)
        x = ops.relu(self.bn_2(x, conditioning, training=training))
        x = self.conv_2(x, training=training)
        return x + self.shortcut(shortcut, training=training)

    def compute_output_shape(self, inputs_shape, conditioning_shape):
        scale = 2 if self.upsample else 1
        return (
            inputs_shape[0],
            inputs_shape[1] * scale,
            inputs_shape[2] * scale,
            self.out_channels,
        )

    def get_config(self):
        config = super().get_config()
        config.update(
            out_channels=self.out_channels,
            upsample=self.upsample,
            num_frames=self.num_frames,
            conv_layer=serialize_layer_class(self.conv_layer),
            norm_layer=serialize_layer_class(self.norm_layer),
            seed=self.seed,
        )
        return config


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class DBlock(keras.layers.Layer):
    """BigGAN discriminator residual block, 2-D or 3-D by injection.

    Args:
        out_channels: output width (also the hidden width).
        pool_size: average-pool window = stride, e.g. (2, 2), (2, 2, 2) or
            (1, 2, 2); None for a block that does not downsample.
        preactivation: apply ReLU to the input first (False in the first
            block of a discriminator, whose input is the image).
        conv_layer: registered conv class (SNConv2D or SNConv3D) or name.
        seed: int seed of the initializers, or None.

    Input shape:
        [B, H, W, C] (2-D) or [B, T, H, W, C] (3-D).

    Output shape:
        The input shape divided by `pool_size` on the pooled axes, with
        `out_channels` channels.

    Reference: BigGAN-PyTorch `DBlock`; DVD-GAN v2 block figure.
    """

    def __init__(
        self,
        out_channels,
        pool_size=None,
        preactivation=True,
        conv_layer=spectral_norm.SNConv2D,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(out_channels, int) or out_channels <= 0:
            raise ValueError(
                "DBlock: expected `out_channels` to be a positive int; "
                f"received: out_channels={out_channels!r}"
            )
        self.out_channels = out_channels
        self.pool_size = tuple(pool_size) if pool_size is not None else None
        self.preactivation = bool(preactivation)
        self.conv_layer = deserialize_layer_class(conv_layer)
        self.seed = seed

    def build(self, inputs_shape):
        spatial_rank = len(inputs_shape) - 2
        if self.pool_size is not None:
            if len(self.pool_size) != spatial_rank:
                raise ValueError(
                    f"DBlock {self.name}: `pool_size` must have one entry per "
                    f"spatial axis of the input ({spatial_rank}); received: "
                    f"pool_size={self.pool_size}, inputs_shape={inputs_shape}"
                )
            for size, dim in zip(self.pool_size, inputs_shape[1:-1]):
                if dim is not None and dim % size:
                    raise ValueError(
                        f"DBlock {self.name}: input axes {inputs_shape[1:-1]} "
                        f"are not divisible by pool_size={self.pool_size}"
                    )
        in_channels = inputs_shape[-1]
        self.conv_1 = self.conv_layer(
            self.out_channels,
            3,
            seed=spectral_norm.derive_seed(self.seed, "conv_1"),
            name="conv_1",
        )
        self.conv_1.build(inputs_shape)
        hidden_shape = tuple(inputs_shape[:-1]) + (self.out_channels,)
        self.conv_2 = self.conv_layer(
            self.out_channels,
            3,
            seed=spectral_norm.derive_seed(self.seed, "conv_2"),
            name="conv_2",
        )
        self.conv_2.build(hidden_shape)
        self.learnable_shortcut = (
            in_channels != self.out_channels or self.pool_size is not None
        )
        if self.learnable_shortcut:
            self.shortcut = self.conv_layer(
                self.out_channels,
                1,
                seed=spectral_norm.derive_seed(self.seed, "shortcut"),
                name="shortcut",
            )
            self.shortcut.build(inputs_shape)

    def _pool(self, x):
        if self.pool_size is None:
            return x
        return ops.average_pool(
            x, self.pool_size, strides=self.pool_size, padding="valid"
        )

    def call(self, inputs, training=False):
        x = ops.relu(inputs) if self.preactivation else inputs
        x = self.conv_1(x, training=training)
        x = self.conv_2(ops.relu(x), training=training)
        x = self._pool(x)
        shortcut = inputs
        if self.learnable_shortcut:
            shortcut = self.shortcut(self._pool(inputs), training=training)
        return x + shortcut

    def compute_output_shape(self, inputs_shape):
        spatial = list(inputs_shape[1:-1])
        if self.pool_size is not None:
            spatial = [
                d // p if d is not None else None
                for d, p in zip(spatial, self.pool_size)
            ]
        return (inputs_shape[0], *spatial, self.out_channels)

    def get_config(self):
        config = super().get_config()
        config.update(
            out_channels=self.out_channels,
            pool_size=list(self.pool_size) if self.pool_size else None,
            preactivation=self.preactivation,
            conv_layer=serialize_layer_class(self.conv_layer),
            seed=self.seed,
        )
        return config
