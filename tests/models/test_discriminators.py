"""Tests of D_S, D_T and their input transforms at tiny shapes."""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.data import synthetic
from dvdgan_tf.models import discriminators
from tests import tiny_config as tiny


def _video(batch=tiny.BATCH, frames=tiny.FRAMES, seed=0):
    rng = np.random.default_rng(seed)
    return rng.uniform(
        -1, 1, size=(batch, frames, tiny.RESOLUTION, tiny.RESOLUTION, 3)
    ).astype("float32")


def _labels(batch=tiny.BATCH):
    return np.arange(batch, dtype="int32") % tiny.NUM_CLASSES


def _spatial(num_sampled_frames=tiny.SAMPLED_FRAMES, **overrides):
    kwargs = dict(
        resolution=tiny.RESOLUTION,
        num_classes=tiny.NUM_CLASSES,
        channel_multiplier=tiny.CHANNEL_MULTIPLIER,
        num_sampled_frames=num_sampled_frames,
    )
    kwargs.update(overrides)
    return discriminators.build_spatial_discriminator(**kwargs)


def _temporal(**overrides):
    kwargs = dict(
        resolution=tiny.RESOLUTION,
        num_frames=tiny.FRAMES,
        num_classes=tiny.NUM_CLASSES,
        channel_multiplier=tiny.CHANNEL_MULTIPLIER,
    )
    kwargs.update(overrides)
    return discriminators.build_temporal_discriminator(**kwargs)


@pytest.fixture(scope="module")
def spatial():
    return _spatial()


@pytest.fixture(scope="module")
def temporal():
    return _temporal()


def _index_video(batch, frames):
    """Pixel value = frame index, so sampled frames can be read back."""
    return np.broadcast_to(
        np.arange(frames, dtype="float32")[None, :, None, None, None],
        (batch, frames, 2, 2, 1),
    ).copy()


def test_sample_frames_draws_distinct_sorted_frames_per_clip():
    batch, frames, k = 16, 12, 5
    sampled = discriminators.sample_frames(
        _index_video(batch, frames), k, seed=tf.constant([3, 4])
    ).numpy()
    assert sampled.shape == (batch, k, 2, 2, 1)
    indices = sampled[:, :, 0, 0, 0].astype(int)
    np.testing.assert_array_equal(
        sampled, np.broadcast_to(indices[:, :, None, None, None], sampled.shape)
    )
    for row in indices:
        assert len(set(row)) == k  # without replacement
        assert list(row) == sorted(row)  # in time order
        assert row.min() >= 0 and row.max() < frames
    # Independent per example: not every clip gets the same frames.
    assert len({tuple(row) for row in indices}) > 1


def test_sample_frames_is_deterministic_per_seed():
    video = _index_video(8, 12)
    first = discriminators.sample_frames(video, 4, seed=tf.constant([1, 2]))
    again = discriminators.sample_frames(video, 4, seed=tf.constant([1, 2]))
    other = discriminators.sample_frames(video, 4, seed=tf.constant([5, 6]))
    np.testing.assert_array_equal(first, again)
    assert np.any(first.numpy() != other.numpy())


def test_sample_frames_accepts_int_and_seed_generator_seeds():
    video = _index_video(4, 6)
    np.testing.assert_array_equal(
        discriminators.sample_frames(video, 3, seed=7),
        discriminators.sample_frames(video, 3, seed=tf.constant([7, 0])),
    )
    generator = keras.random.SeedGenerator(0)
    assert tuple(discriminators.sample_frames(video, 3, generator).shape) == (
        4,
        3,
        2,
        2,
        1,
    )
    with pytest.raises(ValueError, match="shape"):
        discriminators.sample_frames(video, 3, seed=tf.constant([1, 2, 3]))


def test_sample_frames_can_share_one_index_set_across_the_batch():
    sampled = discriminators.sample_frames(
        _index_video(8, 12), 4, seed=tf.constant([3, 4]), share_indices=True
    ).numpy()
    indices = sampled[:, :, 0, 0, 0]
    np.testing.assert_array_equal(
        indices, np.broadcast_to(indices[0], indices.shape)
    )
    assert len(set(indices[0])) == 4


def test_sample_frames_with_k_equal_t_returns_the_whole_clip():
    video = _index_video(2, 4)
    np.testing.assert_array_equal(
        discriminators.sample_frames(video, 4, seed=tf.constant([0, 0])), video
    )


def test_sample_frames_rejects_k_larger_than_t():
    with pytest.raises(ValueError, match="num_sampled_frames=5"):
        discriminators.sample_frames(
            _index_video(2, 4), 5, seed=tf.constant([0, 0])
        )


def test_downsample_video_average_pools_each_frame_2x2():
    video = np.arange(16, dtype="float32").reshape(1, 1, 4, 4, 1)
    video = np.concatenate([video, 10 * video], axis=1)
    pooled = discriminators.downsample_video(video).numpy()
    expected = np.array([[2.5, 4.5], [10.5, 12.5]], "float32")
    np.testing.assert_array_equal(pooled[0, 0, :, :, 0], expected)
    np.testing.assert_array_equal(pooled[0, 1, :, :, 0], 10 * expected)


