"""Tests for dvdgan_tf.metrics.judge (trained once, at tiny size)."""

import numpy as np
import pytest

from dvdgan_tf.data import synthetic
from dvdgan_tf.metrics import judge as judge_lib
from tests import tiny_config

CHANCE = 1.0 / synthetic.NUM_CLASSES
TINY_SETTINGS = judge_lib.JudgeSettings(
    num_frames=tiny_config.FRAMES,
    size=tiny_config.RESOLUTION,
    width=16,
    num_train_clips=960,
    num_test_clips=240,
    epochs=12,
    learning_rate=3e-3,
    seed=0,
)


@pytest.fixture(scope="module")
def tiny_judge():
    return judge_lib.train_judge(TINY_SETTINGS)


def test_judge_beats_chance_clearly_on_held_out_clips(tiny_judge):
    assert tiny_judge.controls.accuracy > 6 * CHANCE


def test_reversed_clips_map_to_the_reversed_label(tiny_judge):
    controls = tiny_judge.controls
    assert controls.reversed_twin_accuracy > 0.6
    assert controls.reversed_accuracy < controls.reversed_twin_accuracy / 3


def test_real_clips_score_high_and_noise_scores_low(tiny_judge):
    videos, labels = synthetic.generate_clips(
        120, TINY_SETTINGS.num_frames, TINY_SETTINGS.size, seed=7
    )
    real = tiny_judge.score(videos, labels)
    noise = tiny_judge.score(
        np.random.default_rng(0).integers(0, 256, videos.shape, np.uint8),
        labels,
    )
    assert real.accuracy > 0.6
    assert real.appearance_accuracy >= real.accuracy
    assert real.motion_accuracy >= real.accuracy
    assert noise.accuracy < 2 * CHANCE
    assert real.num_clips == 120


def test_scores_marginalise_appearance_and_motion(tiny_judge):
    # All mass on "disc_left" for clips labelled "disc_right" (motion wrong)
    # and "square_left" (appearance wrong).
    names = synthetic.class_names()
    probabilities = np.zeros((2, len(names)))
    probabilities[:, names.index("disc_left")] = 1.0
    labels = [names.index("disc_right"), names.index("square_left")]
    scores = tiny_judge.score_probabilities(probabilities, labels)
    assert scores.accuracy == 0.0
    assert scores.appearance_accuracy == 0.5
    assert scores.motion_accuracy == 0.5


def test_saved_judge_reloads_with_identical_predictions(tiny_judge, tmp_path):
    tiny_judge.save(str(tmp_path))
    loaded = judge_lib.load_judge(str(tmp_path))
    videos, _ = synthetic.generate_clips(
        8, TINY_SETTINGS.num_frames, TINY_SETTINGS.size, seed=3
    )
    np.testing.assert_allclose(
        loaded.predict(videos)[0], tiny_judge.predict(videos)[0], atol=1e-6
    )
    assert loaded.settings == TINY_SETTINGS
    assert loaded.controls == tiny_judge.controls


def test_real_statistics_floor_is_small_against_noise(tiny_judge):
    real_a, _ = synthetic.generate_clips(96, 4, 16, seed=11)
    real_b, _ = synthetic.generate_clips(96, 4, 16, seed=12)
    statistics = judge_lib.real_statistics(tiny_judge, real_a, real_b)
    noise = np.random.default_rng(1).integers(0, 256, real_a.shape, np.uint8)
    noise_statistics = judge_lib.real_statistics(tiny_judge, noise, real_b)
    assert statistics.floor < noise_statistics.floor / 4
    assert statistics.mu.shape == (4 * TINY_SETTINGS.width,)


def test_wrong_clip_shape_is_rejected(tiny_judge):
    with pytest.raises(ValueError, match=r"shape=\(1, 8, 16, 16, 3\)"):
        tiny_judge.predict(np.zeros((1, 8, 16, 16, 3), np.uint8))


def test_missing_judge_dir_explains_how_to_train(tmp_path):
    with pytest.raises(ValueError, match="train_judge.py"):
        judge_lib.load_judge(str(tmp_path / "nowhere"))
