"""dvdgan_tf.inference.generation: seed -> latent -> video, one definition."""

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.gan import noise
from dvdgan_tf.inference import generation
from dvdgan_tf.util import pixels
from tests import model_dir_fixture
from tests import tiny_config as tiny
from tests import tiny_gan


@pytest.fixture(scope="module")
def generator():
    return tiny_gan.build_generator()


def test_truncated_latents_are_scaled_and_bounded():
    seeds = tf.range(64, dtype=tf.int64)
    z = generation.latents_from_seeds(seeds, 16, 0.5).numpy()
    assert np.abs(z).max() <= 0.5 * generation.TRUNCATION_BOUND
    assert 0.3 < z.std() < 0.5  # 0.5 * std of TN(0, 1) cut at 2 (0.88)


def test_truncated_latent_of_a_seed_ignores_the_rest_of_the_batch():
    alone = generation.latents_from_seeds(tf.constant([9], tf.int64), 8)
    batch = generation.latents_from_seeds(tf.constant([3, 9, 4], tf.int64), 8)
    np.testing.assert_array_equal(alone[0], batch[1])
    expected = tf.random.stateless_truncated_normal([8], seed=[9, 0])
    np.testing.assert_array_equal(alone[0], expected)


def test_zero_truncation_gives_zero_latents():
    z = generation.latents_from_seeds(tf.constant([1, 2], tf.int64), 4, 0.0)
    np.testing.assert_array_equal(z, np.zeros((2, 4)))


def test_prior_latent_i_is_the_standard_normal_with_key_seed_i():
    z = generation.prior_latents(5, [0, 3], 6).numpy()
    np.testing.assert_array_equal(
        z[1], tf.random.stateless_normal([6], seed=[5, 3])
    )
    np.testing.assert_array_equal(generation.prior_latents(5, [3], 6)[0], z[1])


def test_training_inputs_are_deterministic_and_labels_in_range():
    seed = tf.constant([1, 2], tf.int64)
    z, labels = noise.training_inputs(seed, 64, 4, 3)
    z2, labels2 = noise.training_inputs(seed, 64, 4, 3)
    np.testing.assert_array_equal(z, z2)
    np.testing.assert_array_equal(labels, labels2)
    assert z.shape == (64, 4) and labels.dtype == tf.int32
    assert set(np.asarray(labels)) == {0, 1, 2}
    other, _ = noise.training_inputs(tf.constant([1, 3], tf.int64), 64, 4, 3)
    assert not np.allclose(z, other)


def test_unconditional_training_inputs_have_no_labels():
    _, labels = noise.training_inputs(tf.constant([0, 0]), 2, 4, 0)
    assert labels is None


def test_uint8_conversion_on_hand_values_in_numpy_and_in_graph():
    video = np.array([-1.5, -1.0, 0.0, 0.5, 1.0, 2.0], np.float32)
    expected = [0, 0, 128, 191, 255, 255]  # round((x + 1) * 127.5), clipped
    np.testing.assert_array_equal(pixels.to_uint8(video), expected)
    in_graph = pixels.to_uint8_tensor(tf.constant(video))
    assert in_graph.dtype == tf.uint8
    np.testing.assert_array_equal(in_graph, expected)


def test_inference_fn_is_cached_per_generator_and_traced_once(generator):
    function = generation.inference_fn(generator)
    assert generation.inference_fn(generator) is function
    z = generation.prior_latents(0, range(2), tiny.LATENT_DIM)
    first = function(z, tf.constant([0, 1]))
    second = function(z + 1.0, tf.constant([1, 2]))
    assert function.experimental_get_tracing_count() == 1
    assert first.dtype == tf.float32 and first.shape == second.shape
    np.testing.assert_allclose(
        first, generator(z, tf.constant([0, 1]), training=False), atol=1e-6
    )


def test_generated_clips_do_not_depend_on_the_batch_size(generator):
    whole, labels = generation.generate_videos(generator, 5, 3, batch_size=5)
    pieces, _ = generation.generate_videos(generator, 5, 3, batch_size=2)
    np.testing.assert_array_equal(whole, pieces)
    np.testing.assert_array_equal(labels, [0, 1, 2, 0, 1])
    assert whole.dtype == np.uint8
    z = generation.prior_latents(3, range(5), tiny.LATENT_DIM)
    expected = pixels.to_uint8(generator(z, labels, training=False))
    np.testing.assert_array_equal(whole, expected)


def test_given_labels_must_match_the_number_of_clips():
    with pytest.raises(ValueError, match="Expected 4 labels; received 3"):
        generation.spread_labels(3, 4, [0, 1, 2])
    assert generation.spread_labels(0, 4) is None


# DVD-GAN-FP ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fp_generator():
    return model_dir_fixture.build_tiny_generator(
        num_conditioning_frames=model_dir_fixture.FP_CONTEXT
    )


def _context(count=3, frames=model_dir_fixture.FP_CONTEXT, size=16):
    return np.random.default_rng(1).integers(
        0, 256, (count, frames, size, size, 3), dtype=np.uint8
    )


def test_fp_generation_returns_the_given_frames_then_the_prediction(
    fp_generator,
):
    context = _context()
    videos, labels = generation.generate_videos(
        fp_generator, 3, seed=0, batch_size=2, context=context
    )
    assert videos.shape == (3, 4, 16, 16, 3)
    np.testing.assert_array_equal(videos[:, :2], context)
    z = generation.prior_latents(0, range(3), fp_generator.latent_dim)
    prediction = fp_generator(
        z,
        tf.constant(labels),
        conditioning_frames=pixels.from_uint8(context),
        training=False,
    )
    np.testing.assert_array_equal(videos[:, 2:], pixels.to_uint8(prediction))


@pytest.mark.parametrize(
    "context, message",
    [
        (None, r"continues 2 real frame\(s\)"),
        (_context(frames=1), r"uint8 \[3, 2, 16, 16, 3\]"),
        (_context(size=8), r"uint8 \[3, 2, 16, 16, 3\]"),
        (_context().astype(np.float32), r"received float32"),
    ],
    ids=["missing", "frame_count", "size", "dtype"],
)
def test_fp_bad_conditioning_names_what_was_expected(
    fp_generator, context, message
):
    with pytest.raises(ValueError, match=message):
        generation.generate_videos(fp_generator, 3, seed=0, context=context)


def test_conditioning_for_a_synthesis_generator_is_rejected():
    generator = model_dir_fixture.build_tiny_generator()
    with pytest.raises(ValueError, match="not a DVD-GAN-FP model"):
        generation.generate_videos(generator, 3, seed=0, context=_context())


def test_mark_conditioning_frames_only_the_first_frames():
    clips = np.zeros((2, 4, 8, 8, 3), np.uint8)
    marked = generation.mark_context(clips, 2)
    mark = np.asarray(generation.CONTEXT_MARK, np.uint8)
    for edge in (marked[:, :2, 0], marked[:, :2, -1], marked[:, :2, :, 0]):
        assert (edge == mark).all()
    assert (marked[:, :2, 1:-1, 1:-1] == 0).all()
    assert (marked[:, 2:] == 0).all()
    assert (clips == 0).all()  # the input is not modified