def test_downsample_video_rejects_odd_sizes():
    with pytest.raises(ValueError, match="even"):
        discriminators.downsample_video(np.zeros((1, 2, 5, 5, 3), "float32"))


def test_spatial_score_is_the_sum_of_per_frame_scores(spatial):
    # Same seed: a K = 1 discriminator has exactly the same weights.
    single = _spatial(num_sampled_frames=1)
    frames = _video(frames=tiny.SAMPLED_FRAMES)
    labels = _labels()
    total = spatial(frames, labels, training=False).numpy()
    per_frame = [
        single(frames[:, k : k + 1], labels, training=False).numpy()
        for k in range(tiny.SAMPLED_FRAMES)
    ]
    np.testing.assert_allclose(
        total, np.sum(per_frame, axis=0), rtol=1e-5, atol=1e-4
    )
    # Replacing one frame changes the score by that frame's score change.
    changed = frames.copy()
    changed[0, 1] = _video(frames=1, seed=9)[0, 0]
    delta = spatial(changed, labels, training=False).numpy() - total
    frame_delta = (
        single(changed[:, 1:2], labels, training=False).numpy() - per_frame[1]
    )
    np.testing.assert_allclose(delta, frame_delta, rtol=1e-4, atol=1e-4)
    assert abs(delta[0]) > 1e-4 and abs(delta[1]) < 1e-5


def test_spatial_discriminator_rejects_another_number_of_frames(spatial):
    with pytest.raises(ValueError, match="num_sampled_frames=2"):
        spatial(_video(frames=3), _labels(), training=False)


def test_spatial_discriminator_returns_one_float32_score_per_clip(spatial):
    scores = spatial(
        _video(frames=tiny.SAMPLED_FRAMES), _labels(), training=True
    )
    assert tuple(scores.shape) == (tiny.BATCH,)
    assert scores.dtype == "float32"


@pytest.mark.parametrize("which", ["spatial", "temporal"])
def test_projection_term_responds_to_the_class(which, spatial, temporal):
    model = {"spatial": spatial, "temporal": temporal}[which]
    frames = tiny.SAMPLED_FRAMES if which == "spatial" else tiny.FRAMES
    video = _video(frames=frames)
    if which == "temporal":
        video = discriminators.downsample_video(video)
    labels = _labels()
    scores = model(video, labels, training=False).numpy()
    other = model(
        video, (labels + 1) % tiny.NUM_CLASSES, training=False
    ).numpy()
    assert np.all(np.abs(scores - other) > 1e-5)


def test_unconditional_discriminators_have_no_projection():
    spatial = _spatial(num_classes=0)
    temporal = _temporal(num_classes=0)
    for model in (spatial, temporal):
        assert not any("class_projection" in w.path for w in model.weights)
    scores = spatial(_video(frames=tiny.SAMPLED_FRAMES), None)
    assert tuple(scores.shape) == (tiny.BATCH,)
    pooled = discriminators.downsample_video(_video())
    np.testing.assert_array_equal(
        temporal(pooled, None), temporal(pooled, _labels())
    )


def test_temporal_discriminator_scores_the_pooled_clip(temporal):
    pooled = discriminators.downsample_video(_video())
    scores = temporal(pooled, _labels(), training=True)
    assert tuple(scores.shape) == (tiny.BATCH,)
    with pytest.raises(ValueError, match="downsample_video"):
        temporal(_video(), _labels())


def test_temporal_discriminator_first_two_blocks_are_3d(temporal):
    kernel_ranks = [len(block.conv_1.kernel.shape) for block in temporal.blocks]
    assert kernel_ranks[:2] == [5, 5]
    assert all(rank == 4 for rank in kernel_ranks[2:])
    assert temporal.blocks[0].pool_size == (2, 2, 2)
    # T = 4 is halved by the single downsampling 3-D block of the tiny D_T.
    assert temporal.output_steps == tiny.FRAMES // 2


def test_temporal_discriminator_can_pool_space_only():
    model = _temporal(pool_time=False, num_frames=3)
    assert model.blocks[0].pool_size == (1, 2, 2)
    assert model.output_steps == 3
    pooled = discriminators.downsample_video(_video(frames=3))
    assert tuple(model(pooled, _labels()).shape) == (tiny.BATCH,)


def test_temporal_score_is_the_sum_of_per_step_scores(temporal):
    pooled = discriminators.downsample_video(_video(batch=3))
    labels = np.array([2, 0, 1], "int32")
    x = pooled
    for block in temporal.blocks[:2]:
        x = block(x)
    steps = x.shape[1]
    per_step = []
    for t in range(steps):
        h = x[:, t]
        for block in temporal.blocks[2:]:
            h = block(h)
        per_step.append(temporal.head(h, labels).numpy())
    np.testing.assert_allclose(
        temporal(pooled, labels).numpy(),
        np.sum(per_step, axis=0),
        rtol=1e-5,
        atol=1e-4,
    )


