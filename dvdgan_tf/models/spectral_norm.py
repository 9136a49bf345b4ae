"""Spectrally normalised Dense, Conv2D, Conv3D and Embedding layers.

Implements the weight normalisation of DVD-GAN (arXiv 1907.06571 v2, training
details: "spectral normalisation on all weight layers", one power iteration),
in the SN-GAN (Miyato et al. 2018) / BigGAN-PyTorch form:

  * each layer owns its raw kernel W (trainable) and a power-iteration vector
    u (non-trainable, float32);
  * `call` computes sigma(W) with one power iteration and uses W / sigma(W);
    u and v are wrapped in `stop_gradient`, sigma is not, so the gradient
    flows through sigma exactly as in SN-GAN and BigGAN;
  * the normalised kernel is never written back (unlike
    `keras.layers.SpectralNormalization`, which assigns W / sigma to the
    kernel and so blocks the gradient through sigma, docs/DESIGN.md K11);
  * u is updated only when `training=True`; inference calls change nothing.

Choices (not facts from the paper):

  * eps = 1e-8 in the l2 normalisations (BigGAN-PyTorch default).
  * The kernel is viewed as a matrix [fan_in, units] (Dense/Conv) or
    [N, D] (Embedding); u has the size of the matrix's last axis.
  * u uses `aggregation="only_first_replica"`: u depends only on the weights,
    which are identical on every replica, so every replica computes the same
    update; taking the first replica's value keeps the copies bit-identical
    without an all-reduce.
  * sigma is computed in float32 even under a mixed policy; the normalised
    kernel is cast to the compute dtype afterwards.
  * `SNEmbedding` returns floats for integer ids and has no `input_spec`, so
    it accepts any batch size (keras' SN wrapper casts the output back to the
    id dtype and pins the batch size, docs/DESIGN.md K11).
"""

import zlib

import keras
from keras import ops

DEFAULT_EPSILON = 1e-8


def derive_seed(seed: int | None, name: str) -> int | None:
    """Derives a stable per-layer seed from a model seed and a layer name.

    Args:
        seed: the parent seed, or None for keras' global RNG.
        name: the sub-layer's name, unique within its parent.

    Returns:
        A non-negative int32 seed, or None when `seed` is None.
    """
    if seed is None:
        return None
    return zlib.crc32(f"{seed}/{name}".encode()) & 0x7FFFFFFF


def _l2_normalize(x, epsilon):
    return x / (ops.sqrt(ops.sum(ops.square(x))) + epsilon)


def normalize_kernel(kernel, u_variable, training: bool, epsilon: float):
    """Returns kernel / sigma(kernel) with one power iteration.

    Args:
        kernel: float32 tensor of any rank >= 2; viewed as a matrix
            [prod(shape[:-1]), shape[-1]].
        u_variable: float32 variable [1, shape[-1]], the power-iteration
            vector; assigned the new estimate when `training` is True.
        training: whether to update `u_variable`.
        epsilon: added to norms before dividing.

    Returns:
        float32 tensor, same shape as `kernel`, with top singular value
        approximately 1.
    """
    # The scope names these ops in profiles (bench/train_step.py).
    with keras.name_scope("spectral_norm"):
        kernel = ops.cast(kernel, "float32")
        matrix = ops.reshape(kernel, (-1, kernel.shape[-1]))
        u = ops.stop_gradient(ops.convert_to_tensor(u_variable))
        v = ops.stop_gradient(
            _l2_normalize(ops.matmul(u, ops.transpose(matrix)), epsilon)
        )
        u_new = ops.stop_gradient(_l2_normalize(ops.matmul(v, matrix), epsilon))
        sigma = ops.sum(ops.matmul(v, matrix) * u_new)
        if training:
            u_variable.assign(u_new)
        return kernel / sigma


def _add_u(layer, units, seed):
    return layer.add_weight(
        name="sn_u",
        shape=(1, units),
        initializer=keras.initializers.RandomNormal(
            seed=derive_seed(seed, "sn_u")
        ),
        dtype="float32",
        trainable=False,
        autocast=False,
        aggregation="only_first_replica",
    )


def _kernel_initializer(seed):
    return keras.initializers.Orthogonal(seed=derive_seed(seed, "kernel"))


def _validate_positive(value, arg, layer):
    if not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"{layer}: expected `{arg}` to be a positive int; received: "
            f"{arg}={value!r}"
        )


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class SNDense(keras.layers.Layer):
    """Spectrally normalised dense layer (orthogonal init).

    Args:
        units: output size.
        use_bias: whether to add a bias (zeros init).
        epsilon: power-iteration epsilon.
        seed: int seed of the initializers, or None (global RNG).

    Input shape:
        [..., D_in].

    Output shape:
        [..., units].

    Reference: Miyato et al., "Spectral Normalization for GANs", 2018.
    """

    def __init__(
        self, units, use_bias=True, epsilon=DEFAULT_EPSILON, seed=None, **kwargs
    ):
        super().__init__(**kwargs)
        _validate_positive(units, "units", "SNDense")
        self.units = units
        self.use_bias = use_bias
        self.epsilon = epsilon
        self.seed = seed

    def build(self, input_shape):
        in_dim = input_shape[-1]
        if in_dim is None:
            raise ValueError(
                "SNDense needs a known last input dimension; received: "
                f"input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=(in_dim, self.units),
            initializer=_kernel_initializer(self.seed),
        )
        self.bias = (
            self.add_weight(
                name="bias", shape=(self.units,), initializer="zeros"
            )
            if self.use_bias
            else None
        )
        self.u = _add_u(self, self.units, self.seed)

    def call(self, inputs, training=False):
        kernel = normalize_kernel(
            self.kernel, self.u, bool(training), self.epsilon
        )
        outputs = ops.matmul(inputs, ops.cast(kernel, self.compute_dtype))
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.units,)

    def get_config(self):
        config = super().get_config()
        config.update(
            units=self.units,
            use_bias=self.use_bias,
            epsilon=self.epsilon,
            seed=self.seed,
        )
        return config


