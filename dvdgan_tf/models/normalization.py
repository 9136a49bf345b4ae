"""Class-conditional batch normalisation with per-time-step statistics.

Implements G's normalisation (arXiv 1907.06571v2 generator description;
SPEC 1.5):
plain batch normalisation without learned scale/offset, followed by a
per-channel affine transform predicted from the conditioning vector
c = [z; e(y)]:

    y = (x - mean_t) / sqrt(var_t + eps) * (1 + gain(c)) + bias(c)

with `gain` and `bias` bias-free spectrally normalised linear maps
(BigGAN-PyTorch `ccbn`).

  * Statistics are computed **per time step** (paper: "we do not reduce over
    the time dimension when calculating BatchNorm statistics"). Frames arrive
    folded batch-major into the batch axis, [B * T, H, W, C]; the layer
    unfolds them to [B, T, H, W, C] and reduces over (B, H, W), so one frame
    never sees another frame's statistics.
  * Statistics are **synchronised across replicas**: inside a replica context
    with more than one replica, the local sums, squared sums and counts are
    all-reduced (SUM) before the moments are formed (the method of keras'
    `BatchNormalization(synchronized=True)`). This is what BigGAN does on TPU
    pods and keeps per-replica batches of 1-4 clips usable.
  * Moving statistics have shape [T, C] and are used when `training=False`.
    Momentum 0.99 (keras default; choice, not from the paper), eps 1e-5
    (BigGAN). Because they are computed from all-reduced moments they are
    identical on every replica; the variables use
    `aggregation="only_first_replica"` so the copies stay bit-identical.
  * Moments are computed in float32 under mixed precision.
"""

import keras
import tensorflow as tf
from keras import ops

from dvdgan_tf.models import spectral_norm

DEFAULT_MOMENTUM = 0.99
DEFAULT_EPSILON = 1e-5


def _cross_replica_sum(x):
    """All-reduces `x` over replicas when inside a multi-replica context.

    TF-only (keras.ops has no collective ops): tf.distribute replica context.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync <= 1:
        return x
    return context.all_reduce(tf.distribute.ReduceOp.SUM, x)


def per_time_step_moments(inputs, num_frames: int):
    """Mean and (biased) variance per (t, c), synchronised across replicas.

    Args:
        inputs: float [B * T, H, W, C], frames folded batch-major.
        num_frames: T.

    Returns:
        (mean, variance), float32 [T, C] each.
    """
    x = ops.cast(inputs, "float32")
    x = ops.reshape(x, (-1, num_frames) + tuple(x.shape[1:]))
    local_sum = ops.sum(x, axis=(0, 2, 3))
    local_square_sum = ops.sum(ops.square(x), axis=(0, 2, 3))
    local_count = ops.cast(
        ops.shape(x)[0] * ops.shape(x)[2] * ops.shape(x)[3], "float32"
    )
    packed = ops.concatenate(
        [
            ops.reshape(local_sum, (-1,)),
            ops.reshape(local_square_sum, (-1,)),
            ops.reshape(local_count, (1,)),
        ],
        axis=0,
    )
    packed = _cross_replica_sum(packed)
    size = num_frames * x.shape[-1]
    count = packed[-1]
    mean = ops.reshape(packed[:size], (num_frames, -1)) / count
    square_mean = ops.reshape(packed[size : 2 * size], (num_frames, -1)) / count
    variance = ops.maximum(square_mean - ops.square(mean), 0.0)
    return mean, variance


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class ClassConditionalBatchNorm(keras.layers.Layer):
    """Per-time-step, cross-replica BN with a gain/bias predicted from c.

    Args:
        num_frames: T, the number of frames folded into the batch axis.
        momentum: moving-statistics momentum.
        epsilon: variance epsilon.
        seed: int seed of the SN linears' initializers, or None.

    Call arguments:
        inputs: float [B * T, H, W, C], frames folded batch-major.
        conditioning: float [B * T, D], c repeated per frame the same way.
        training: batch statistics (and moving-average update) if True,
            moving statistics otherwise.

    Input shape:
        inputs [B * T, H, W, C], conditioning [B * T, D].

    Output shape:
        [B * T, H, W, C].

    Reference: de Vries et al. 2017 (conditional BN); BigGAN-PyTorch `ccbn`.
    """

    def __init__(
        self,
        num_frames,
        momentum=DEFAULT_MOMENTUM,
        epsilon=DEFAULT_EPSILON,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(num_frames, int) or num_frames <= 0:
            raise ValueError(
                "ClassConditionalBatchNorm: expected `num_frames` to be a "
                f"positive int; received: num_frames={num_frames!r}"
            )
        if not 0.0 <= momentum < 1.0:
            raise ValueError(
                "ClassConditionalBatchNorm: expected 0 <= momentum < 1; "
                f"received: momentum={momentum}"
            )
        self.num_frames = num_frames
        self.momentum = momentum
        self.epsilon = epsilon
        self.seed = seed

    def build(self, inputs_shape, conditioning_shape):
        channels = inputs_shape[-1]
        if len(inputs_shape) != 4 or channels is None:
            raise ValueError(
                "ClassConditionalBatchNorm expects inputs [B * T, H, W, C] "
                f"with known C; received: inputs_shape={inputs_shape}"
            )
        self.gain_linear = spectral_norm.SNDense(
            channels,
            use_bias=False,
            seed=spectral_norm.derive_seed(self.seed, "gain_linear"),
            name="gain_linear",
        )
        self.bias_linear = spectral_norm.SNDense(
            channels,
            use_bias=False,
            seed=spectral_norm.derive_seed(self.seed, "bias_linear"),
            name="bias_linear",
        )
        self.gain_linear.build(conditioning_shape)
        self.bias_linear.build(conditioning_shape)
        self.moving_mean = self.add_weight(
            name="moving_mean",
            shape=(self.num_frames, channels),
            initializer="zeros",
            dtype="float32",
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
        )
        self.moving_variance = self.add_weight(
            name="moving_variance",
            shape=(self.num_frames, channels),
            initializer="ones",
            dtype="float32",
            trainable=False,
            autocast=False,
            aggregation="only_first_replica",
        )

    def call(self, inputs, conditioning, training=False):
        if training:
            mean, variance = per_time_step_moments(inputs, self.num_frames)
            self.moving_mean.assign(
                self.momentum * self.moving_mean + (1.0 - self.momentum) * mean
            )
            self.moving_variance.assign(
                self.momentum * self.moving_variance
                + (1.0 - self.momentum) * variance
            )
        else:
            mean = ops.convert_to_tensor(self.moving_mean)
            variance = ops.convert_to_tensor(self.moving_variance)
        x = ops.cast(inputs, "float32")
        x = ops.reshape(x, (-1, self.num_frames) + tuple(x.shape[1:]))
        mean = ops.reshape(mean, (1, self.num_frames, 1, 1, -1))
        inv_std = ops.rsqrt(
            ops.reshape(variance, (1, self.num_frames, 1, 1, -1)) + self.epsilon
        )
        normalized = ops.reshape(
            (x - mean) * inv_std, (-1,) + tuple(inputs.shape[1:])
        )
        normalized = ops.cast(normalized, self.compute_dtype)
        gain = 1.0 + self.gain_linear(conditioning, training=training)
        bias = self.bias_linear(conditioning, training=training)
        return normalized * gain[:, None, None, :] + bias[:, None, None, :]

    def compute_output_shape(self, inputs_shape, conditioning_shape):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(
            num_frames=self.num_frames,
            momentum=self.momentum,
            epsilon=self.epsilon,
            seed=self.seed,
        )
        return config
