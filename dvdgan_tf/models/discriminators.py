"""DVD-GAN's two discriminators and their input transforms.

Implements the dual discriminators of arXiv 1907.06571v2 (SPEC sections 2
and 3):

  * `sample_frames` picks K frames per clip (K = 8 in the paper), and
    `SpatialDiscriminator` (D_S) scores each frame with a BigGAN
    discriminator (ReLU -> sum-pool over H, W -> SN linear + projection) and
    returns the **sum** of the K per-frame scores per clip.
  * `downsample_video` (phi) average-pools every frame 2x2, and
    `TemporalDiscriminator` (D_T) runs two 3-D residual blocks (3x3x3 convs)
    on the pooled clip, then 2-D BigGAN blocks on each remaining time step
    (time folded into batch), scores every step and returns the **sum over
    time** per clip.

Both use projection conditioning (Miyato & Koyama 2018): score =
linear(h) + <embed(y), h>, with a spectrally normalised embedding; with
num_classes = 0 the projection term is absent and labels are ignored.

Widths are data (`DISCRIMINATOR_ARCH`, BigGAN-PyTorch `D_arch`): block output
widths as multiples of `channel_multiplier` and whether each block halves H
and W. Resolutions below 64 take the **last** log2(resolution / 4) + 1
blocks of the 64 row (the rule the generator uses). D_T uses the row of the
pooled frame size (resolution / 2).

Choices (not facts from the paper; docs/DESIGN.md):

  * Frame sampling (decision 9): independently per clip, without
    replacement, in time order (argsort of stateless uniform noise);
    `share_indices=True` draws one index set for the whole batch.
  * D_T time pooling (decision 2): its downsampling 3-D blocks pool 2x2x2
    (DGMR; 12 frames -> 6 -> 3); `pool_time=False` pools space only.
  * No attention in either discriminator (v2 draws none).
  * The score layers run in float32 under mixed precision.
"""

import keras
import tensorflow as tf
from keras import ops

from dvdgan_tf.models import blocks
from dvdgan_tf.models import spectral_norm

# Per frame size: (block output widths / channel_multiplier, downsample).
DISCRIMINATOR_ARCH = {
    64: ((1, 2, 4, 8, 16), (True, True, True, True, False)),
    128: ((1, 2, 4, 8, 16, 16), (True, True, True, True, True, False)),
    256: ((1, 2, 4, 8, 8, 16, 16), (True, True, True, True, True, True, False)),
}
SUPPORTED_FRAME_SIZES = (8, 16, 32, 64, 128, 256)
NUM_3D_BLOCKS = 2


