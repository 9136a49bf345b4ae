"""Exponential moving average (EMA) of the generator's weights.

Reference: DVD-GAN (arXiv 1907.06571, training details) samples from an EMA
of G's weights with decay 0.9999, starting at step 20,000 (as BigGAN's
``ema_start``). docs/DESIGN.md D6 and D13.

The EMA generator is a second generator built from the live one's
``get_config()``, so it has the same architecture and variable paths; export,
sampling and evaluation read it.

Update rule, applied after every G update with ``step`` = the index of the
step just taken (0-based)::

    step <  start_step:  ema_w <- w                         (tracks G exactly)
    step >= start_step:  ema_w <- decay * ema_w + (1 - decay) * w

for every trainable weight. Non-trainable weights (the per-time-step BN moving
statistics and the spectral-norm power-iteration vectors) are *copied* from G
at every update (docs/DESIGN.md D6: moving statistics copied), not
averaged.

**Ramp-up** (``rampup`` r > 0; off by default, the paper has none): the
averaging horizon grows with training instead of starting at its full
length, as StyleGAN2(-ADA)'s ``ema_rampup``. The decay's half-life in steps,
h = ln 0.5 / ln decay, is capped at r times the steps averaged so far::

    n = step - start_step + 1,  h_n = min(h, r * n),  decay_n = 0.5 ** (1 / h_n)

so with r = 0.05 the EMA weighs roughly the last 5% of the averaged steps
(at least half a step) until that exceeds the configured half-life, and
never trails the live generator by more than that. ``decay_n`` is at most
``decay`` and reaches it after h / r averaged steps.

Deviation from BigGAN-PyTorch: there the EMA copy is initialised once and
updated with decay 0 before ``ema_start``; the result is identical (a copy).
"""

from __future__ import annotations

import math

import keras
import tensorflow as tf


def effective_decay(
    step, decay: float, start_step: int, rampup: float = 0.0
) -> tf.Tensor:
    """The decay used at `step`: 0 (copy) before `start_step`, else `decay`
    (with `rampup` > 0: the ramped decay of the module docstring).

    Args:
        step: int scalar (Python or tensor), the 0-based step just taken.
        decay: in [0, 1].
        start_step: the first step that averages.
        rampup: r >= 0; 0 = no ramp-up.

    Returns:
        float32 scalar.

    Raises:
        ValueError: if `decay` is outside [0, 1], `start_step` < 0 or
            `rampup` < 0.
    """
    check_ema_arguments(decay, start_step, rampup)
    step = tf.cast(step, tf.int64)
    applied = tf.constant(decay, tf.float32)
    if rampup > 0 and 0.0 < decay < 1.0:
        half_life = math.log(0.5) / math.log(decay)
        averaged = tf.cast(step - start_step + 1, tf.float32)
        ramped = tf.maximum(tf.minimum(half_life, rampup * averaged), 0.5)
        applied = tf.minimum(applied, tf.pow(0.5, 1.0 / ramped))
    return tf.where(
        step >= tf.cast(start_step, tf.int64),
        applied,
        tf.constant(0.0, tf.float32),
    )


def check_ema_arguments(
    decay: float, start_step: int, rampup: float = 0.0
) -> None:
    """Raises ValueError on a decay outside [0, 1], a negative start or a
    negative ramp-up."""
    if rampup < 0:
        raise ValueError(
            f"Expected an EMA ramp-up >= 0 (0 = off); received: rampup={rampup}"
        )
    if not 0.0 <= decay <= 1.0:
        raise ValueError(
            f"Expected an EMA decay in [0, 1]; received: decay={decay}"
        )
    if start_step < 0:
        raise ValueError(
            "Expected a non-negative EMA start step; received: "
            f"start_step={start_step}"
        )


def _check_same_structure(ema_model, model) -> None:
    ema_weights, weights = ema_model.weights, model.weights
    if len(ema_weights) != len(weights):
        raise ValueError(
            "The EMA generator must have the same weights as the generator "
            "(build it with `Generator.from_config(G.get_config())`); "
            f"received {len(ema_weights)} EMA weights vs {len(weights)}."
        )
    for ema_weight, weight in zip(ema_weights, weights):
        if tuple(ema_weight.shape) != tuple(weight.shape):
            raise ValueError(
                "EMA weight shape mismatch: "
                f"{ema_weight.path} {tuple(ema_weight.shape)} vs "
                f"{weight.path} {tuple(weight.shape)}."
            )


def copy_weights(ema_model: keras.Model, model: keras.Model) -> None:
    """Sets every EMA weight (trainable and not) to the live model's value."""
    _check_same_structure(ema_model, model)
    for ema_weight, weight in zip(ema_model.weights, model.weights):
        ema_weight.assign(weight)


def update_ema(
    ema_model: keras.Model,
    model: keras.Model,
    step,
    decay: float,
    start_step: int,
    rampup: float = 0.0,
) -> tf.Tensor:
    """Applies one EMA update (see the module docstring) and returns the decay.

    Works eagerly, inside `tf.function` and in a replica context (each
    replica updates its copy with identical values, since G's weights are
    in sync after `apply_gradients`).

    Args:
        ema_model: the EMA generator.
        model: the live generator.
        step: int scalar, 0-based index of the step just taken.
        decay: in [0, 1].
        start_step: first averaging step.
        rampup: ramp-up ratio r (0 = off).

    Returns:
        float32 scalar: the decay that was applied.

    Raises:
        ValueError: on mismatched models or bad arguments.
    """
    _check_same_structure(ema_model, model)
    with tf.name_scope("ema"):  # Names these ops in profiles.
        applied = effective_decay(step, decay, start_step, rampup)
        trainable = {id(w) for w in model.trainable_weights}
        for ema_weight, weight in zip(ema_model.weights, model.weights):
            if id(weight) in trainable:
                value = tf.cast(weight, tf.float32)
                average = tf.cast(ema_weight, tf.float32)
                ema_weight.assign(
                    tf.cast(
                        applied * average + (1.0 - applied) * value,
                        ema_weight.dtype,
                    )
                )
            else:
                ema_weight.assign(weight)
    return applied
