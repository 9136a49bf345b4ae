"""End-to-end tests of dvdgan_tf.evaluate on a tiny checkpoint."""

import glob
import json
import os
import signal
import threading

import numpy as np
import pytest
import scipy.linalg
import tensorflow as tf

from dvdgan_tf.data import synthetic
from dvdgan_tf.evaluation import job
from dvdgan_tf.evaluation import real_clips
from dvdgan_tf.metrics import classifier as classifier_lib
from dvdgan_tf.metrics import fvd
from dvdgan_tf.metrics import judge as judge_lib
from dvdgan_tf.store import checkpointing
from tests import model_dir_fixture
from tests import tiny_config
from tests.evaluation import test_real_clips

JUDGE_CLIPS = 24


def _make_synthetic_model_dir(path, num_conditioning_frames=0):
    written = model_dir_fixture.write_tiny_model_dir(
        path,
        num_classes=synthetic.NUM_CLASSES,
        num_conditioning_frames=num_conditioning_frames,
    )
    metadata = dict(
        written.metadata,
        class_names=list(synthetic.class_names()),
        dataset="synthetic-s16-25fps-q90",
    )
    checkpointing.write_json_atomic(
        os.path.join(path, checkpointing.METADATA_FILE), metadata
    )
    return written


@pytest.fixture(scope="module")
def judge_dir(tmp_path_factory):
    # Accuracy is irrelevant here (tests/metrics/test_judge.py covers it).
    judge = judge_lib.train_judge(
        judge_lib.JudgeSettings(
            num_frames=tiny_config.FRAMES,
            size=tiny_config.RESOLUTION,
            width=4,
            num_train_clips=48,
            num_test_clips=24,
            epochs=1,
        )
    )
    path = str(tmp_path_factory.mktemp("judge"))
    judge.save(path)
    return path


@pytest.fixture(scope="module")
def synthetic_model_dir(tmp_path_factory):
    return _make_synthetic_model_dir(str(tmp_path_factory.mktemp("model")))


def _independent_clips(model_dir, num_videos, seed, num_frames=None):
    """The documented sampling recipe, written out without dvdgan_tf.

    EMA generator; z of clip i = stateless_normal(seed=[seed, i]); labels
    i mod N; the first `num_frames` frames; uint8 = round((x + 1) * 127.5).
    """
    generator, _, _ = checkpointing.load_generator(model_dir)
    z = np.stack(
        [
            tf.random.stateless_normal([generator.latent_dim], seed=[seed, i])
            for i in range(num_videos)
        ]
    )
    labels = np.arange(num_videos) % int(generator.num_classes)
    video = generator(z, labels, training=False).numpy()[:, :num_frames]
    clips = np.clip(np.round((video + 1.0) * 127.5), 0, 255).astype(np.uint8)
    return clips, labels


def _numpy_inception_score(probabilities, num_splits):
    scores = []
    for split in np.split(np.asarray(probabilities, np.float64), num_splits):
        marginal = split.mean(axis=0, keepdims=True)
        kl = np.sum(split * (np.log(split) - np.log(marginal)), axis=1)
        scores.append(np.exp(kl.mean()))
    return float(np.mean(scores)), float(np.std(scores))


def _settings(judge_dir, **overrides):
    arguments = dict(
        metrics=("judge",),
        judge_dir=judge_dir,
        judge_num_clips=JUDGE_CLIPS,
        batch_size=8,
        progress=False,
    )
    arguments.update(overrides)
    return job.EvalSettings(**arguments)


