"""GAN objectives and regularisers for DVD-GAN, as pure functions.

Reference: DVD-GAN (arXiv 1907.06571 v2, section 3 "Training"): hinge loss
(Lim & Ye 2017; Miyato et al. 2018) for both discriminators, applied to the
*summed* per-frame score of D_S and to the summed score of D_T separately
(docs/DESIGN.md D10). The generator loss is ``-(D_S + D_T)`` on fakes.

Every function returns **per-example** losses (float32 [B]) and never reduces
over the batch: the caller divides the sum by the *global* batch size so that
gradients summed across replicas equal the full-batch mean (see
`dvdgan_tf.gan.replicas.scale_per_example_loss`).

Choices beyond the paper (all off by default, selectable through gin):

* `GANLoss.NON_SATURATING` (Goodfellow et al. 2014, the "-log D" generator
  loss) and `GANLoss.LEAST_SQUARES` (Mao et al. 2017, 0/1 targets, 1/2
  factor) as alternatives to the paper's hinge.
* `orthogonal_regularization`: BigGAN's (Brock et al. 2019, eq. 3) relaxed
  orthogonality penalty ``beta * ||W^T W * (1 - I)||_F^2``. DVD-GAN mentions
  only orthogonal *initialisation*.
* `r1_penalty`: Mescheder et al. 2018, ``gamma / 2 * ||grad_x D(x)||^2`` on
  real data.
"""

from __future__ import annotations

import enum
from typing import Iterable

import tensorflow as tf


class GANLoss(enum.Enum):
    """The adversarial objective; `HINGE` is the paper's."""

    HINGE = "hinge"
    NON_SATURATING = "non_saturating"
    LEAST_SQUARES = "least_squares"


def _as_float32_scores(scores: tf.Tensor, name: str) -> tf.Tensor:
    scores = tf.convert_to_tensor(scores)
    if scores.shape.rank is not None and scores.shape.rank != 1:
        raise ValueError(
            f"Expected `{name}` to be a vector of per-example scores [B]; "
            f"received shape {scores.shape}."
        )
    # Under mixed_bfloat16 the logits arrive in bfloat16; losses stay float32
    # (docs/DESIGN.md D8).
    return tf.cast(scores, tf.float32)


def as_gan_loss(loss: GANLoss | str) -> GANLoss:
    """The `GANLoss` for a member or its string value (else ValueError)."""
    if isinstance(loss, GANLoss):
        return loss
    try:
        return GANLoss(loss)
    except ValueError:
        choices = [member.value for member in GANLoss]
        raise ValueError(
            f"Unknown GAN loss {loss!r}; expected one of {choices} "
            "(or a dvdgan_tf.gan.losses.GANLoss member)."
        ) from None


def hinge_discriminator_loss(real_scores, fake_scores) -> tf.Tensor:
    """Hinge loss of a discriminator.

    Args:
        real_scores: float [B], D's scores on real data.
        fake_scores: float [B], D's scores on generated data.

    Returns:
        float32 [B]: ``relu(1 - real) + relu(1 + fake)``.
    """
    real = _as_float32_scores(real_scores, "real_scores")
    fake = _as_float32_scores(fake_scores, "fake_scores")
    return tf.nn.relu(1.0 - real) + tf.nn.relu(1.0 + fake)


def hinge_generator_loss(fake_scores) -> tf.Tensor:
    """Generator loss paired with the hinge D loss (BigGAN, DVD-GAN).

    Args:
        fake_scores: float [B], D's scores on generated data.

    Returns:
        float32 [B]: ``-fake``.
    """
    return -_as_float32_scores(fake_scores, "fake_scores")


def non_saturating_discriminator_loss(real_scores, fake_scores) -> tf.Tensor:
    """Standard GAN D loss on logits.

    ``-log sigmoid(real) - log(1 - sigmoid(fake))``.

    Args:
        real_scores: float [B] logits on real data.
        fake_scores: float [B] logits on generated data.

    Returns:
        float32 [B]: ``softplus(-real) + softplus(fake)``.
    """
    real = _as_float32_scores(real_scores, "real_scores")
    fake = _as_float32_scores(fake_scores, "fake_scores")
    return tf.nn.softplus(-real) + tf.nn.softplus(fake)


def non_saturating_generator_loss(fake_scores) -> tf.Tensor:
    """Non-saturating G loss: ``-log sigmoid(fake)``.

    Args:
        fake_scores: float [B] logits on generated data.

    Returns:
        float32 [B]: ``softplus(-fake)``.
    """
    return tf.nn.softplus(-_as_float32_scores(fake_scores, "fake_scores"))


