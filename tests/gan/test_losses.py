"""Hand-checked values of the GAN objectives and regularisers."""

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.gan import losses

REAL = np.array([2.0, -0.5], np.float32)
FAKE = np.array([-3.0, 0.25], np.float32)


def test_hinge_discriminator_loss_matches_hand_computation():
    # relu(1 - 2) + relu(1 - 3) = 0; relu(1 + 0.5) + relu(1 + 0.25) = 2.75
    np.testing.assert_allclose(
        losses.hinge_discriminator_loss(REAL, FAKE), [0.0, 2.75]
    )


def test_hinge_generator_loss_is_negated_score():
    np.testing.assert_allclose(losses.hinge_generator_loss(FAKE), [3.0, -0.25])


def test_non_saturating_losses_match_softplus():
    softplus = lambda x: np.log1p(np.exp(x))  # noqa: E731
    np.testing.assert_allclose(
        losses.non_saturating_discriminator_loss(REAL, FAKE),
        softplus(-REAL) + softplus(FAKE),
        rtol=1e-6,
    )
    np.testing.assert_allclose(
        losses.non_saturating_generator_loss(FAKE), softplus(-FAKE), rtol=1e-6
    )


def test_least_squares_losses_match_hand_computation():
    # 0.5 * (2 - 1)^2 + 0.5 * 9 = 5; 0.5 * 2.25 + 0.5 * 0.0625 = 1.15625
    np.testing.assert_allclose(
        losses.least_squares_discriminator_loss(REAL, FAKE), [5.0, 1.15625]
    )
    # 0.5 * 16 = 8; 0.5 * 0.5625 = 0.28125
    np.testing.assert_allclose(
        losses.least_squares_generator_loss(FAKE), [8.0, 0.28125]
    )


@pytest.mark.parametrize(
    "name, expected",
    [("hinge", [0.0, 2.75]), ("least_squares", [5.0, 1.15625])],
)
def test_discriminator_loss_dispatches_on_string_names(name, expected):
    np.testing.assert_allclose(
        losses.discriminator_loss(name, REAL, FAKE), expected
    )


def test_losses_stay_float32_for_bfloat16_scores():
    loss = losses.hinge_discriminator_loss(
        tf.constant(REAL, tf.bfloat16), tf.constant(FAKE, tf.bfloat16)
    )
    assert loss.dtype == tf.float32


def test_unknown_loss_name_is_rejected_with_choices():
    with pytest.raises(ValueError, match="'wasserstein'.*hinge"):
        losses.generator_loss("wasserstein", FAKE)


def test_scores_must_be_per_example_vectors():
    with pytest.raises(ValueError, match=r"\[B\].*\(2, 1\)"):
        losses.hinge_generator_loss(np.zeros((2, 1), np.float32))


def test_orthogonal_regularization_penalises_only_off_diagonal_terms():
    # W^T W = [[1, 2], [2, 8]] for W = [[1, 2], [0, 2]]: off-diagonal 2, 2.
    weight = tf.constant([[1.0, 2.0], [0.0, 2.0]])
    bias = tf.constant([5.0, 5.0])  # rank 1: ignored
    value = losses.orthogonal_regularization([weight, bias], strength=0.5)
    np.testing.assert_allclose(value, 0.5 * (4.0 + 4.0))


def test_orthogonal_regularization_is_zero_for_orthogonal_columns():
    weight = tf.constant([[3.0, 0.0], [0.0, -2.0], [0.0, 0.0]])
    assert float(losses.orthogonal_regularization([weight], 1.0)) == 0.0


def test_r1_penalty_is_half_gamma_times_squared_gradient_norm():
    gradients = tf.constant([[[3.0, 4.0]], [[0.0, 1.0]]])  # norms^2: 25, 1
    # gamma = 3: a dropped 1/2 (75, 3) or an ignored gamma (25, 1) both fail.
    np.testing.assert_allclose(
        losses.r1_penalty(gradients, gamma=3.0), [37.5, 1.5]
    )


def test_negative_regulariser_weights_are_rejected():
    with pytest.raises(ValueError, match="gamma=-1"):
        losses.r1_penalty(tf.zeros([1, 2]), gamma=-1.0)
    with pytest.raises(ValueError, match="strength=-0.1"):
        losses.orthogonal_regularization([], strength=-0.1)
