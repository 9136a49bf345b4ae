"""Table 1's protocol: FID real statistics over a whole split (streamed,
cached, resumable) and the best value over a truncation sweep."""

import os

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.evaluation import job
from dvdgan_tf.evaluation import stats_cache
from dvdgan_tf.evaluation import tasks as tasks_lib
from dvdgan_tf.inference import generation
from dvdgan_tf.metrics import classifier as classifier_lib
from dvdgan_tf.metrics import frechet
from dvdgan_tf.store import checkpointing
from dvdgan_tf.util import errors
from tests import tiny_config
from tests.data import fixtures
from tests.evaluation import test_job

_CLIPS = 20  # clips in the real split


def test_streaming_gaussian_equals_the_in_memory_fit():
    rng = np.random.default_rng(0)
    features = rng.normal(3.0, 2.0, (257, 6)) @ rng.normal(size=(6, 6))
    fit = frechet.StreamingGaussian(6)
    start = 0
    for size in (1, 16, 100, 7, 133):
        fit.update(features[start : start + size])
        if start == 117:  # resume from a saved state midway
            fit = frechet.StreamingGaussian.from_state(fit.state())
        start += size
    mu, sigma = fit.statistics()
    expected_mu, expected_sigma = frechet.gaussian_statistics(features)
    np.testing.assert_allclose(mu, expected_mu, rtol=1e-10)
    np.testing.assert_allclose(sigma, expected_sigma, rtol=1e-10, atol=1e-12)
    assert fit.count == 257


def test_fake_labels_follow_the_splits_class_frequencies():
    labels = tasks_lib.labels_in_proportion([3, 1, 0, 4], 10)
    # 3.75, 1.25, 0, 5 -> 3, 1, 0, 5 + the largest remainder (class 0).
    np.testing.assert_array_equal(
        np.bincount(labels, minlength=4), [4, 1, 0, 5]
    )
    assert len(tasks_lib.labels_in_proportion([5, 5, 5], 7)) == 7


def test_truncation_levels_are_parsed_sorted_and_checked():
    assert job.truncation_levels("1, 0.5,0.25,0.5") == (0.25, 0.5, 1.0)
    assert job.truncation_levels("") == ()
    for bad in ("0.5,x", "-1", "inf"):
        with pytest.raises(errors.ConfigValueError, match="truncation_sweep"):
            job.truncation_levels(bad)


def test_truncated_latents_scale_one_truncated_normal_per_clip():
    half = generation.evaluation_latents(3, [0, 1, 2], 8, truncation=0.5)
    one = generation.evaluation_latents(3, [0, 1, 2], 8, truncation=1.0)
    np.testing.assert_allclose(half, 0.5 * one.numpy(), rtol=1e-6)
    assert np.abs(one).max() <= 2.0
    assert not np.any(generation.evaluation_latents(3, [5], 8, 0.0))
    # None is the untruncated prior, as without a sweep.
    np.testing.assert_array_equal(
        generation.evaluation_latents(3, [0, 1], 8),
        generation.prior_latents(3, [0, 1], 8),
    )


@pytest.fixture(scope="module")
def synthetic_model_dir(tmp_path_factory):
    return test_job._make_synthetic_model_dir(  # noqa: SLF001
        str(tmp_path_factory.mktemp("model"))
    )


@pytest.fixture(scope="module")
def classifier(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("classifier"))
    module = test_job._TinyVideoClassifier()  # noqa: SLF001
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.serve}
    )
    return classifier_lib.build_video_classifier(
        saved_model_dir=path,
        name="tiny",
        num_frames=tiny_config.FRAMES,
        height=8,
        width=8,
        value_range="0_1",
        logits_key="logits",
        features_key="features",
        preprocessing="tgan",
        pre_crop_size=10,
        batch_size=4,
    )


@pytest.fixture(scope="module")
def real_split(tmp_path_factory):
    directory = str(tmp_path_factory.mktemp("split"))
    pattern, videos, labels = fixtures.write_synthetic_shards(
        directory, 2, _CLIPS // 2, num_frames=tiny_config.FRAMES, size=16
    )
    return pattern, labels