def least_squares_discriminator_loss(real_scores, fake_scores) -> tf.Tensor:
    """LSGAN D loss with targets 1 (real) and 0 (fake).

    Args:
        real_scores: float [B].
        fake_scores: float [B].

    Returns:
        float32 [B]: ``0.5 * (real - 1)^2 + 0.5 * fake^2``.
    """
    real = _as_float32_scores(real_scores, "real_scores")
    fake = _as_float32_scores(fake_scores, "fake_scores")
    return 0.5 * tf.square(real - 1.0) + 0.5 * tf.square(fake)


def least_squares_generator_loss(fake_scores) -> tf.Tensor:
    """LSGAN G loss with target 1.

    Args:
        fake_scores: float [B].

    Returns:
        float32 [B]: ``0.5 * (fake - 1)^2``.
    """
    fake = _as_float32_scores(fake_scores, "fake_scores")
    return 0.5 * tf.square(fake - 1.0)


_DISCRIMINATOR_LOSSES = {
    GANLoss.HINGE: hinge_discriminator_loss,
    GANLoss.NON_SATURATING: non_saturating_discriminator_loss,
    GANLoss.LEAST_SQUARES: least_squares_discriminator_loss,
}
_GENERATOR_LOSSES = {
    GANLoss.HINGE: hinge_generator_loss,
    GANLoss.NON_SATURATING: non_saturating_generator_loss,
    GANLoss.LEAST_SQUARES: least_squares_generator_loss,
}


def discriminator_loss(loss: GANLoss | str, real_scores, fake_scores):
    """Per-example D loss for the chosen objective.

    Args:
        loss: a `GANLoss` or its string value ("hinge", "non_saturating",
            "least_squares").
        real_scores: float [B].
        fake_scores: float [B].

    Returns:
        float32 [B].

    Raises:
        ValueError: on an unknown loss name or non-vector scores.
    """
    return _DISCRIMINATOR_LOSSES[as_gan_loss(loss)](real_scores, fake_scores)


def generator_loss(loss: GANLoss | str, fake_scores):
    """Per-example G loss for the chosen objective.

    Args:
        loss: a `GANLoss` or its string value.
        fake_scores: float [B], the summed score of both discriminators.

    Returns:
        float32 [B].

    Raises:
        ValueError: on an unknown loss name or non-vector scores.
    """
    return _GENERATOR_LOSSES[as_gan_loss(loss)](fake_scores)


def orthogonal_regularization(
    weights: Iterable[tf.Variable], strength: float
) -> tf.Tensor:
    """BigGAN's orthogonal regulariser, summed over weight matrices.

    Each weight of rank >= 2 is reshaped to a matrix W [fan_in, fan_out]
    (the last axis is the output axis in Keras kernels) and contributes
    ``||W^T W * (1 - I)||_F^2``: only the off-diagonal terms are penalised, so
    filter norms stay free (Brock et al. 2019, section 3.1). Rank-0/1 weights
    (biases, gains, power-iteration vectors) are ignored.

    Args:
        weights: variables or tensors.
        strength: beta (BigGAN uses 1e-4). Must be >= 0.

    Returns:
        float32 scalar.

    Raises:
        ValueError: if `strength` is negative.
    """
    if strength < 0:
        raise ValueError(
            "Expected a non-negative orthogonal regularisation strength; "
            f"received: strength={strength}"
        )
    total = tf.constant(0.0, tf.float32)
    for weight in weights:
        if weight.shape.rank is None or weight.shape.rank < 2:
            continue
        matrix = tf.reshape(tf.cast(weight, tf.float32), [-1, weight.shape[-1]])
        gram = tf.matmul(matrix, matrix, transpose_a=True)
        off_diagonal = gram * (1.0 - tf.eye(tf.shape(gram)[0]))
        total += tf.reduce_sum(tf.square(off_diagonal))
    return strength * total


def r1_penalty(real_gradients: tf.Tensor, gamma: float) -> tf.Tensor:
    """R1 gradient penalty per example (Mescheder et al. 2018).

    Args:
        real_gradients: float [B, ...], the gradient of D's score on each
            real example with respect to that example.
        gamma: the penalty weight; must be >= 0.

    Returns:
        float32 [B]: ``gamma / 2 * ||grad||^2``.

    Raises:
        ValueError: if `gamma` is negative.
    """
    if gamma < 0:
        raise ValueError(
            f"Expected a non-negative R1 weight; received: gamma={gamma}"
        )
    gradients = tf.cast(real_gradients, tf.float32)
    axes = list(range(1, gradients.shape.rank))
    return 0.5 * gamma * tf.reduce_sum(tf.square(gradients), axis=axes)