def test_temporal_discriminator_rejects_odd_lengths_when_pooling_time():
    with pytest.raises(ValueError, match="num_frames=3"):
        _temporal(num_frames=3)


@pytest.mark.parametrize(
    "frame_size,expected",
    [
        (
            64,
            [(96, True), (192, True), (384, True), (768, True), (1536, False)],
        ),
        (
            256,
            [
                (96, True),
                (192, True),
                (384, True),
                (768, True),
                (768, True),
                (1536, True),
                (1536, False),
            ],
        ),
        (16, [(384, True), (768, True), (1536, False)]),
        (8, [(768, True), (1536, False)]),
    ],
)
def test_block_layout_follows_the_biggan_table(frame_size, expected):
    assert discriminators.block_layout(frame_size, 96) == expected


def test_config_round_trips(spatial, temporal):
    for model, cls in (
        (spatial, discriminators.SpatialDiscriminator),
        (temporal, discriminators.TemporalDiscriminator),
    ):
        config = json.loads(json.dumps(model.get_config()))
        clone = cls.from_config(config)
        assert clone.get_config() == model.get_config()
        assert [w.path for w in clone.weights] == [
            w.path for w in model.weights
        ]


def test_inference_changes_no_variable(spatial):
    before = [w.numpy().copy() for w in spatial.weights]
    spatial(_video(frames=tiny.SAMPLED_FRAMES), _labels(), training=False)
    for value, weight in zip(before, spatial.weights):
        np.testing.assert_array_equal(weight.numpy(), value)


def test_projection_head_contract():
    head = discriminators.ProjectionHead(tiny.NUM_CLASSES, seed=0)
    features = np.random.default_rng(0).normal(size=(3, 2, 2, 5))
    features = features.astype("float32")
    labels = np.array([0, 1, 2], "int32")
    scores = head(features, labels, training=True)
    assert tuple(scores.shape) == (3,)
    assert scores.dtype == "float32"
    # linear kernel + bias and the projection table; two u vectors.
    assert len(head.trainable_weights) == 3
    assert len(head.non_trainable_weights) == 2
    pooled = np.maximum(features, 0).sum(axis=(1, 2))
    table = head.class_projection(labels).numpy()
    linear = head.linear(pooled).numpy()[:, 0]
    np.testing.assert_allclose(
        scores.numpy(), linear + (table * pooled).sum(-1), rtol=1e-4, atol=1e-4
    )
    config = json.loads(json.dumps(head.get_config()))
    clone = discriminators.ProjectionHead.from_config(config)
    assert clone.get_config() == head.get_config()


def test_mixed_precision_scores_stay_float32():
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        spatial = _spatial()
        temporal = _temporal()
        video = _video()
        scores = spatial(
            video[:, : tiny.SAMPLED_FRAMES], _labels(), training=True
        )
        pooled = discriminators.downsample_video(video)
        temporal_scores = temporal(pooled, _labels(), training=True)
        assert scores.dtype == "float32"
        assert temporal_scores.dtype == "float32"
        assert spatial.blocks[0].compute_dtype == "bfloat16"
        assert spatial.head.linear.u.dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_temporal_discriminator_learns_the_direction_of_time():
    # The synthetic set is time-symmetric without its label (every motion
    # has a time-reversed twin class), so D_T must use the label (its
    # projection term) to tell a clip from its reversal. A tiny D_T trained
    # for 100 hinge steps on real clips vs their reversals does.
    num_frames, size = 8, 32
    videos, labels = synthetic.generate_clips(256, num_frames, size, seed=5)
    test_videos, test_labels = synthetic.generate_clips(
        96, num_frames, size, seed=6
    )

    def pooled(clips):
        clips = tf.constant(clips, tf.float32) / 127.5 - 1.0
        return discriminators.downsample_video(clips)

    temporal = discriminators.build_temporal_discriminator(
        resolution=size,
        num_frames=num_frames,
        num_classes=synthetic.NUM_CLASSES,
        channel_multiplier=4,
        seed=0,
    )
    optimizer = keras.optimizers.Adam(1e-3, beta_1=0.0, beta_2=0.999)
    optimizer.build(temporal.trainable_variables)

    @tf.function
    def train_step(forward, backward, labels):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(
                tf.nn.relu(1.0 - temporal(forward, labels, training=True))
            ) + tf.reduce_mean(
                tf.nn.relu(1.0 + temporal(backward, labels, training=True))
            )
        variables = temporal.trainable_variables
        optimizer.apply_gradients(
            zip(tape.gradient(loss, variables), variables)
        )

    rng = np.random.default_rng(0)
    for _ in range(100):
        batch = rng.choice(len(videos), 32, replace=False)
        clips = videos[batch]
        train_step(
            pooled(clips), pooled(clips[:, ::-1]), tf.constant(labels[batch])
        )
    forward = temporal(
        pooled(test_videos), tf.constant(test_labels), training=False
    )
    backward = temporal(
        pooled(test_videos[:, ::-1]), tf.constant(test_labels), training=False
    )
    assert np.mean(forward.numpy() > backward.numpy()) > 0.9