def _context(model_dir, pattern, cache_dir, classifier_batch=4):
    generator, _, metadata = checkpointing.load_generator(model_dir)
    return tasks_lib.EvalContext(
        generator=generator,
        metadata=metadata,
        seeds=(0,),
        batch_size=classifier_batch,
        progress=False,
        real_file_pattern=pattern,
        cache=stats_cache.StatsCache(
            cache_dir, metadata.dataset_or_unknown, 16, 1, pattern
        ),
    )


def test_whole_split_statistics_cover_every_clip_and_resume(
    synthetic_model_dir, classifier, real_split, tmp_path
):
    pattern, _ = real_split
    loaded = classifier_lib.LoadedVideoClassifier(classifier)
    context = _context(synthetic_model_dir.path, pattern, str(tmp_path))
    # Expected: every clip of the split, in one in-memory fit.
    batches = list(context.real_batches(None, tiny_config.FRAMES))
    clips = np.concatenate([v for v, _ in batches])
    labels = np.concatenate([b for _, b in batches])
    assert len(clips) == _CLIPS
    mu, sigma = frechet.gaussian_statistics(loaded.predict(clips)["features"])

    task = tasks_lib.FIDTask(classifier, 6, real_stats="split", save_every=4)
    protocol = "fid_tiny_tgan_6_4f_split"
    # A job killed after 8 clips left its progress behind.
    partial = frechet.StreamingGaussian(mu.shape[0])
    partial.update(loaded.predict(clips[:8])["features"])
    context.cache.write_partial(
        protocol,
        {**partial.state(), "label_counts": np.bincount(labels[:8])},
    )
    calls = []
    original = loaded.predict

    class Counting(classifier_lib.LoadedVideoClassifier):
        def predict(self, videos, progress=False):
            calls.append(len(videos))
            return original(videos)

    real = task._whole_split(  # noqa: SLF001
        context, Counting(classifier), tiny_config.FRAMES, protocol
    )
    assert sum(calls) == _CLIPS - 8  # only the unseen clips were classified
    np.testing.assert_allclose(real["mu"], mu, rtol=1e-9)
    np.testing.assert_allclose(real["sigma"], sigma, rtol=1e-9, atol=1e-12)
    assert int(real["num_real_clips"]) == _CLIPS
    np.testing.assert_array_equal(
        np.bincount(real["labels"], minlength=12),
        np.bincount(
            tasks_lib.labels_in_proportion(np.bincount(labels), 6),
            minlength=12,
        ),
    )
    assert context.cache.read_partial(protocol) is None  # done: dropped


def test_job_reports_each_level_and_the_best_with_split_fid(
    synthetic_model_dir, classifier, real_split, tmp_path
):
    pattern, _ = real_split
    settings = job.EvalSettings(
        metrics=("is", "fid"),
        is_protocol="6x1",
        fid_num_videos=6,
        fid_real_stats="split",
        truncation_sweep="0,1",
        real_file_pattern=pattern,
        batch_size=4,
        progress=False,
    )
    _, results = job.evaluate_checkpoint(
        synthetic_model_dir.path,
        None,
        settings,
        classifier=classifier,
        output_dir=str(tmp_path / "eval"),
    )
    by_tag = {r.tag: r for r in results}
    fid = "fid_tiny_tgan_6_4f_split"
    for level in ("0", "1"):
        assert f"is/is_tiny_tgan_6_t{level}" in by_tag  # 1 split: no "x1"
        assert f"fid/{fid}_t{level}" in by_tag
    # Truncation 0: one video per class. The best FID is the lower one,
    # the best IS the higher one, each with the level it came from.
    fids = [by_tag[f"fid/{fid}_t{t}"].value for t in ("0", "1")]
    assert by_tag[f"fid/{fid}_tbest"].value == min(fids)
    assert by_tag[f"fid_truncation/{fid}_tbest"].value == float(np.argmin(fids))
    scores = [by_tag[f"is/is_tiny_tgan_6_t{t}"].value for t in ("0", "1")]
    assert by_tag["is/is_tiny_tgan_6_tbest"].value == max(scores)
    assert fids[0] != fids[1]
    assert any(
        name.startswith("results-")
        for name in os.listdir(str(tmp_path / "eval"))
    )


def test_split_fid_without_a_real_pattern_is_refused():
    with pytest.raises(errors.ConfigValueError, match="real_file_pattern"):
        job.EvalSettings(metrics=("fid",), fid_real_stats="split")
