"""What each discriminator sees in the training step, compared by value.

A stamping generator (each clip's pixels encode its label, its z and the
frame index) and recording, label-dependent toy discriminators are run
through one eager `DVDGAN.train_step`; every D input and every label
vector of the D steps and the G step is then compared with what the step
must have fed: the real sub-batch of that D step, the generator's output
for the z and classes it was given, D_S's K frames from the right part of
the clip, D_T's 2x2-pooled whole clip, and the labels in the same order as
the clips. Synthesis and DVD-GAN-FP.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.gan import dvdgan as gan

B, S, T, K, H = 2, 2, 3, 2, 4  # batch, D steps, G frames, D_S frames, size
NUM_CLASSES, LATENT = 5, 2


class StampGenerator(keras.Model):
    """pixel[b, t, y, x, c] = gain * (0.1 * label_b + z_b0 + 0.01 * t) (+ the
    mean of its context for FP), so a clip names its label, its z and its
    frame order. Records what every call received."""

    def __init__(self, num_conditioning_frames=0, **kwargs):
        super().__init__(**kwargs)
        self.num_classes, self.latent_dim = NUM_CLASSES, LATENT
        self.num_frames, self.resolution = T, H
        if num_conditioning_frames:
            self.num_conditioning_frames = num_conditioning_frames
        self.gain = self.add_weight(shape=(), initializer="ones", name="gain")
        self.calls = []

    def call(self, z, labels=None, conditioning_frames=None, training=False):
        self.calls.append(
            dict(
                z=np.asarray(z),
                labels=np.asarray(labels),
                context=None
                if conditioning_frames is None
                else np.asarray(conditioning_frames),
            )
        )
        value = 0.1 * tf.cast(labels, tf.float32) + z[:, 0]
        if conditioning_frames is not None:
            value += tf.reduce_mean(conditioning_frames, axis=[1, 2, 3, 4])
        times = 0.01 * tf.range(T, dtype=tf.float32)
        clip = value[:, None] + times[None, :]
        return self.gain * tf.tile(
            clip[:, :, None, None, None], [1, 1, H, H, 3]
        )

    def get_config(self):
        return {}


class RecordingDiscriminator(keras.Model):
    """score = w * (mean pixel + 0.01 * label); records inputs and labels."""

    def __init__(self, num_sampled_frames=None, **kwargs):
        super().__init__(**kwargs)
        if num_sampled_frames:
            self.num_sampled_frames = num_sampled_frames
        self.weight = self.add_weight(shape=(), initializer="ones", name="w")
        self.calls = []

    def call(self, video, labels=None, training=False):
        self.calls.append((np.asarray(video), np.asarray(labels)))
        mean = tf.reduce_mean(tf.cast(video, tf.float32), axis=[1, 2, 3, 4])
        return self.weight * (mean + 0.01 * tf.cast(labels, tf.float32))


def _run_step(num_conditioning_frames=0):
    generator = StampGenerator(num_conditioning_frames)
    ema_generator = StampGenerator(num_conditioning_frames)
    d_s = RecordingDiscriminator(num_sampled_frames=K)
    d_t = RecordingDiscriminator()
    model = gan.DVDGAN(
        generator,
        d_s,
        d_t,
        ema_generator,
        num_discriminator_steps=S,
        loss="hinge",
        orthogonal_regularization=0.0,
        r1_gamma=0.0,
        ema_decay=0.9,
        ema_start_step=0,
        seed=3,
        generator_temporal_weight=1.0,
    )
    model.compile(
        generator_optimizer=keras.optimizers.SGD(0.1),
        discriminator_optimizer=keras.optimizers.SGD(0.1),
    )
    frames = num_conditioning_frames + T
    rng = np.random.default_rng(0)
    # Distinct, recognisable real clips: clip i has values near 10 * (i+1).
    video = np.stack(
        [
            10.0 * (i + 1) + rng.uniform(0, 1, (frames, H, H, 3))
            for i in range(S * B)
        ]
    ).astype(np.float32)
    labels = np.array([4, 1, 3, 0], np.int32)[: S * B]
    generator.calls.clear()
    model.train_step({"video": video, "label": labels})
    return model, generator, d_s, d_t, video, labels


def _pool(video):
    shape = video.shape
    return video.reshape(
        shape[0], shape[1], shape[2] // 2, 2, shape[3] // 2, 2, shape[4]
    ).mean(axis=(3, 5))


def _assert_frames_sampled_from(sampled, clips):
    """Each clip's K frames are distinct frames of `clips[b]`, in order."""
    assert sampled.shape == (clips.shape[0], K) + clips.shape[2:]
    for b in range(clips.shape[0]):
        indices = []
        for frame in sampled[b]:
            matches = [
                t
                for t in range(clips.shape[1])
                if np.allclose(frame, clips[b, t], atol=1e-6)
            ]
            assert matches, f"clip {b}: a D_S frame is not a frame of the clip"
            indices.append(matches[0])
        assert indices == sorted(set(indices)), indices


