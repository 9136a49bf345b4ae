"""What one training step costs: FLOPs and memory, read from traced graphs.

Nothing here runs a step; every number comes from the static shapes of a
traced `tf.function` graph, so it works for configs far too large for the
machine it runs on (a 256x256 Kinetics config on a laptop CPU).
`tools/plan.py` turns these numbers into per-hardware fits and times;
`bench/train_step.py` divides the FLOPs by measured step times.
docs/PLANNING.md explains the model and states its measured error.

**FLOPs** (`forward_flops`, `step_flops`): each Conv2D / Conv3D / MatMul /
BatchMatMul op of a network's forward graph contributes

    conv:   2 * prod(output shape) * prod(kernel spatial) * C_in
    matmul: 2 * prod(output shape) * K            (K: contracted size)

and a layer's backward costs two forwards (input and weight gradients).
Elementwise ops, normalisation and reductions are not counted.

**Memory** (`step_memory`): what one replica holds at the peak of a step,

* persistent: every variable of the DVDGAN (G, D_S, D_T, the EMA copy of G,
  BN statistics, SN vectors) and of both optimizers (Adam's two slots);
* the per-replica input batch (S real batches of C + T frames);
* the peak phase's **saved activations**: the forward tensors that one
  ``tape.gradient`` call reads back. They are found in the graph of
  `DVDGAN.train_step` traced at the per-replica batch: the backward ops are
  the ``gradient_tape/`` ops and everything computed from them; connected
  backward ops form one gradient call (the two D steps and the G step are
  three); a forward tensor consumed by a ``gradient_tape/`` op of a call is
  saved for that call (variable reads and constants are weights, counted
  above). The G step saves G's activations and D's (D on B fakes); a D
  step saves D's on 2B clips (real + fake);
* that phase's gradients (one per trainable variable it updates);
* a backward working set of twice the largest saved tensor (the gradient
  flowing back and the one being computed).

Activation memory grows linearly with the per-replica batch, so two
traces (B = 1, 2) give ``bytes(B) = fixed + B * per_clip`` and the largest
batch that fits a device (`StepMemory.largest_batch`).

What the count cannot see: the allocator's fragmentation, XLA's buffer
assignment and rematerialisation, TPU layout padding (channels to multiples
of 128, the second-minor dimension to 8), framework reserves. Measured on
this project's CPU the prediction is within the error docs/PLANNING.md
states; on an accelerator treat it as an estimate and keep headroom
(`tools/plan.py --headroom`).
"""

from __future__ import annotations

import collections
import dataclasses

import numpy as np
import tensorflow as tf

from dvdgan_tf.models import generator as generator_lib

# --- FLOPs ------------------------------------------------------------------

_CONV_OPS = ("Conv2D", "Conv3D", "DepthwiseConv2dNative")
_BATCH_MATMUL_OPS = ("BatchMatMulV2", "BatchMatMulV3")
# Attributes through which a graph calls another function.
_FUNCTION_ATTRS = ("f", "then_branch", "else_branch", "body")


def _static(shape) -> list:
    return [int(d) if d is not None else None for d in shape]


def _op_flops(op) -> tuple[str, float] | None:
    """(op type, multiply-add FLOPs) of one conv/matmul op, else None."""
    if op.type in _CONV_OPS:
        out = _static(op.outputs[0].shape)
        kernel = _static(op.inputs[1].shape)
        return op.type, 2.0 * np.prod(out) * np.prod(kernel[:-1])
    if op.type == "MatMul":
        a = _static(op.inputs[0].shape)
        k = a[0] if op.get_attr("transpose_a") else a[-1]
        return op.type, 2.0 * np.prod(_static(op.outputs[0].shape)) * k
    if op.type in _BATCH_MATMUL_OPS:
        a = _static(op.inputs[0].shape)
        k = a[-2] if op.get_attr("adj_x") else a[-1]
        return op.type, 2.0 * np.prod(_static(op.outputs[0].shape)) * k
    return None


def _all_operations(graph):
    """The ops of `graph` and of every function it calls, recursively."""
    for op in graph.get_operations():
        yield op
        for attr in _FUNCTION_ATTRS:
            try:
                name = op.get_attr(attr).name
            except (ValueError, AttributeError):
                continue
            function = graph._functions.get(name)  # noqa: SLF001
            if function is not None:
                yield from _all_operations(function.graph)


