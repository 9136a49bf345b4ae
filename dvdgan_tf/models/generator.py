"""DVD-GAN generator: ConvGRU + residual-block groups, one per resolution.

Implements the generator of arXiv 1907.06571v2 (generator description and
the v2 architecture figures; SPEC section 1):

  z [B, Z] and e(y) [B, E] -> c = [z; e(y)] -> SN affine -> [B, 4, 4, ch0]
  -> repeated T times -> per resolution group g = 1..G:
       ConvGRU (unrolled over T)                          [B, T, h, w, c_g]
       fold time into batch                               [B * T, h, w, c_g]
       GBlock (keeps size) -> GBlock (bilinear x2 up)     [B * T, 2h, 2w, o_g]
       unfold: next group's per-frame input               [B, T, 2h, 2w, o_g]
  -> cBN -> ReLU -> SN 3x3 conv (3 channels) -> tanh      [B, T, H, W, 3]

G = log2(resolution / 4) groups (4 / 5 / 6 for 64 / 128 / 256). The whole c
drives every class-conditional BN, whose statistics are per time step.

Conditioning order: frames are folded **batch-major** ([B, T, ...] ->
[B * T, ...], row b * T + t) and c is repeated per frame the same way
(`repeat(c, T, axis=0)`), so every frame of clip b is conditioned on z_b and
y_b (the PyTorch port tiles time-major and gives frames another sample's z).

Choices (not facts from the paper; docs/DESIGN.md):

  * Widths (decision 1): `WIDTHS` below, per preset, as multiples of
    `channel_multiplier` (ConvGRU state / second block's output per group).
    Preset "B" (compact, top width 8 ch, the default) and "A" (BigGAN G
    widths). Resolutions below 64 (16 / 32, for tests and demos) take the
    **last** log2(resolution / 4) groups of the 64 row; 8 takes the last one.
  * "Skip upsampling in the first block" is read per group (BigGAN-deep
    style): block 1 keeps the size, block 2 doubles it.
  * The class embedding is a plain (not spectrally normalised) linear
    embedding, as BigGAN's shared embedding; orthogonal init everywhere.
  * ConvGRU initial state zeros by default (decision 3); `initial_states`
    lets a caller pass a state per group. `conv_gru_initial_state="input"`
    starts each group's ConvGRU from its own first input frame instead
    (h_0 = x_1: no new weights), a lever against the start-up transient of
    a zero state (docs/DESIGN.md D3); a given or encoder state wins.
  * DVD-GAN-FP (decision 4): with num_conditioning_frames = C > 0, G owns a
    `context_encoder.ContextEncoder` and takes `conditioning_frames`
    [B, C, H, W, 3]; the encoder's features initialise the ConvGRUs (every
    level, or the first only: `conditioning_levels`), and G returns the T =
    num_frames *predicted* frames (the clip is the C real frames followed by
    them). Noise and class input stay as in synthesis.
  * Output non-linearity tanh (decision 5).
  * v1 attention (decision 11) is optional, off by default: non-local
    attention after the first ConvGRU and separable (height, width, time)
    attention before the network's last residual block.
  * num_classes = 0 gives an unconditional G: no embedding, c = z; labels
    passed anyway are ignored.
  * Mixed precision: SN sigma and BN moments are float32 inside their
    layers; the final conv runs in float32 so the output is float32.

Trainable parameter counts (tools/model_summary.py; preset B, ch = 96,
Z = E = 120, 600 classes; they do not depend on T):

  | config        | G           | D_S        | D_T        |
  | ------------- | ----------- | ---------- | ---------- |
  | k600_64.gin   | 175,732,035 | 44,886,049 | 49,276,609 |
  | k600_128.gin  | 178,965,699 | 87,356,449 | 46,052,449 |
  | k600_256.gin  | 234,710,979 | 98,565,409 | 88,522,849 |

Most of G is the ConvGRUs: a 3x3 ConvGRU with C channels has 54 C^2
weights, 31.9 M at C = 8 ch = 768 (SPEC 1.3's cost warning; preset A's
C = 1536 quadruples it).
"""