def _scalars(event_dir):
    values = {}
    for path in glob.glob(os.path.join(event_dir, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                values[(value.tag, event.step)] = float(
                    tf.make_ndarray(value.tensor)
                )
    return values


def test_judge_evaluation_writes_json_and_scalars(
    synthetic_model_dir, judge_dir, tmp_path
):
    output_dir = str(tmp_path / "eval")
    steps = job.run(
        synthetic_model_dir.path, _settings(judge_dir), output_dir=output_dir
    )
    assert steps == [model_dir_fixture.STEP]
    with open(os.path.join(output_dir, f"results-{steps[0]}.json")) as f:
        record = json.load(f)
    by_name = {metric["name"]: metric for metric in record["metrics"]}
    assert set(by_name) >= {
        "judge_accuracy",
        "judge_appearance_accuracy",
        "judge_motion_accuracy",
        "judge_frechet_distance",
        "judge_frechet_floor",
        "judge_real_accuracy",
    }
    accuracy = by_name["judge_accuracy"]
    assert accuracy["protocol"] == f"judge{JUDGE_CLIPS}"
    assert accuracy["num_samples"] == JUDGE_CLIPS
    assert accuracy["seed"] == 0 and accuracy["std"] is None
    clips, labels = _independent_clips(synthetic_model_dir.path, JUDGE_CLIPS, 0)
    judge = judge_lib.load_judge(judge_dir)
    probabilities, _ = judge.predict(clips)
    expected = np.mean(np.argmax(probabilities, axis=1) == labels)
    assert accuracy["value"] == pytest.approx(expected, abs=1e-9)
    assert by_name["judge_frechet_distance"]["value"] > 0.0
    scalars = _scalars(output_dir)
    key = (f"judge_accuracy/judge{JUDGE_CLIPS}", model_dir_fixture.STEP)
    assert scalars[key] == pytest.approx(accuracy["value"], abs=1e-6)


def test_real_statistics_are_cached_and_reused(
    synthetic_model_dir, judge_dir, tmp_path
):
    cache_dir = str(tmp_path / "cache")
    settings = _settings(judge_dir, cache_dir=cache_dir)
    _, first = job.evaluate_checkpoint(
        synthetic_model_dir.path, None, settings, output_dir=str(tmp_path)
    )
    cached = glob.glob(os.path.join(cache_dir, "*.npz"))
    assert len(cached) == 1
    assert os.path.basename(cached[0]).startswith(
        f"synthetic-s16-25fps-q90-16px-fs1-rendered-judge{JUDGE_CLIPS}-"
    )
    # A poisoned cache proves the second evaluation reads it.
    with np.load(cached[0]) as data:
        arrays = {key: data[key] for key in data.files}
    arrays["floor"] = np.float64(-1.0)
    np.savez(cached[0], **arrays)
    _, second = job.evaluate_checkpoint(
        synthetic_model_dir.path, None, settings, output_dir=str(tmp_path)
    )
    floors = [r.value for r in second if r.name == "judge_frechet_floor"]
    assert floors == [-1.0]
    assert [r.value for r in first if r.name == "judge_accuracy"] == [
        r.value for r in second if r.name == "judge_accuracy"
    ]


def test_several_runs_report_std(synthetic_model_dir, judge_dir, tmp_path):
    _, results = job.evaluate_checkpoint(
        synthetic_model_dir.path,
        None,
        _settings(judge_dir, num_runs=2),
        output_dir=str(tmp_path),
    )
    distance = [r for r in results if r.name == "judge_frechet_distance"][0]
    assert distance.std is not None and distance.std > 0.0


def test_continuous_mode_evaluates_every_checkpoint_once(judge_dir, tmp_path):
    model_dir = str(tmp_path / "model")
    written = _make_synthetic_model_dir(model_dir)
    checkpointing.make_manager(
        checkpointing.build_checkpoint(
            step=tf.Variable(9, dtype=tf.int64),
            generator=written.generator,
            ema_generator=written.ema_generator,
        ),
        model_dir,
    ).save(checkpoint_number=9)
    first = job.run(
        model_dir, _settings(judge_dir), continuous=True, timeout_secs=1
    )
    again = job.run(
        model_dir, _settings(judge_dir), continuous=True, timeout_secs=1
    )
    assert first == [model_dir_fixture.STEP, 9]
    assert again == []
    assert (
        sorted(os.listdir(os.path.join(model_dir, "eval"))).count(
            "results-9.json"
        )
        == 1
    )


def test_continuous_mode_stops_after_max_checkpoints(
    synthetic_model_dir, judge_dir, tmp_path
):
    steps = job.run(
        synthetic_model_dir.path,
        _settings(judge_dir),
        continuous=True,
        max_checkpoints=1,
        output_dir=str(tmp_path / "eval"),
    )
    assert steps == [model_dir_fixture.STEP]


def test_missing_checkpoint_is_a_clear_error(tmp_path, judge_dir):
    os.makedirs(tmp_path / "empty")
    with pytest.raises(checkpointing.CheckpointError, match="No checkpoint"):
        job.run(str(tmp_path / "empty"), _settings(judge_dir))


def test_fvd_rejects_clips_shorter_than_nine_frames(
    synthetic_model_dir, judge_dir, tmp_path
):
    with pytest.raises(ValueError, match="at least 9 frames"):
        job.evaluate_checkpoint(
            synthetic_model_dir.path,
            None,
            _settings(judge_dir, metrics=("fvd",)),
            output_dir=str(tmp_path),
        )


def test_judge_of_another_size_is_rejected(synthetic_model_dir, tmp_path):
    judge = judge_lib.Judge(
        judge_lib.build_judge_model(4, 32, synthetic.NUM_CLASSES, width=2),
        judge_lib.JudgeSettings(num_frames=4, size=32, width=2),
        synthetic.class_names(),
    )
    judge.save(str(tmp_path / "judge32"))
    with pytest.raises(ValueError, match="--size=16"):
        job.evaluate_checkpoint(
            synthetic_model_dir.path,
            None,
            _settings(str(tmp_path / "judge32")),
            output_dir=str(tmp_path),
        )


# Five synthetic clips in one TFRecord shard (module-scoped fixture).
synthetic_records = test_real_clips.synthetic_records


class _TinyVideoClassifier(tf.Module):
    @tf.function(
        input_signature=[
            tf.TensorSpec([None, tiny_config.FRAMES, 8, 8, 3], tf.float32)
        ]
    )
    def serve(self, clips):
        pooled = tf.reduce_mean(clips, axis=[1, 2, 3])
        return {
            "logits": 4.0 * tf.concat([pooled, -pooled], axis=-1),
            "features": pooled,
        }


def test_inception_score_and_fid_with_a_classifier_end_to_end(
    synthetic_model_dir, judge_dir, tmp_path
):
    path = str(tmp_path / "classifier")
    module = _TinyVideoClassifier()
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.serve}
    )
    classifier = classifier_lib.build_video_classifier(
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
    )
    settings = _settings(
        judge_dir, metrics=("is", "fid"), is_protocol="6x2", fid_num_videos=12
    )
    _, results = job.evaluate_checkpoint(
        synthetic_model_dir.path,
        None,
        settings,
        classifier=classifier,
        output_dir=str(tmp_path / "eval"),
    )
    by_name = {r.name: r for r in results}
    assert by_name["is"].protocol == "is_tiny_tgan_6x2"
    # "6x2": 2 splits of 6 clips each, 12 clips in all.
    clips, _ = _independent_clips(
        synthetic_model_dir.path, 12, 0, tiny_config.FRAMES
    )
    probabilities = classifier_lib.LoadedVideoClassifier(classifier).predict(
        clips
    )["probabilities"]
    mean, std = _numpy_inception_score(probabilities, 2)
    assert by_name["is"].value == pytest.approx(mean, rel=1e-6)
    assert by_name["is"].std == pytest.approx(std, rel=1e-6, abs=1e-9)
    assert by_name["fid"].protocol == "fid_tiny_tgan_12_4f"
    assert by_name["fid"].value > 0.0


