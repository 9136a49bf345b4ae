"""Convolutional GRU, unrolled once per frame (DVD-GAN's recurrent core).

Implements the ConvGRU of the DVD-GAN v2 generator (arXiv 1907.06571v2,
generator description) in the form of DeepMind's DGMR ConvGRU (SPEC 1.2):
with x_t the input and h the state,

    r = sigmoid(conv_r([x_t, h]))          reset gate
    u = sigmoid(conv_u([x_t, h]))          update gate
    c = relu(conv_c([x_t, r * h]))         candidate (ReLU, not tanh)
    h = u * h + (1 - u) * c                output_t = new h

All three convolutions are 3x3, spectrally normalised, orthogonally
initialised, with as many output channels as the state.

Choices (not facts from the paper):

  * State channels = input channels (the GRU does not change width).
  * The initial state is zeros unless one is given (DVD-GAN-FP passes
    encoder features).
  * The loop over time is a Python loop over the static T (12 or 48 frames),
    so each step is visible to XLA and no `while` op is needed.
  * No normalisation inside the GRU (none in the paper figure or in DGMR).
"""

import keras
from keras import ops

from dvdgan_tf.models import spectral_norm


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class ConvGRU(keras.layers.Layer):
    """ConvGRU over a clip; frame t's output depends only on frames <= t.

    Args:
        kernel_size: spatial size of the three convolutions.
        seed: int seed of the initializers, or None.

    Call arguments:
        inputs: float [B, T, H, W, C].
        initial_state: None (zeros) or float [B, H, W, C].
        training: updates the convolutions' SN vectors if True.

    Input shape:
        [B, T, H, W, C].

    Output shape:
        [B, T, H, W, C]: the state after each frame.

    Reference: Ballas et al. 2016 (ConvGRU); Ravuri et al. 2021 (DGMR).
    """

    def __init__(self, kernel_size=3, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(kernel_size, int) or kernel_size <= 0:
            raise ValueError(
                "ConvGRU: expected `kernel_size` to be a positive int; "
                f"received: kernel_size={kernel_size!r}"
            )
        self.kernel_size = kernel_size
        self.seed = seed

    def build(self, inputs_shape, initial_state_shape=None):
        if len(inputs_shape) != 5 or inputs_shape[1] is None:
            raise ValueError(
                "ConvGRU expects inputs [B, T, H, W, C] with a static T; "
                f"received: inputs_shape={inputs_shape}"
            )
        channels = inputs_shape[-1]
        frame_shape = (
            (inputs_shape[0],) + tuple(inputs_shape[2:4]) + (2 * channels,)
        )
        for name in ("reset_gate", "update_gate", "candidate"):
            conv = spectral_norm.SNConv2D(
                channels,
                self.kernel_size,
                seed=spectral_norm.derive_seed(self.seed, name),
                name=name,
            )
            conv.build(frame_shape)
            setattr(self, name, conv)

    def call(self, inputs, initial_state=None, training=False):
        num_frames = inputs.shape[1]
        if initial_state is None:
            state = ops.zeros_like(inputs[:, 0])
        else:
            state = ops.cast(initial_state, inputs.dtype)
            if tuple(state.shape[1:]) != tuple(inputs.shape[2:]):
                raise ValueError(
                    "ConvGRU: `initial_state` must be [B, H, W, C] = "
                    f"[B, {', '.join(str(d) for d in inputs.shape[2:])}]; "
                    f"received shape {tuple(state.shape)}"
                )
        # Normalise each kernel once per clip (one power iteration per call,
        # the same W / sigma for every frame), then unroll over frames.
        reset_kernel = self.reset_gate.normalized_kernel(training)
        update_kernel = self.update_gate.normalized_kernel(training)
        candidate_kernel = self.candidate.normalized_kernel(training)
        outputs = []
        for t in range(num_frames):
            x = inputs[:, t]
            xh = ops.concatenate([x, state], axis=-1)
            reset = ops.sigmoid(self.reset_gate.convolve(xh, reset_kernel))
            update = ops.sigmoid(self.update_gate.convolve(xh, update_kernel))
            candidate = ops.relu(
                self.candidate.convolve(
                    ops.concatenate([x, reset * state], axis=-1),
                    candidate_kernel,
                )
            )
            state = update * state + (1.0 - update) * candidate
            outputs.append(state)
        return ops.stack(outputs, axis=1)

    def compute_output_shape(self, inputs_shape, initial_state_shape=None):
        return inputs_shape

    def get_config(self):
        config = super().get_config()
        config.update(kernel_size=self.kernel_size, seed=self.seed)
        return config