import enum

import keras
from keras import ops

from dvdgan_tf.models import attention
from dvdgan_tf.models import blocks
from dvdgan_tf.models import context_encoder
from dvdgan_tf.models import conv_gru
from dvdgan_tf.models import normalization
from dvdgan_tf.models import spectral_norm

INITIAL_STATES = ("zeros", "input")


class WidthPreset(str, enum.Enum):
    """Channel-width presets of SPEC 1.3 (decision 1)."""

    A = "A"  # BigGAN generator widths (top width 16 ch).
    B = "B"  # Compact widths (top width 8 ch), the default.


# Per preset and output resolution: one (ConvGRU state, block-2 output)
# pair of channel multipliers per resolution group, from 4x4 upwards.
WIDTHS = {
    WidthPreset.A: {
        64: ((16, 16), (16, 8), (8, 4), (4, 2)),
        128: ((16, 16), (16, 8), (8, 4), (4, 2), (2, 1)),
        256: ((16, 16), (16, 8), (8, 8), (8, 4), (4, 2), (2, 1)),
    },
    WidthPreset.B: {
        64: ((8, 8), (8, 8), (8, 4), (4, 2)),
        128: ((8, 8), (8, 8), (8, 4), (4, 2), (2, 1)),
        256: ((8, 8), (8, 8), (8, 8), (8, 4), (4, 2), (2, 1)),
    },
}
SUPPORTED_RESOLUTIONS = (8, 16, 32, 64, 128, 256)
BASE_SIZE = 4