def _expected_fake(call):
    generator = StampGenerator(
        0 if call["context"] is None else call["context"].shape[1]
    )
    prediction = np.asarray(
        generator(
            call["z"], call["labels"], conditioning_frames=call["context"]
        )
    )
    if call["context"] is None:
        return prediction
    return np.concatenate([call["context"], prediction], axis=1)


@pytest.fixture(scope="module")
def synthesis_step():
    return _run_step()


@pytest.fixture(scope="module")
def fp_step():
    return _run_step(num_conditioning_frames=2)


def test_generator_is_called_once_per_d_step_and_once_for_the_g_step(
    synthesis_step,
):
    _, generator, d_s, d_t, _, _ = synthesis_step
    assert len(generator.calls) == S + 1
    assert len(d_s.calls) == len(d_t.calls) == S + 1


@pytest.mark.parametrize("index", range(S))
def test_d_step_sees_its_own_real_batch_then_the_fakes_of_its_labels(
    synthesis_step, index
):
    _, generator, _, d_t, video, labels = synthesis_step
    call = generator.calls[index]
    real = video[index * B : (index + 1) * B]
    real_labels = labels[index * B : (index + 1) * B]
    expected = np.concatenate([real, _expected_fake(call)], axis=0)
    seen, seen_labels = d_t.calls[index]
    np.testing.assert_allclose(seen, _pool(expected), atol=1e-5)
    np.testing.assert_array_equal(
        seen_labels, np.concatenate([real_labels, call["labels"]])
    )


@pytest.mark.parametrize("index", range(S))
def test_d_s_samples_k_frames_of_each_clip_under_the_clips_labels(
    synthesis_step, index
):
    _, generator, d_s, d_t, video, labels = synthesis_step
    call = generator.calls[index]
    real = video[index * B : (index + 1) * B]
    clips = np.concatenate([real, _expected_fake(call)], axis=0)
    seen, seen_labels = d_s.calls[index]
    _assert_frames_sampled_from(seen, clips)
    np.testing.assert_array_equal(seen_labels, d_t.calls[index][1])


def test_fake_classes_of_the_d_steps_are_drawn_not_copied_from_the_real(
    synthesis_step,
):
    _, generator, _, _, _, labels = synthesis_step
    drawn = np.concatenate([c["labels"] for c in generator.calls[:S]])
    assert drawn.min() >= 0 and drawn.max() < NUM_CLASSES
    assert not np.array_equal(drawn, labels)
    # Each D step and the G step draw their own z.
    latents = [c["z"] for c in generator.calls]
    assert not np.allclose(latents[0], latents[1])
    assert not np.allclose(latents[0], latents[S])


def test_g_step_scores_only_fresh_fakes_under_their_own_labels(synthesis_step):
    _, generator, d_s, d_t, _, _ = synthesis_step
    call = generator.calls[S]
    fake = _expected_fake(call)
    seen, seen_labels = d_t.calls[S]
    np.testing.assert_allclose(seen, _pool(fake), atol=1e-5)
    np.testing.assert_array_equal(seen_labels, call["labels"])
    _assert_frames_sampled_from(d_s.calls[S][0], fake)
    np.testing.assert_array_equal(d_s.calls[S][1], call["labels"])


@pytest.mark.parametrize("index", range(S))
def test_fp_d_step_continues_its_real_batch_under_the_real_labels(
    fp_step, index
):
    _, generator, d_s, d_t, video, labels = fp_step
    call = generator.calls[index]
    real = video[index * B : (index + 1) * B]
    real_labels = labels[index * B : (index + 1) * B]
    np.testing.assert_array_equal(call["context"], real[:, :2])
    np.testing.assert_array_equal(call["labels"], real_labels)
    clips = np.concatenate([real, _expected_fake(call)], axis=0)
    seen, seen_labels = d_t.calls[index]
    assert seen.shape[1] == 2 + T  # D_T: the whole clip
    np.testing.assert_allclose(seen, _pool(clips), atol=1e-5)
    np.testing.assert_array_equal(
        seen_labels, np.concatenate([real_labels, real_labels])
    )
    _assert_frames_sampled_from(d_s.calls[index][0], clips[:, 2:])
    np.testing.assert_array_equal(d_s.calls[index][1], seen_labels)


def test_fp_g_step_continues_the_first_real_batch_under_its_labels(fp_step):
    _, generator, d_s, d_t, video, labels = fp_step
    call = generator.calls[S]
    np.testing.assert_array_equal(call["context"], video[:B, :2])
    np.testing.assert_array_equal(call["labels"], labels[:B])
    clips = _expected_fake(call)
    np.testing.assert_allclose(d_t.calls[S][0], _pool(clips), atol=1e-5)
    np.testing.assert_array_equal(d_t.calls[S][1], labels[:B])
    _assert_frames_sampled_from(d_s.calls[S][0], clips[:, 2:])
    np.testing.assert_array_equal(d_s.calls[S][1], labels[:B])
