"""Every level and block of the generator, checked by value.

A 32x32 generator (three ConvGRU + two-block groups) runs once with a spy
on every ConvGRU and every residual block; each test then checks, for
*every* level, what that layer received against what the architecture says
it must: the ConvGRU its own initial state and the previous group's
upsampled frames (the first group: the projected [z; e(y)] repeated T
times), block 1 the ConvGRU's frames folded batch-major and the per-frame
conditioning [z_b; e(y_b)] of its clip, block 2 block 1's output, and only
block 2 doubles the size. DVD-GAN-FP: the context encoder's state of level
g reaches the ConvGRU of level g.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

from dvdgan_tf.models import generator as generator_lib

B, T, Z, E, N = 2, 3, 4, 4, 5
RESOLUTION = 32  # three groups: 4 -> 8 -> 16 -> 32


def _spy(layer, log):
    original = layer.call

    @functools.wraps(original)
    def call(*args, **kwargs):
        output = original(*args, **kwargs)
        log.append(
            dict(
                args=[None if a is None else np.asarray(a) for a in args],
                output=[np.asarray(o) for o in output]
                if isinstance(output, (list, tuple))
                else np.asarray(output),
            )
        )
        return output

    layer.call = call


def _run(num_conditioning_frames=0, given_states=False):
    model = generator_lib.build_generator(
        resolution=RESOLUTION,
        num_frames=T,
        num_classes=N,
        channel_multiplier=2,
        latent_dim=Z,
        embedding_dim=E,
        seed=0,
        num_conditioning_frames=num_conditioning_frames,
    )
    logs = dict(gru=[], block_1=[], block_2=[], encoder=[])
    for g in range(len(model.widths)):
        _spy(model.conv_grus[g], logs["gru"])
        _spy(model.first_blocks[g], logs["block_1"])
        _spy(model.second_blocks[g], logs["block_2"])
    if model.conditioning_encoder is not None:
        _spy(model.conditioning_encoder, logs["encoder"])
    rng = np.random.default_rng(0)
    z = rng.normal(size=(B, Z)).astype("float32")
    labels = np.array([3, 1], "int32")
    kwargs = {}
    if num_conditioning_frames:
        kwargs["conditioning_frames"] = rng.uniform(
            -1, 1, (B, num_conditioning_frames, RESOLUTION, RESOLUTION, 3)
        ).astype("float32")
    elif given_states:
        kwargs["initial_states"] = [
            rng.normal(size=(B,) + shape).astype("float32")
            for shape in model.initial_state_shapes()
        ]
    video = np.asarray(model(z, labels, training=True, **kwargs))
    return model, logs, z, labels, kwargs, video


@pytest.fixture(scope="module")
def synthesis():
    return _run(given_states=True)


@pytest.fixture(scope="module")
def prediction():
    return _run(num_conditioning_frames=2)


def _fold(video):
    """[B, T, h, w, c] -> [B * T, h, w, c], batch-major."""
    return video.reshape((-1,) + video.shape[2:])


def _levels(model):
    return range(len(model.widths))


def test_every_level_has_a_gru_and_two_blocks_that_ran_once(synthesis):
    model, logs, *_ = synthesis
    assert len(model.widths) == 3
    for name in ("gru", "block_1", "block_2"):
        assert len(logs[name]) == 3, name


@pytest.mark.parametrize("level", range(3))
def test_each_gru_starts_from_its_own_state(synthesis, level):
    _, logs, _, _, kwargs, _ = synthesis
    state = logs["gru"][level]["args"][1]
    np.testing.assert_array_equal(state, kwargs["initial_states"][level])


def test_first_gru_input_is_the_projected_conditioning_repeated_t_times(
    synthesis,
):
    model, logs, z, labels, _, _ = synthesis
    embedding = np.asarray(model.class_embedding.embeddings)[labels]
    conditioning = np.concatenate([z, embedding], axis=1)
    projected = np.asarray(model.input_linear(conditioning, training=False))
    first = logs["gru"][0]["args"][0]
    width = model.widths[0][0]
    assert first.shape == (B, T, 4, 4, width)
    expected = projected.reshape(B, 4, 4, width)
    for t in range(T):
        # SN's power iteration moved u by one step in the training call: the
        # projection agrees to SN's tolerance, and every frame is identical.
        np.testing.assert_allclose(first[:, t], expected, rtol=1e-2, atol=1e-3)
        np.testing.assert_array_equal(first[:, t], first[:, 0])


@pytest.mark.parametrize("level", [1, 2])
def test_each_gru_reads_the_previous_groups_upsampled_frames(synthesis, level):
    _, logs, *_ = synthesis
    previous = logs["block_2"][level - 1]["output"]
    gru_input = logs["gru"][level]["args"][0]
    np.testing.assert_array_equal(_fold(gru_input), previous)
    assert gru_input.shape[:2] == (B, T)


@pytest.mark.parametrize("level", range(3))
def test_block_1_reads_its_grus_frames_folded_batch_major(synthesis, level):
    _, logs, *_ = synthesis
    np.testing.assert_array_equal(
        logs["block_1"][level]["args"][0], _fold(logs["gru"][level]["output"])
    )


@pytest.mark.parametrize("level", range(3))
def test_block_2_reads_block_1s_output(synthesis, level):
    _, logs, *_ = synthesis
    np.testing.assert_array_equal(
        logs["block_2"][level]["args"][0], logs["block_1"][level]["output"]
    )


@pytest.mark.parametrize("block", ["block_1", "block_2"])
@pytest.mark.parametrize("level", range(3))
def test_every_block_is_conditioned_on_its_own_clips_z_and_class(
    synthesis, level, block
):
    model, logs, z, labels, _, _ = synthesis
    embedding = np.asarray(model.class_embedding.embeddings)[labels]
    per_clip = np.concatenate([z, embedding], axis=1)
    expected = np.repeat(per_clip, T, axis=0)  # row b * T + t: clip b
    np.testing.assert_allclose(
        logs[block][level]["args"][1], expected, rtol=1e-6
    )


@pytest.mark.parametrize("level", range(3))
def test_only_the_second_block_of_a_group_doubles_the_size(synthesis, level):
    model, logs, *_ = synthesis
    size = 4 * 2**level
    state_width, out_width = model.widths[level]
    assert logs["block_1"][level]["output"].shape == (
        B * T,
        size,
        size,
        state_width,
    )
    assert logs["block_2"][level]["output"].shape == (
        B * T,
        2 * size,
        2 * size,
        out_width,
    )
    assert not model.first_blocks[level].upsample
    assert model.second_blocks[level].upsample


@pytest.mark.parametrize("level", range(3))
def test_every_conditional_bn_keeps_statistics_per_time_step(synthesis, level):
    model, *_ = synthesis
    for block in (model.first_blocks[level], model.second_blocks[level]):
        for bn in (block.bn_1, block.bn_2):
            assert bn.moving_mean.shape[0] == T


def test_the_last_blocks_output_is_what_the_head_turns_into_frames(synthesis):
    model, logs, *_ = synthesis
    last = logs["block_2"][-1]["output"]
    assert last.shape[1:3] == (RESOLUTION, RESOLUTION)


@pytest.mark.parametrize("level", range(3))
def test_fp_each_gru_starts_from_the_encoders_state_of_its_level(
    prediction, level
):
    _, logs, *_ = prediction
    states = logs["encoder"][0]["output"]
    np.testing.assert_array_equal(logs["gru"][level]["args"][1], states[level])
    assert float(np.abs(states[level]).max()) > 0.0