class _SNConv(keras.layers.Layer):
    """Shared body of SNConv2D / SNConv3D ("same" padding, stride 1)."""

    rank = None

    def __init__(
        self,
        filters,
        kernel_size,
        use_bias=True,
        epsilon=DEFAULT_EPSILON,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        name = type(self).__name__
        _validate_positive(filters, "filters", name)
        if isinstance(kernel_size, int):
            kernel_size = (kernel_size,) * self.rank
        kernel_size = tuple(kernel_size)
        if len(kernel_size) != self.rank or min(kernel_size) <= 0:
            raise ValueError(
                f"{name}: expected `kernel_size` to be a positive int or a "
                f"tuple of {self.rank} positive ints; received: "
                f"kernel_size={kernel_size}"
            )
        self.filters = filters
        self.kernel_size = kernel_size
        self.use_bias = use_bias
        self.epsilon = epsilon
        self.seed = seed

    def build(self, input_shape):
        if len(input_shape) != self.rank + 2 or input_shape[-1] is None:
            raise ValueError(
                f"{type(self).__name__} expects inputs of rank "
                f"{self.rank + 2} with known channels; received: "
                f"input_shape={input_shape}"
            )
        self.kernel = self.add_weight(
            name="kernel",
            shape=self.kernel_size + (input_shape[-1], self.filters),
            initializer=_kernel_initializer(self.seed),
        )
        self.bias = (
            self.add_weight(
                name="bias", shape=(self.filters,), initializer="zeros"
            )
            if self.use_bias
            else None
        )
        self.u = _add_u(self, self.filters, self.seed)

    def call(self, inputs, training=False):
        return self.convolve(inputs, self.normalized_kernel(training))

    def normalized_kernel(self, training=False):
        """W / sigma(W) in the compute dtype; updates u if `training`.

        Lets a recurrent caller (ConvGRU) normalise once per clip and reuse
        the kernel for every frame with `convolve`.
        """
        kernel = normalize_kernel(
            self.kernel, self.u, bool(training), self.epsilon
        )
        return ops.cast(kernel, self.compute_dtype)

    def convolve(self, inputs, kernel):
        """Convolution with a given (normalised) kernel, plus the bias."""
        outputs = ops.conv(inputs, kernel, strides=1, padding="same")
        if self.bias is not None:
            outputs = outputs + self.bias
        return outputs

    def compute_output_shape(self, input_shape):
        return tuple(input_shape[:-1]) + (self.filters,)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=list(self.kernel_size),
            use_bias=self.use_bias,
            epsilon=self.epsilon,
            seed=self.seed,
        )
        return config


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class SNConv2D(_SNConv):
    """Spectrally normalised 2-D convolution, "same" padding, stride 1.

    Args:
        filters: output channels.
        kernel_size: int or (kh, kw).
        use_bias: whether to add a bias (zeros init).
        epsilon: power-iteration epsilon.
        seed: int seed of the initializers, or None.

    Input shape:
        [B, H, W, C_in].

    Output shape:
        [B, H, W, filters].
    """

    rank = 2


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class SNConv3D(_SNConv):
    """Spectrally normalised 3-D convolution, "same" padding, stride 1.

    Args:
        filters: output channels.
        kernel_size: int or (kt, kh, kw).
        use_bias: whether to add a bias (zeros init).
        epsilon: power-iteration epsilon.
        seed: int seed of the initializers, or None.

    Input shape:
        [B, T, H, W, C_in].

    Output shape:
        [B, T, H, W, filters].
    """

    rank = 3


@keras.saving.register_keras_serializable(package="dvdgan_tf")
class SNEmbedding(keras.layers.Layer):
    """Spectrally normalised embedding table (projection discriminators).

    Args:
        input_dim: number of ids N.
        output_dim: embedding size D.
        epsilon: power-iteration epsilon.
        seed: int seed of the initializers, or None.

    Input shape:
        int [...], ids in [0, N).

    Output shape:
        float [..., D] (compute dtype, whatever the id dtype).
    """

    def __init__(
        self,
        input_dim,
        output_dim,
        epsilon=DEFAULT_EPSILON,
        seed=None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        _validate_positive(input_dim, "input_dim", "SNEmbedding")
        _validate_positive(output_dim, "output_dim", "SNEmbedding")
        self.input_dim = input_dim
        self.output_dim = output_dim
        self.epsilon = epsilon
        self.seed = seed

    def build(self, input_shape=None):
        self.embeddings = self.add_weight(
            name="embeddings",
            shape=(self.input_dim, self.output_dim),
            initializer=_kernel_initializer(self.seed),
        )
        self.u = _add_u(self, self.output_dim, self.seed)

    def call(self, inputs, training=False):
        table = normalize_kernel(
            self.embeddings, self.u, bool(training), self.epsilon
        )
        ids = ops.cast(inputs, "int32")
        return ops.take(ops.cast(table, self.compute_dtype), ids, axis=0)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape) + (self.output_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            input_dim=self.input_dim,
            output_dim=self.output_dim,
            epsilon=self.epsilon,
            seed=self.seed,
        )
        return config