def test_is_without_classifier_explains_the_gin_binding(
    synthetic_model_dir, judge_dir, tmp_path
):
    with pytest.raises(ValueError, match="build_video_classifier"):
        job.evaluate_checkpoint(
            synthetic_model_dir.path,
            None,
            _settings(judge_dir, metrics=("is",)),
            output_dir=str(tmp_path),
        )


def _numpy_frechet(a, b):
    mu_a, mu_b = a.mean(axis=0), b.mean(axis=0)
    sigma_a, sigma_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(sigma_a @ sigma_b).real
    return float(
        np.sum((mu_a - mu_b) ** 2) + np.trace(sigma_a + sigma_b - 2.0 * covmean)
    )


def test_fvd_end_to_end_matches_an_independent_computation(tmp_path, judge_dir):
    from dvdgan_tf.models import generator as generator_lib

    generator = generator_lib.build_generator(
        resolution=tiny_config.RESOLUTION,
        num_frames=10,
        num_classes=synthetic.NUM_CLASSES,
        channel_multiplier=tiny_config.CHANNEL_MULTIPLIER,
        latent_dim=tiny_config.LATENT_DIM,
        embedding_dim=tiny_config.EMBEDDING_DIM,
        width_preset="B",
        use_attention=False,
    )
    model_dir = str(tmp_path / "model")
    checkpointing.write_model_spec(
        model_dir,
        generator,
        dict(
            model_dir_fixture.tiny_metadata(synthetic.NUM_CLASSES),
            class_names=list(synthetic.class_names()),
            num_frames=10,
            dataset="synthetic",
        ),
    )
    checkpointing.make_manager(
        checkpointing.build_checkpoint(
            step=tf.Variable(3, dtype=tf.int64),
            generator=generator,
            ema_generator=generator,
        ),
        model_dir,
    ).save(checkpoint_number=3)
    _, results = job.evaluate_checkpoint(
        model_dir,
        None,
        _settings(judge_dir, metrics=("fvd",), fvd_num_videos=4, batch_size=4),
        output_dir=str(tmp_path / "eval"),
    )
    assert results[0].protocol == "fvd4_10f"
    # Independently: the real synthetic clips of REAL_SEED, fakes for the
    # same labels with z_i = stateless_normal(seed=[0, i]), I3D logits,
    # Frechet distance in NumPy/SciPy.
    real, labels = synthetic.generate_clips(
        4, 10, tiny_config.RESOLUTION, real_clips.REAL_SEED
    )
    z = np.stack(
        [
            tf.random.stateless_normal([generator.latent_dim], seed=[0, i])
            for i in range(4)
        ]
    )
    fake = generator(z, labels, training=False).numpy()
    fake = np.clip(np.round((fake + 1.0) * 127.5), 0, 255).astype(np.uint8)
    expected = _numpy_frechet(fvd.i3d_logits(real), fvd.i3d_logits(fake))
    assert results[0].value == pytest.approx(expected, rel=1e-3)