def forward_flops(function, *args) -> dict:
    """Multiply-add FLOPs (2 per MAC) of the convs/matmuls of `function`.

    Traces `function` on `args` (tensors or `tf.TensorSpec`s) and reads each
    op's static shapes. Returns {op type: FLOPs, "total": sum}.
    """
    concrete = tf.function(function).get_concrete_function(*args)
    totals = collections.Counter()
    for op in _all_operations(concrete.graph):
        counted = _op_flops(op)
        if counted is not None:
            totals[counted[0]] += counted[1]
    result = {k: float(v) for k, v in totals.items()}
    result["total"] = float(sum(totals.values()))
    return result


def step_flops(model, batch_size: int) -> dict:
    """FLOPs of one training step on `batch_size` clips (one replica).

    F_G(B), F_D(B) = F_DS(B) + F_DT(B) (D on B clips). With S D steps:

      each D step:  G forward on B, D fwd + bwd on 2B (real + fake):
                    F_G(B) + 3 F_D(2B)
      the G step:   G fwd + bwd, D fwd + input gradient only:
                    3 F_G(B) + 2 F_D(B)

    Forward FLOPs scale linearly with B, so F(2B) = 2 F(B). For DVD-GAN-FP
    the discriminators see the whole C + T clip (D_S samples from its last
    T frames) and G's forward includes its context encoder.
    """
    generator = model.generator
    frames = generator_lib.clip_frames(generator)
    size = generator.resolution
    conditioning = model.num_conditioning_frames
    labels = (
        tf.TensorSpec([batch_size], tf.int32) if generator.num_classes else None
    )
    z = tf.TensorSpec([batch_size, generator.latent_dim], tf.float32)
    if conditioning:
        context = tf.TensorSpec(
            [batch_size, conditioning, size, size, 3], tf.float32
        )
        f_g = forward_flops(
            lambda z, y, c: generator_lib.whole_clip(
                generator, z, y, c, training=True
            ),
            z,
            labels,
            context,
        )["total"]
    else:
        f_g = forward_flops(
            lambda z, y: generator(z, y, training=True), z, labels
        )["total"]
    sampled = tf.TensorSpec(
        [batch_size, model.num_sampled_frames, size, size, 3], tf.float32
    )
    f_ds = forward_flops(
        lambda x, y: model.spatial_discriminator(x, y, training=True),
        sampled,
        labels,
    )["total"]
    pooled = tf.TensorSpec(
        [batch_size, frames, size // 2, size // 2, 3], tf.float32
    )
    f_dt = forward_flops(
        lambda x, y: model.temporal_discriminator(x, y, training=True),
        pooled,
        labels,
    )["total"]
    f_d = f_ds + f_dt
    steps = model.num_discriminator_steps
    d_steps = steps * (f_g + 3 * 2 * f_d)
    g_step = 3 * f_g + 2 * f_d
    return {
        "forward_generator": f_g,
        "forward_spatial_discriminator": f_ds,
        "forward_temporal_discriminator": f_dt,
        "discriminator_steps": d_steps,
        "generator_step": g_step,
        "step": d_steps + g_step,
    }


# --- parameters and variables ----------------------------------------------


def _bytes(variables) -> int:
    """Bytes of Keras or TF variables (Keras' dtype is a string)."""
    return int(
        sum(
            np.prod(tuple(v.shape), dtype=np.int64) * tf.as_dtype(v.dtype).size
            for v in variables
        )
    )


def parameter_counts(model) -> dict:
    """Trainable parameters of G, D_S and D_T (and their sum)."""

    def count(network):
        return int(
            sum(
                np.prod(tuple(v.shape), dtype=np.int64)
                for v in network.trainable_variables
            )
        )

    counts = {
        "generator": count(model.generator),
        "spatial_discriminator": count(model.spatial_discriminator),
        "temporal_discriminator": count(model.temporal_discriminator),
    }
    counts["total"] = sum(counts.values())
    return counts


def variable_bytes(model) -> dict:
    """Bytes of every variable a replica holds for the whole run.

    Keys: "networks" (G, D_S, D_T: weights, BN statistics, SN vectors),
    "ema_generator", "optimizers" (Adam's slots and counters of both).
    """
    networks = (
        model.generator.variables
        + model.spatial_discriminator.variables
        + model.temporal_discriminator.variables
    )
    optimizers = []
    for optimizer in (
        model.generator_optimizer,
        model.discriminator_optimizer,
    ):
        if optimizer is not None:
            optimizers += optimizer.variables
    return {
        "networks": _bytes(networks),
        "ema_generator": _bytes(model.ema_generator.variables),
        "optimizers": _bytes(optimizers),
    }


# --- saved activations ---------------------------------------------------

_WEIGHT_OPS = ("ReadVariableOp", "Const", "VarHandleOp", "Placeholder")
_GRADIENT_SCOPE = "gradient_tape/"


def _tensor_bytes(tensor) -> int:
    shape = tensor.shape
    if shape.rank is None or None in shape.as_list():
        raise ValueError(
            f"Cannot count the memory of {tensor.name}: its shape {shape} "
            "is not static. The step must be traced at a static batch."
        )
    return int(np.prod(shape.as_list(), dtype=np.int64)) * tensor.dtype.size


@dataclasses.dataclass(frozen=True)
class GradientCall:
    """The forward tensors one ``tape.gradient`` call reads back.

    Attributes:
        networks: the networks it differentiates through (the scopes of
            its ``gradient_tape/`` ops, e.g. ("generator",
            "spatial_discriminator", "temporal_discriminator") for the G
            step).
        saved_bytes: bytes of the distinct forward tensors it consumes.
        saved_by_network: those bytes split by the network that produced
            each tensor (keys of `networks`, or "other": losses, D inputs).
        largest_bytes: the largest of those tensors.
        num_tensors: how many.
    """

    networks: tuple[str, ...]
    saved_bytes: int
    saved_by_network: dict
    largest_bytes: int
    num_tensors: int


_NETWORKS = ("generator", "spatial_discriminator", "temporal_discriminator")


def _networks(op_names) -> tuple[str, ...]:
    scopes = set()
    for name in op_names:
        if name.startswith(_GRADIENT_SCOPE):
            scope = name[len(_GRADIENT_SCOPE) :].split("/")[0]
            scopes.update(n for n in _NETWORKS if scope.startswith(n))
    return tuple(n for n in _NETWORKS if n in scopes)


def _network_of(op_name: str) -> str:
    scope = op_name.split("/")[0]
    for network in _NETWORKS:
        if scope == network or scope.startswith(network + "_"):
            return network
    return "other"


def gradient_calls(graph) -> list[GradientCall]:
    """Every gradient computation of `graph`, largest saved memory first.

    See the module docstring: backward ops are the ``gradient_tape/`` ops
    and all ops computed from them; connected backward ops form one call.
    """
    operations = graph.get_operations()
    consumers = collections.defaultdict(list)
    for op in operations:
        for tensor in op.inputs:
            consumers[tensor.op.name].append(op)
    seeds = [op for op in operations if op.name.startswith(_GRADIENT_SCOPE)]
    backward = {op.name: op for op in seeds}
    stack = list(seeds)
    while stack:
        for consumer in consumers[stack.pop().name]:
            if consumer.name not in backward:
                backward[consumer.name] = consumer
                stack.append(consumer)
    # Union-find over data edges between backward ops.
    parent = {name: name for name in backward}

    def root(name):
        while parent[name] != name:
            parent[name] = parent[parent[name]]
            name = parent[name]
        return name

    for op in backward.values():
        for tensor in op.inputs:
            if tensor.op.name in backward:
                a, b = root(op.name), root(tensor.op.name)
                if a != b:
                    parent[a] = b
    saved = collections.defaultdict(dict)
    members = collections.defaultdict(list)
    for op in backward.values():
        members[root(op.name)].append(op.name)
        if not op.name.startswith(_GRADIENT_SCOPE):
            continue  # optimizer updates and gradient sums read no activation
        for tensor in op.inputs:
            producer = tensor.op
            if producer.name in backward or producer.type in _WEIGHT_OPS:
                continue
            saved[root(op.name)][tensor.name] = (
                _tensor_bytes(tensor),
                _network_of(producer.name),
            )
    calls = []
    for key, tensors in saved.items():
        sizes = [size for size, _ in tensors.values()]
        by_network = collections.Counter()
        for size, network in tensors.values():
            by_network[network] += size
        calls.append(
            GradientCall(
                networks=_networks(members[key]),
                saved_bytes=int(sum(sizes)),
                saved_by_network=dict(by_network),
                largest_bytes=int(max(sizes)),
                num_tensors=len(sizes),
            )
        )
    return sorted(calls, key=lambda call: -call.saved_bytes)


def step_input_spec(model, batch_size: int) -> dict:
    """What `model.train_step` reads per replica at batch `batch_size`:
    S real batches of C + T frames and their labels."""
    generator = model.generator
    steps = model.num_discriminator_steps
    frames = generator_lib.clip_frames(generator)
    size = generator.resolution
    return {
        "video": tf.TensorSpec(
            [steps * batch_size, frames, size, size, 3], tf.float32
        ),
        "label": tf.TensorSpec([steps * batch_size], tf.int32),
    }


def random_step_input(model, batch_size: int) -> dict:
    """NumPy arrays of `step_input_spec`: uniform [-1, 1) clips (seed 0) and
    labels cycling over the classes, for running a step without data."""
    shape = step_input_spec(model, batch_size)["video"].shape.as_list()
    rng = np.random.default_rng(0)
    return {
        "video": rng.uniform(-1, 1, shape).astype(np.float32),
        "label": (np.arange(shape[0]) % max(model.num_classes, 1)).astype(
            np.int32
        ),
    }


def train_step_graph(model, batch_size: int):
    """`model.train_step` traced at per-replica batch `batch_size`."""
    spec = step_input_spec(model, batch_size)
    return tf.function(model.train_step).get_concrete_function(spec).graph


@dataclasses.dataclass(frozen=True)
class StepMemory:
    """Bytes one replica needs at per-replica batch `batch_size`.

    Attributes:
        batch_size: the per-replica batch B (generated clips per step).
        networks, ema_generator, optimizers: persistent variables.
        input_batch: the S real batches of one step.
        saved_activations: the peak gradient call's saved tensors.
        gradients: the gradients that call produces (its variables' size).
        working_set: twice the largest saved tensor.
        peak_phase: which gradient call is the peak ("generator step" or
            "discriminator step").
        per_clip: growth of the transient bytes per extra clip of B (from
            a second trace at 2B; 0 when not measured).
        saved_by_network: `saved_activations` split by the network that
            produced each tensor (`GradientCall.saved_by_network`).
    """

    batch_size: int
    networks: int
    ema_generator: int
    optimizers: int
    input_batch: int
    saved_activations: int
    gradients: int
    working_set: int
    peak_phase: str
    per_clip: float = 0.0
    saved_by_network: dict = dataclasses.field(default_factory=dict)

    @property
    def persistent(self) -> int:
        return self.networks + self.ema_generator + self.optimizers

    @property
    def transient(self) -> int:
        return (
            self.input_batch
            + self.saved_activations
            + self.gradients
            + self.working_set
        )

    @property
    def total(self) -> int:
        return self.persistent + self.transient

    def total_at(self, batch_size: int) -> float:
        """Predicted bytes at another per-replica batch (linear in B)."""
        return self.total + (batch_size - self.batch_size) * self.per_clip

    def largest_batch(self, capacity: float) -> int:
        """The largest per-replica batch whose total fits `capacity` bytes
        (0 if even B = 1 does not)."""
        if self.per_clip <= 0:
            return self.batch_size if self.total <= capacity else 0
        fixed = self.total - self.batch_size * self.per_clip
        return max(0, int((capacity - fixed) // self.per_clip))


def _trainable_bytes(networks) -> int:
    return _bytes([v for n in networks for v in n.trainable_variables])


def _phase_memory(model, batch_size: int) -> dict:
    graph = train_step_graph(model, batch_size)
    calls = gradient_calls(graph)
    if not calls:
        raise ValueError("The traced train_step holds no gradient call.")
    generator_grads = _trainable_bytes([model.generator])
    discriminator_grads = _trainable_bytes(
        [model.spatial_discriminator, model.temporal_discriminator]
    )
    best = None
    for call in calls:
        # The G step is the only call through G (D steps run G outside
        # their tapes); calls through no network (the loss seeds) save
        # scalars.
        is_generator = "generator" in call.networks
        gradients = generator_grads if is_generator else discriminator_grads
        if not call.networks:
            gradients = 0
        transient = call.saved_bytes + gradients + 2 * call.largest_bytes
        if best is None or transient > best["transient"]:
            best = {
                "transient": transient,
                "saved_activations": call.saved_bytes,
                "saved_by_network": call.saved_by_network,
                "gradients": gradients,
                "working_set": 2 * call.largest_bytes,
                "peak_phase": (
                    "generator step" if is_generator else "discriminator step"
                ),
            }
    generator = model.generator
    clip = (
        generator_lib.clip_frames(generator) * generator.resolution**2 * 3 * 4
    )
    best["input_batch"] = model.num_discriminator_steps * batch_size * clip
    best["transient"] += best["input_batch"]
    return best


def step_memory(model, batch_size: int = 1, extrapolate: bool = True):
    """`StepMemory` of `model` (a compiled `DVDGAN`) at `batch_size`.

    With `extrapolate`, the step is traced again at 2 * `batch_size` and the
    growth per clip is recorded for `StepMemory.total_at` and
    `StepMemory.largest_batch`.
    """
    phase = _phase_memory(model, batch_size)
    per_clip = 0.0
    if extrapolate:
        larger = _phase_memory(model, 2 * batch_size)
        per_clip = (larger["transient"] - phase["transient"]) / batch_size
    variables = variable_bytes(model)
    phase.pop("transient")
    return StepMemory(
        batch_size=batch_size,
        per_clip=per_clip,
        **variables,
        **phase,
    )