def num_groups(resolution: int) -> int:
    """Number of resolution groups, log2(resolution / 4).

    Raises:
        ValueError: if the resolution is not one of SUPPORTED_RESOLUTIONS.
    """
    if resolution not in SUPPORTED_RESOLUTIONS:
        raise ValueError(
            f"Expected `resolution` in {SUPPORTED_RESOLUTIONS}; received: "
            f"resolution={resolution!r}"
        )
    return (resolution // BASE_SIZE).bit_length() - 1


def group_widths(
    resolution: int, channel_multiplier: int, width_preset: str = "B"
) -> list[tuple[int, int]]:
    """(ConvGRU state channels, output channels) of every group.

    Resolutions below 64 take the last groups of the 64 row (module
    docstring).

    Raises:
        ValueError: for an unknown preset or resolution, or a
            non-positive channel multiplier.
    """
    try:
        preset = WidthPreset(width_preset)
    except ValueError:
        raise ValueError(
            f"Expected `width_preset` in {[p.value for p in WidthPreset]}; "
            f"received: width_preset={width_preset!r}"
        ) from None
    if not isinstance(channel_multiplier, int) or channel_multiplier <= 0:
        raise ValueError(
            "Expected `channel_multiplier` to be a positive int; received: "
            f"channel_multiplier={channel_multiplier!r}"
        )
    count = num_groups(resolution)
    row = WIDTHS[preset].get(resolution, WIDTHS[preset][64][-count:])
    return [
        (state * channel_multiplier, out * channel_multiplier)
        for state, out in row
    ]


def _positive_int(value, name, allow_zero=False):
    low = 0 if allow_zero else 1
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        kind = "non-negative" if allow_zero else "positive"
        raise ValueError(
            f"Generator: expected `{name}` to be a {kind} int; received: "
            f"{name}={value!r}"
        )


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class Generator(keras.Model):
    """DVD-GAN generator (see the module docstring for the architecture).

    Args:
        resolution: output height = width H, in SUPPORTED_RESOLUTIONS.
        num_frames: T, the clip length (the ConvGRU unroll length).
        num_classes: N; 0 for an unconditional generator.
        channel_multiplier: ch, the width unit of `WIDTHS`.
        latent_dim: Z.
        embedding_dim: size of the class embedding e(y) (unused if N = 0).
        width_preset: "B" (compact, default) or "A" (BigGAN widths).
        use_attention: add the v1 attention layers.
        seed: int seed of every initializer (each layer derives its own from
            this and its name), or None for keras' global RNG.
        num_conditioning_frames: C; > 0 makes a DVD-GAN-FP generator.
        conditioning_levels: "all" or "first" (DVD-GAN-FP only).
        conv_gru_initial_state: "zeros" (the default, decision 3) or
            "input" (each ConvGRU starts from its first input frame where
            no state is given).

    Call arguments:
        z: float32 [B, Z].
        labels: int32 [B] in [0, N); None (or ignored) when N = 0.
        initial_states: None, or a list with one entry per group, each None
            (zeros) or float32 [B, h_g, w_g, c_g] (`initial_state_shapes()`).
            Not with `conditioning_frames`.
        conditioning_frames: DVD-GAN-FP only (required there): float
            [B, C, H, W, 3] in [-1, 1], the real frames before the clip.
        training: batch statistics, moving-average and SN updates if True.

    Input shape:
        z [B, Z], labels [B].

    Output shape:
        float32 [B, T, H, W, 3], values in [-1, 1] (for DVD-GAN-FP: the T
        frames after the C context frames).
    """

    def __init__(
        self,
        resolution,
        num_frames,
        num_classes,
        channel_multiplier=96,
        latent_dim=120,
        embedding_dim=120,
        width_preset="B",
        use_attention=False,
        seed=0,
        num_conditioning_frames=0,
        conditioning_levels="all",
        conv_gru_initial_state="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if conv_gru_initial_state not in INITIAL_STATES:
            raise ValueError(
                f"Generator: conv_gru_initial_state must be one of "
                f"{INITIAL_STATES}; received: {conv_gru_initial_state!r}"
            )
        self.conv_gru_initial_state = conv_gru_initial_state
        _positive_int(num_frames, "num_frames")
        _positive_int(num_classes, "num_classes", allow_zero=True)
        _positive_int(latent_dim, "latent_dim")
        _positive_int(embedding_dim, "embedding_dim")
        self.widths = tuple(
            group_widths(resolution, channel_multiplier, width_preset)
        )
        self.resolution = resolution
        self.num_frames = num_frames
        self.num_classes = num_classes
        self.channel_multiplier = channel_multiplier
        self.latent_dim = latent_dim
        self.embedding_dim = embedding_dim
        self.width_preset = WidthPreset(width_preset).value
        self.use_attention = bool(use_attention)
        self.seed = seed
        _positive_int(
            num_conditioning_frames, "num_conditioning_frames", allow_zero=True
        )
        self.num_conditioning_frames = num_conditioning_frames
        self.conditioning_levels = conditioning_levels
        if self.use_attention and self.widths[0][0] < 8:
            raise ValueError(
                "Generator: attention needs at least 8 channels in the first "
                f"group; received widths {self.widths} (raise "
                "`channel_multiplier` or set use_attention=False)"
            )

        def seed_for(name):
            return spectral_norm.derive_seed(seed, name)

        self.conditioning_dim = latent_dim + (
            embedding_dim if num_classes else 0
        )
        self.class_embedding = None
        if num_classes:
            self.class_embedding = keras.layers.Embedding(
                num_classes,
                embedding_dim,
                embeddings_initializer=keras.initializers.Orthogonal(
                    seed=seed_for("class_embedding")
                ),
                name="class_embedding",
            )
        first_width = self.widths[0][0]
        self.input_linear = spectral_norm.SNDense(
            BASE_SIZE * BASE_SIZE * first_width,
            seed=seed_for("input_linear"),
            name="input_linear",
        )
        self.conv_grus = []
        self.first_blocks = []
        self.second_blocks = []
        for index, (state_width, out_width) in enumerate(self.widths):
            prefix = f"group_{index + 1}"
            self.conv_grus.append(
                conv_gru.ConvGRU(
                    seed=seed_for(f"{prefix}_conv_gru"),
                    name=f"{prefix}_conv_gru",
                )
            )
            self.first_blocks.append(
                blocks.GBlock(
                    state_width,
                    upsample=False,
                    num_frames=num_frames,
                    seed=seed_for(f"{prefix}_block_1"),
                    name=f"{prefix}_block_1",
                )
            )
            self.second_blocks.append(
                blocks.GBlock(
                    out_width,
                    upsample=True,
                    num_frames=num_frames,
                    seed=seed_for(f"{prefix}_block_2"),
                    name=f"{prefix}_block_2",
                )
            )
        self.attention_layers = []
        if self.use_attention:
            self.attention_layers = [
                attention.SelfAttention(
                    "all", seed=seed_for("attention"), name="attention"
                )
            ] + [
                attention.SelfAttention(
                    axes,
                    seed=seed_for(f"separable_attention_{axes}"),
                    name=f"separable_attention_{axes}",
                )
                for axes in ("height", "width", "time")
            ]
        self.final_bn = normalization.ClassConditionalBatchNorm(
            num_frames, seed=seed_for("final_bn"), name="final_bn"
        )
        self.final_conv = spectral_norm.SNConv2D(
            3,
            3,
            seed=seed_for("final_conv"),
            dtype="float32",
            name="final_conv",
        )
        self.conditioning_encoder = None
        if num_conditioning_frames:
            self.conditioning_encoder = context_encoder.ContextEncoder(
                resolution,
                num_conditioning_frames,
                self.initial_state_shapes(),
                channel_multiplier=channel_multiplier,
                levels=conditioning_levels,
                seed=seed_for("conditioning_encoder"),
                name="conditioning_encoder",
            )

    def initial_state_shapes(self) -> list[tuple[int, int, int]]:
        """(h_g, w_g, c_g) of each group's ConvGRU state, from 4x4 upwards."""
        return [
            (BASE_SIZE * 2**g, BASE_SIZE * 2**g, state_width)
            for g, (state_width, _) in enumerate(self.widths)
        ]

    def build(self, input_shape=None):
        """Creates every variable from the configuration (no data needed)."""
        cond_shape = (None, self.conditioning_dim)
        if self.class_embedding is not None:
            self.class_embedding.build((None,))
        self.input_linear.build(cond_shape)
        folded_cond = (None, self.conditioning_dim)
        in_width = self.widths[0][0]
        for g, (state_width, out_width) in enumerate(self.widths):
            size = BASE_SIZE * 2**g
            self.conv_grus[g].build(
                (None, self.num_frames, size, size, in_width)
            )
            if g == 0 and self.use_attention:
                self.attention_layers[0].build(
                    (None, self.num_frames, size, size, state_width)
                )
            block_1, block_2 = self.first_blocks[g], self.second_blocks[g]
            block_1.build((None, size, size, state_width), folded_cond)
            if g == len(self.widths) - 1 and self.use_attention:
                for layer in self.attention_layers[1:]:
                    layer.build(
                        (None, self.num_frames, size, size, state_width)
                    )
            block_2.build((None, size, size, state_width), folded_cond)
            in_width = out_width
        final_shape = (None, self.resolution, self.resolution, in_width)
        self.final_bn.build(final_shape, folded_cond)
        self.final_conv.build(final_shape)
        if self.conditioning_encoder is not None:
            self.conditioning_encoder.build()

    def _conditioning(self, z, labels, training):
        z = ops.cast(z, self.compute_dtype)
        if z.shape[-1] != self.latent_dim:
            raise ValueError(
                f"Generator: expected z of shape [B, {self.latent_dim}]; "
                f"received shape {tuple(z.shape)}"
            )
        if self.class_embedding is None:
            return z
        if labels is None:
            raise ValueError(
                f"Generator: num_classes={self.num_classes} needs `labels` "
                "(int32 [B]); received None"
            )
        embedded = self.class_embedding(ops.cast(labels, "int32"))
        return ops.concatenate([z, ops.cast(embedded, z.dtype)], axis=-1)

    def _validate_initial_states(self, initial_states):
        if initial_states is None:
            return [None] * len(self.widths)
        initial_states = list(initial_states)
        if len(initial_states) != len(self.widths):
            raise ValueError(
                f"Generator: `initial_states` needs one entry per group "
                f"({len(self.widths)}, shapes [B, h, w, c] for "
                f"{self.initial_state_shapes()}); received "
                f"{len(initial_states)} entries"
            )
        return initial_states

    def _initial_states(self, initial_states, conditioning_frames, training):
        if self.conditioning_encoder is None:
            if conditioning_frames is not None:
                raise ValueError(
                    "Generator: `conditioning_frames` given to a synthesis "
                    "generator (num_conditioning_frames=0)"
                )
            return self._validate_initial_states(initial_states)
        if conditioning_frames is None or initial_states is not None:
            raise ValueError(
                "Generator: a DVD-GAN-FP generator (num_conditioning_frames="
                f"{self.num_conditioning_frames}) needs `conditioning_frames` "
                f"[B, {self.num_conditioning_frames}, {self.resolution}, "
                f"{self.resolution}, 3] and no `initial_states`"
            )
        return self.conditioning_encoder(conditioning_frames, training=training)

    def call(
        self,
        z,
        labels=None,
        initial_states=None,
        conditioning_frames=None,
        training=False,
    ):
        initial_states = self._initial_states(
            initial_states, conditioning_frames, training
        )
        conditioning = self._conditioning(z, labels, training)
        frames = self.num_frames
        # Batch-major repetition, matching the [B, T] -> [B * T] fold below.
        frame_conditioning = ops.repeat(conditioning, frames, axis=0)
        first_width = self.widths[0][0]
        x = self.input_linear(conditioning, training=training)
        x = ops.reshape(x, (-1, BASE_SIZE, BASE_SIZE, first_width))
        x = ops.repeat(ops.expand_dims(x, 1), frames, axis=1)
        last = len(self.widths) - 1
        for g in range(len(self.widths)):
            state = initial_states[g]
            if state is None and self.conv_gru_initial_state == "input":
                state = x[:, 0]
            x = self.conv_grus[g](x, state, training=training)
            if g == 0 and self.use_attention:
                x = self.attention_layers[0](x, training=training)
            clip_shape = tuple(x.shape[2:])
            h = ops.reshape(x, (-1,) + clip_shape)
            block_1, block_2 = self.first_blocks[g], self.second_blocks[g]
            h = block_1(h, frame_conditioning, training=training)
            if g == last and self.use_attention:
                h = ops.reshape(h, (-1, frames) + tuple(h.shape[1:]))
                for layer in self.attention_layers[1:]:
                    h = layer(h, training=training)
                h = ops.reshape(h, (-1,) + tuple(h.shape[2:]))
            h = block_2(h, frame_conditioning, training=training)
            x = ops.reshape(h, (-1, frames) + tuple(h.shape[1:]))
        h = ops.reshape(x, (-1,) + tuple(x.shape[2:]))
        h = ops.relu(self.final_bn(h, frame_conditioning, training=training))
        h = ops.tanh(self.final_conv(h, training=training))
        return ops.reshape(h, (-1, frames, self.resolution, self.resolution, 3))

    def get_config(self):
        """The builder arguments (JSON-serialisable).

        The dtype policy is deliberately left out: a generator trained under
        `mixed_bfloat16` is rebuilt under the loader's global policy (float32
        for export and evaluation unless the loader sets another).
        """
        return {
            "name": self.name,
            "trainable": self.trainable,
            "resolution": self.resolution,
            "num_frames": self.num_frames,
            "num_classes": self.num_classes,
            "channel_multiplier": self.channel_multiplier,
            "latent_dim": self.latent_dim,
            "embedding_dim": self.embedding_dim,
            "width_preset": self.width_preset,
            "use_attention": self.use_attention,
            "seed": self.seed,
            "num_conditioning_frames": self.num_conditioning_frames,
            "conditioning_levels": self.conditioning_levels,
            "conv_gru_initial_state": self.conv_gru_initial_state,
        }

    @classmethod
    def from_config(cls, config):
        model = cls(**config)
        model.build()
        return model


def build_generator(
    resolution: int,
    num_frames: int,
    num_classes: int,
    channel_multiplier: int = 96,
    latent_dim: int = 120,
    embedding_dim: int = 120,
    width_preset: str = "B",
    use_attention: bool = False,
    seed: int | None = 0,
    num_conditioning_frames: int = 0,
    conditioning_levels: str = "all",
    conv_gru_initial_state: str = "zeros",
) -> Generator:
    """Builds a DVD-GAN generator with all its variables created.

    Args:
        resolution: output H = W, in SUPPORTED_RESOLUTIONS.
        num_frames: T.
        num_classes: N; 0 for unconditional generation.
        channel_multiplier: ch (96 in the paper-scale configs).
        latent_dim: Z (120 in the paper).
        embedding_dim: class-embedding size (120 in the paper).
        width_preset: "B" (compact, default) or "A" (BigGAN widths).
        use_attention: v1 attention layers (off by default).
        seed: initializer seed, or None for keras' global RNG.
        num_conditioning_frames: C > 0 for DVD-GAN-FP (T is then the number
            of predicted frames).
        conditioning_levels: "all" or "first": the ConvGRU levels the
            DVD-GAN-FP encoder initialises (docs/DESIGN.md D4).
        conv_gru_initial_state: "zeros" (paper, decision 3) or "input".

    Returns:
        A built `Generator` named "generator".
    """
    model = Generator(
        resolution=resolution,
        num_frames=num_frames,
        num_classes=num_classes,
        channel_multiplier=channel_multiplier,
        latent_dim=latent_dim,
        embedding_dim=embedding_dim,
        width_preset=width_preset,
        use_attention=use_attention,
        seed=seed,
        num_conditioning_frames=num_conditioning_frames,
        conditioning_levels=conditioning_levels,
        conv_gru_initial_state=conv_gru_initial_state,
        name="generator",
    )
    model.build()
    return model


def whole_clip(generator, z, labels=None, context=None, training=False):
    """The clip a generator makes, as a discriminator or a viewer sees it.

    The one place the DVD-GAN-FP clip is assembled: training (the clip D_S
    and D_T judge), the sample grid, the samplers, the SavedModel and
    evaluation all call this.

    Args:
        generator: a `Generator`.
        z: float32 [B, Z].
        labels: int32 [B], or None when unconditional.
        context: DVD-GAN-FP only (required there, None otherwise): float
            [B, C, H, W, 3] in [-1, 1], the real frames the prediction
            continues.
        training: Keras training flag.

    Returns:
        Synthesis: G's video [B, T, H, W, 3]. DVD-GAN-FP: the whole clip
        [B, C + T, H, W, 3], the C context frames unchanged followed by the
        T predicted ones (cast to the context's dtype).
    """
    if context is None:  # Synthesis (an FP generator raises: no context).
        return generator(z, labels, training=training)
    prediction = generator(
        z, labels, conditioning_frames=context, training=training
    )
    dtype = keras.backend.standardize_dtype(context.dtype)
    return ops.concatenate([context, ops.cast(prediction, dtype)], axis=1)


def num_conditioning_frames(generator) -> int:
    """C: the real context frames a DVD-GAN-FP generator continues; 0 for
    a synthesis generator (and for any model without the attribute)."""
    return int(getattr(generator, "num_conditioning_frames", 0))


def clip_frames(generator) -> int:
    """Frames of the clips it is judged on: C context + T generated."""
    return num_conditioning_frames(generator) + int(generator.num_frames)