def test_malformed_is_protocol_fails_before_any_work():
    with pytest.raises(ValueError, match="received: '2048by10'"):
        job.EvalSettings(metrics=("is",), is_protocol="2048by10")


def test_judge_floor_from_records_compares_distinct_clips(
    synthetic_model_dir, judge_dir, synthetic_records, tmp_path
):
    _, results = job.evaluate_checkpoint(
        synthetic_model_dir.path,
        None,
        _settings(
            judge_dir, judge_num_clips=2, real_file_pattern=synthetic_records
        ),
        output_dir=str(tmp_path),
    )
    floor = [r for r in results if r.name == "judge_frechet_floor"][0]
    assert floor.value > 0.0


def test_continuous_evaluation_stops_cleanly_on_ctrl_c(
    synthetic_model_dir, judge_dir, tmp_path
):
    output_dir = str(tmp_path / "eval")
    os.makedirs(output_dir)
    done = os.path.join(
        output_dir,
        job.RESULTS_TEMPLATE.format(step=model_dir_fixture.STEP),
    )
    with open(done, "w") as f:
        f.write("{}")  # Already evaluated: the job waits for new ones.
    timer = threading.Timer(1.0, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    try:
        steps = job.run(
            synthetic_model_dir.path,
            _settings(judge_dir),
            continuous=True,
            output_dir=output_dir,
        )
    finally:
        timer.cancel()
    assert steps == []


def test_fp_judge_scores_whole_clips_continuing_real_evaluation_clips(
    judge_dir, tmp_path
):
    context = model_dir_fixture.FP_CONTEXT
    model_dir = str(tmp_path / "fp_model")
    _make_synthetic_model_dir(model_dir, num_conditioning_frames=context)
    _, results = job.evaluate_checkpoint(
        model_dir, None, _settings(judge_dir), output_dir=str(tmp_path / "e")
    )
    by_name = {r.name: r for r in results}
    assert by_name["judge_accuracy"].protocol == f"judge{JUDGE_CLIPS}_fp2"
    # Independently: the first N real clips of the evaluation set give the
    # context and the labels; z of clip i = stateless_normal([0, i]).
    generator, _, metadata = checkpointing.load_generator(model_dir)
    real, labels = real_clips.load_real_clips(
        JUDGE_CLIPS,
        tiny_config.FRAMES,
        1,
        tiny_config.RESOLUTION,
        metadata["dataset"],
    )
    z = np.stack(
        [
            tf.random.stateless_normal([generator.latent_dim], seed=[0, i])
            for i in range(JUDGE_CLIPS)
        ]
    )
    prediction = generator(
        z,
        labels,
        conditioning_frames=real[:, :context].astype(np.float32) / 127.5 - 1,
        training=False,
    ).numpy()
    predicted = np.clip(np.round((prediction + 1.0) * 127.5), 0, 255)
    clips = np.concatenate([real[:, :context], predicted.astype(np.uint8)], 1)
    probabilities, _ = judge_lib.load_judge(judge_dir).predict(clips)
    expected = np.mean(np.argmax(probabilities, axis=1) == labels)
    assert by_name["judge_accuracy"].value == pytest.approx(expected, abs=1e-9)


def test_evaluate_flags_are_derived_from_the_one_settings_declaration():
    from absl import flags

    from dvdgan_tf import evaluate

    flag_values = flags.FlagValues()
    evaluate.define_flags(flag_values)
    flag_values(["evaluate", "--seed=7", "--nouse_ema", "--metrics=fvd,judge"])
    declared = {field.name: field for field in job.settings_flags()}
    assert "progress" not in declared  # a library setting, not a flag
    for name, field in declared.items():
        assert flag_values[name].help == field.metadata["help"]
        if name != "metrics":  # None on the CLI: chosen by dataset
            assert flag_values[name].default == field.default, name
    values = {name: flag_values[name].value for name in declared}
    settings = job.EvalSettings(**dict(values, metrics=("fvd", "judge")))
    assert (settings.seed, settings.use_ema) == (7, False)
    assert settings.judge_num_clips == job.EvalSettings().judge_num_clips