def block_layout(
    frame_size: int, channel_multiplier: int
) -> list[tuple[int, bool]]:
    """(output channels, downsamples) of each D block for a frame size.

    Raises:
        ValueError: for an unsupported frame size or a non-positive
            channel multiplier.
    """
    if frame_size not in SUPPORTED_FRAME_SIZES:
        raise ValueError(
            f"Expected a discriminator frame size in {SUPPORTED_FRAME_SIZES}; "
            f"received: {frame_size!r}"
        )
    if not isinstance(channel_multiplier, int) or channel_multiplier <= 0:
        raise ValueError(
            "Expected `channel_multiplier` to be a positive int; received: "
            f"channel_multiplier={channel_multiplier!r}"
        )
    if frame_size in DISCRIMINATOR_ARCH:
        widths, downsample = DISCRIMINATOR_ARCH[frame_size]
    else:
        count = (frame_size // 4).bit_length()  # log2(size / 4) + 1
        widths, downsample = (row[-count:] for row in DISCRIMINATOR_ARCH[64])
    return [(w * channel_multiplier, d) for w, d in zip(widths, downsample)]


def frame_blocks(layout, seed) -> list:
    """The 2-D D blocks of a per-frame network (D_S, the FP encoder).

    Args:
        layout: `block_layout` rows (output channels, downsamples).
        seed: the owner's seed; block i gets `derive_seed(seed, "block_i")`.

    Returns:
        DBlocks named block_1, block_2, ...; the first without
        pre-activation (its input is the image), 2x2 average pooling where
        the layout downsamples.
    """
    return [
        blocks.DBlock(
            width,
            pool_size=(2, 2) if down else None,
            preactivation=index > 0,
            seed=spectral_norm.derive_seed(seed, f"block_{index + 1}"),
            name=f"block_{index + 1}",
        )
        for index, (width, down) in enumerate(layout)
    ]


def sample_frames(
    video, num_sampled_frames: int, seed, share_indices: bool = False
):
    """Picks K random frames per clip for the spatial discriminator.

    Indices are drawn independently for every clip (docs/DESIGN.md D9; or one
    set for the whole batch with `share_indices`), without replacement, and
    kept in time order. Stateless: the same seed gives the same frames.

    Args:
        video: float [B, T, H, W, C].
        num_sampled_frames: K, with 1 <= K <= T.
        seed: int32 [2], a stateless seed (e.g. from
            `tf.random.experimental.stateless_split`); a Python int s is
            read as [s, 0], a `keras.random.SeedGenerator` gives its next
            seed.
        share_indices: use the same K indices for every clip (the unofficial
            PyTorch port's behaviour) instead of independent ones.

    Returns:
        float [B, K, H, W, C]: video[b, sorted distinct indices_b].

    Raises:
        ValueError: if K is not in [1, T].
    """
    num_frames = video.shape[1]
    if (
        not isinstance(num_sampled_frames, int)
        or num_sampled_frames < 1
        or (num_frames is not None and num_sampled_frames > num_frames)
    ):
        raise ValueError(
            "sample_frames: expected 1 <= num_sampled_frames <= T="
            f"{num_frames}; received: num_sampled_frames="
            f"{num_sampled_frames!r}"
        )
    if isinstance(seed, keras.random.SeedGenerator):
        seed = seed.next()
    elif isinstance(seed, int):
        seed = [seed, 0]
    seed = tf.cast(seed, tf.int32)
    if not seed.shape.is_compatible_with((2,)):
        raise ValueError(
            "sample_frames: expected a stateless seed of shape [2]; received "
            f"shape {tuple(seed.shape)}"
        )
    # TF-only: keras.random has no stateless ops taking a seed tensor.
    shape = tf.shape(video)[:2]
    if share_indices:
        noise = tf.random.stateless_uniform([1, shape[1]], seed=seed)
        noise = tf.broadcast_to(noise, shape)
    else:
        noise = tf.random.stateless_uniform(shape, seed=seed)
    indices = ops.argsort(noise, axis=1)[:, :num_sampled_frames]
    indices = ops.sort(indices, axis=1)
    return tf.gather(video, indices, axis=1, batch_dims=1)


def downsample_video(video):
    """phi: 2x2 average pooling of every frame (the D_T input).

    Args:
        video: float [B, T, H, W, C], H and W even.

    Returns:
        float [B, T, H / 2, W / 2, C].

    Raises:
        ValueError: if H or W is odd.
    """
    height, width = video.shape[2], video.shape[3]
    if height % 2 or width % 2:
        raise ValueError(
            "downsample_video: expected even H and W; received shape "
            f"{tuple(video.shape)}"
        )
    frames = ops.reshape(video, (-1,) + tuple(video.shape[2:]))
    pooled = ops.average_pool(frames, 2, strides=2, padding="valid")
    return ops.reshape(pooled, (-1, video.shape[1]) + tuple(pooled.shape[1:]))


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class ProjectionHead(keras.layers.Layer):
    """ReLU -> sum-pool over space -> SN linear + class projection.

    Args:
        num_classes: N; 0 drops the projection term.
        seed: int seed of the initializers, or None.

    Call arguments:
        inputs: float [B', H, W, C] features.
        labels: int [B'] (ignored when N = 0).

    Input shape:
        [B', H, W, C].

    Output shape:
        float32 [B'].

    Reference: BigGAN-PyTorch `Discriminator.forward`; Miyato & Koyama 2018.
    """

    def __init__(self, num_classes, seed=None, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not isinstance(num_classes, int) or num_classes < 0:
            raise ValueError(
                "ProjectionHead: expected a non-negative int `num_classes`; "
                f"received: num_classes={num_classes!r}"
            )
        self.num_classes = num_classes
        self.seed = seed

    def build(self, inputs_shape, labels_shape=None):
        channels = inputs_shape[-1]
        self.linear = spectral_norm.SNDense(
            1,
            seed=spectral_norm.derive_seed(self.seed, "linear"),
            dtype=self.dtype_policy,
            name="linear",
        )
        self.linear.build((None, channels))
        self.class_projection = None
        if self.num_classes:
            self.class_projection = spectral_norm.SNEmbedding(
                self.num_classes,
                channels,
                seed=spectral_norm.derive_seed(self.seed, "class_projection"),
                dtype=self.dtype_policy,
                name="class_projection",
            )
            self.class_projection.build((None,))

    def call(self, inputs, labels=None, training=False):
        features = ops.sum(ops.relu(inputs), axis=(1, 2))
        scores = self.linear(features, training=training)[:, 0]
        if self.class_projection is not None:
            if labels is None:
                raise ValueError(
                    f"num_classes={self.num_classes} needs `labels`; "
                    "received None"
                )
            embedded = self.class_projection(labels, training=training)
            scores = scores + ops.sum(embedded * features, axis=-1)
        return scores

    def compute_output_shape(self, inputs_shape, labels_shape=None):
        return (inputs_shape[0],)

    def get_config(self):
        config = super().get_config()
        config.update(num_classes=self.num_classes, seed=self.seed)
        return config


def _check_non_negative(value, name, owner):
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"{owner}: expected `{name}` to be a non-negative int; received: "
            f"{name}={value!r}"
        )


def _discriminator_config(model, **fields):
    return {"name": model.name, "trainable": model.trainable, **fields}


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class SpatialDiscriminator(keras.Model):
    """D_S: BigGAN discriminator per sampled frame, scores summed per clip.

    Args:
        resolution: frame height = width H.
        num_classes: N; 0 for no projection term.
        channel_multiplier: ch, the width unit of `DISCRIMINATOR_ARCH`.
        num_sampled_frames: K, the number of frames per clip it expects.
        seed: int seed of the initializers, or None.

    Call arguments:
        frames: float [B, K, H, W, 3] (from `sample_frames`).
        labels: int32 [B] (ignored when N = 0).
        training: updates the SN vectors if True.

    Input shape:
        frames [B, K, H, W, 3], labels [B].

    Output shape:
        float32 [B]: sum over the K frames of the per-frame scores.
    """

    def __init__(
        self,
        resolution,
        num_classes,
        channel_multiplier=96,
        num_sampled_frames=8,
        seed=1,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_non_negative(num_classes, "num_classes", "SpatialDiscriminator")
        if not isinstance(num_sampled_frames, int) or num_sampled_frames < 1:
            raise ValueError(
                "SpatialDiscriminator: expected a positive int "
                f"`num_sampled_frames`; received: {num_sampled_frames!r}"
            )
        self.layout = tuple(block_layout(resolution, channel_multiplier))
        self.resolution = resolution
        self.num_classes = num_classes
        self.channel_multiplier = channel_multiplier
        self.num_sampled_frames = num_sampled_frames
        self.seed = seed
        self.blocks = frame_blocks(self.layout, seed)
        self.head = ProjectionHead(
            num_classes,
            seed=spectral_norm.derive_seed(seed, "head"),
            name="head",
        )

    def build(self, input_shape=None):
        """Creates every variable from the configuration (no data needed)."""
        shape = (None, self.resolution, self.resolution, 3)
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)
        self.head.build(shape)

    def call(self, frames, labels=None, training=False):
        expected = (self.num_sampled_frames, self.resolution, self.resolution)
        if len(frames.shape) != 5 or tuple(frames.shape[1:4]) != expected:
            raise ValueError(
                "SpatialDiscriminator: expected frames [B, K, H, W, C] = "
                f"[B, {', '.join(map(str, expected))}, 3] "
                f"(num_sampled_frames={self.num_sampled_frames}; use "
                f"sample_frames); received shape {tuple(frames.shape)}"
            )
        x = ops.reshape(frames, (-1,) + tuple(frames.shape[2:]))
        for block in self.blocks:
            x = block(x, training=training)
        frame_labels = None
        if self.num_classes:
            frame_labels = ops.repeat(labels, self.num_sampled_frames, axis=0)
        scores = self.head(x, frame_labels, training=training)
        scores = ops.reshape(scores, (-1, self.num_sampled_frames))
        return ops.sum(scores, axis=1)

    def get_config(self):
        return _discriminator_config(
            self,
            resolution=self.resolution,
            num_classes=self.num_classes,
            channel_multiplier=self.channel_multiplier,
            num_sampled_frames=self.num_sampled_frames,
            seed=self.seed,
        )

    @classmethod
    def from_config(cls, config):
        model = cls(**config)
        model.build()
        return model


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class TemporalDiscriminator(keras.Model):
    """D_T: two 3-D blocks, 2-D blocks per time step, scores summed.

    Args:
        resolution: the video's H = W **before** `downsample_video`; the
            network runs on resolution / 2.
        num_frames: T.
        num_classes: N; 0 for no projection term.
        channel_multiplier: ch.
        pool_time: whether the downsampling 3-D blocks also halve time.
        seed: int seed of the initializers, or None.

    Call arguments:
        video: float [B, T, H / 2, W / 2, 3] (from `downsample_video`).
        labels: int32 [B] (ignored when N = 0).
        training: updates the SN vectors if True.

    Input shape:
        video [B, T, H / 2, W / 2, 3], labels [B].

    Output shape:
        float32 [B]: sum over the remaining time steps of per-step scores.
    """

    def __init__(
        self,
        resolution,
        num_frames,
        num_classes,
        channel_multiplier=96,
        pool_time=True,
        seed=2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _check_non_negative(num_classes, "num_classes", "TemporalDiscriminator")
        if not isinstance(resolution, int) or resolution < 16:
            raise ValueError(
                "TemporalDiscriminator: expected `resolution` (before the 2x2 "
                f"pool) >= 16; received: resolution={resolution!r}"
            )
        self.layout = tuple(block_layout(resolution // 2, channel_multiplier))
        if not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(
                "TemporalDiscriminator: expected a positive int `num_frames`;"
                f" received: num_frames={num_frames!r}"
            )
        steps = num_frames
        for width, down in self.layout[:NUM_3D_BLOCKS]:
            if down and pool_time:
                if steps % 2:
                    raise ValueError(
                        "TemporalDiscriminator: with pool_time=True each "
                        "downsampling 3-D block halves time, so num_frames "
                        "must be divisible by 2 at each of them; received: "
                        f"num_frames={num_frames} (use pool_time=False or "
                        "an even length such as 12 or 48)"
                    )
                steps //= 2
        self.output_steps = steps
        self.resolution = resolution
        self.num_frames = num_frames
        self.num_classes = num_classes
        self.channel_multiplier = channel_multiplier
        self.pool_time = bool(pool_time)
        self.seed = seed
        self.blocks = []
        for index, (width, down) in enumerate(self.layout):
            is_3d = index < NUM_3D_BLOCKS
            if not down:
                pool_size = None
            elif is_3d:
                pool_size = (2 if pool_time else 1, 2, 2)
            else:
                pool_size = (2, 2)
            self.blocks.append(
                blocks.DBlock(
                    width,
                    pool_size=pool_size,
                    preactivation=index > 0,
                    conv_layer=(
                        spectral_norm.SNConv3D
                        if is_3d
                        else spectral_norm.SNConv2D
                    ),
                    seed=spectral_norm.derive_seed(seed, f"block_{index + 1}"),
                    name=f"block_{index + 1}",
                )
            )
        self.head = ProjectionHead(
            num_classes,
            seed=spectral_norm.derive_seed(seed, "head"),
            name="head",
        )

    def build(self, input_shape=None):
        """Creates every variable from the configuration (no data needed)."""
        size = self.resolution // 2
        shape = (None, self.num_frames, size, size, 3)
        for index, block in enumerate(self.blocks):
            if index == NUM_3D_BLOCKS:
                shape = (None,) + tuple(shape[2:])
            block.build(shape)
            shape = block.compute_output_shape(shape)
        if len(shape) == 5:
            shape = (None,) + tuple(shape[2:])
        self.head.build(shape)

    def call(self, video, labels=None, training=False):
        size = self.resolution // 2
        expected = (self.num_frames, size, size)
        if len(video.shape) != 5 or tuple(video.shape[1:4]) != expected:
            raise ValueError(
                "TemporalDiscriminator: expected the downsampled video "
                f"[B, T, H/2, W/2, C] = [B, {', '.join(map(str, expected))}, "
                f"3] (did you apply downsample_video?); received shape "
                f"{tuple(video.shape)}"
            )
        x = video
        for block in self.blocks[:NUM_3D_BLOCKS]:
            x = block(x, training=training)
        steps = x.shape[1]
        x = ops.reshape(x, (-1,) + tuple(x.shape[2:]))
        for block in self.blocks[NUM_3D_BLOCKS:]:
            x = block(x, training=training)
        step_labels = None
        if self.num_classes:
            step_labels = ops.repeat(labels, steps, axis=0)
        scores = self.head(x, step_labels, training=training)
        return ops.sum(ops.reshape(scores, (-1, steps)), axis=1)

    def get_config(self):
        return _discriminator_config(
            self,
            resolution=self.resolution,
            num_frames=self.num_frames,
            num_classes=self.num_classes,
            channel_multiplier=self.channel_multiplier,
            pool_time=self.pool_time,
            seed=self.seed,
        )

    @classmethod
    def from_config(cls, config):
        model = cls(**config)
        model.build()
        return model


def build_spatial_discriminator(
    resolution: int,
    num_classes: int,
    channel_multiplier: int = 96,
    num_sampled_frames: int = 8,
    seed: int | None = 1,
) -> SpatialDiscriminator:
    """Builds D_S with all its variables created.

    Args:
        resolution: frame H = W.
        num_classes: N; 0 for an unconditional discriminator.
        channel_multiplier: ch (96 in the paper-scale configs).
        num_sampled_frames: K (8 in the paper).
        seed: initializer seed, or None for keras' global RNG.

    Returns:
        A built `SpatialDiscriminator` named "spatial_discriminator".
    """
    model = SpatialDiscriminator(
        resolution=resolution,
        num_classes=num_classes,
        channel_multiplier=channel_multiplier,
        num_sampled_frames=num_sampled_frames,
        seed=seed,
        name="spatial_discriminator",
    )
    model.build()
    return model


def build_temporal_discriminator(
    resolution: int,
    num_frames: int,
    num_classes: int,
    channel_multiplier: int = 96,
    pool_time: bool = True,
    seed: int | None = 2,
) -> TemporalDiscriminator:
    """Builds D_T with all its variables created.

    Args:
        resolution: the video's H = W before `downsample_video`.
        num_frames: T.
        num_classes: N; 0 for an unconditional discriminator.
        channel_multiplier: ch (96 in the paper-scale configs).
        pool_time: the downsampling 3-D blocks halve time too (decision 2).
        seed: initializer seed, or None for keras' global RNG.

    Returns:
        A built `TemporalDiscriminator` named "temporal_discriminator".
    """
    model = TemporalDiscriminator(
        resolution=resolution,
        num_frames=num_frames,
        num_classes=num_classes,
        channel_multiplier=channel_multiplier,
        pool_time=pool_time,
        seed=seed,
        name="temporal_discriminator",
    )
    model.build()
    return model
