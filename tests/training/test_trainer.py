"""training.run: resume, non-finite losses, outputs (in-process)."""

import functools
import glob
import io
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import PIL.Image
import PIL.ImageSequence
import pytest
import tensorflow as tf

from dvdgan_tf.gan import dvdgan as gan
from dvdgan_tf.inference import generation
from dvdgan_tf.store import checkpointing
from dvdgan_tf.training import precision as precision_lib
from dvdgan_tf.training import trainer as training
from tests import tiny_gan


def _checkpoint_values(model_dir, step):
    reader = tf.train.load_checkpoint(
        os.path.join(checkpointing.checkpoint_dir(model_dir), f"ckpt-{step}")
    )
    return {
        key: reader.get_tensor(key)
        for key in reader.get_variable_to_shape_map()
        if not key.startswith("_CHECKPOINTABLE_OBJECT_GRAPH")
        and "save_counter" not in key
    }


def _keep_only_checkpoint(model_dir, step):
    """Makes `ckpt-<step>` the latest, as if the run had died after it."""
    directory = checkpointing.checkpoint_dir(model_dir)
    for name in os.listdir(directory):
        if name.startswith("ckpt-") and not name.startswith(f"ckpt-{step}."):
            os.remove(os.path.join(directory, name))
    with open(os.path.join(directory, "checkpoint"), "w") as f:
        f.write(
            f'model_checkpoint_path: "ckpt-{step}"\n'
            f'all_model_checkpoint_paths: "ckpt-{step}"\n'
        )


@pytest.fixture
def eager_functions():
    """Runs tf.functions eagerly: same Python path, no 30 s graph build.

    The compiled path is exercised by the CLI and multi-worker tests.
    """
    tf.config.run_functions_eagerly(True)
    yield
    tf.config.run_functions_eagerly(False)


def test_resumed_run_matches_uninterrupted_run(tmp_path, eager_functions):
    straight, resumed = str(tmp_path / "straight"), str(tmp_path / "resumed")
    kwargs = dict(checkpoint_every=1, steps_per_loop=2)
    training.run(None, **tiny_gan.run_kwargs(straight, 2, **kwargs))
    shutil.copytree(straight, resumed)
    _keep_only_checkpoint(resumed, 1)

    result = training.run(None, **tiny_gan.run_kwargs(resumed, 2, **kwargs))

    # Exactly one step ran after the restore (a from-scratch rerun, which
    # seeded init and step-keyed noise would make identical, ran two).
    assert (result.initial_step, result.step) == (1, 2)
    expected = _checkpoint_values(straight, 2)
    actual = _checkpoint_values(resumed, 2)
    assert expected.keys() == actual.keys()
    # Every object is in there: models, EMA, both optimizers, step and seed.
    for name in checkpointing.OBJECT_NAMES:
        assert any(key.startswith(name + "/") for key in expected), name
    for key in expected:
        np.testing.assert_allclose(
            actual[key], expected[key], rtol=1e-5, atol=1e-6, err_msg=key
        )


def _in_memory_dataset(
    input_context,
    global_batch_size,
    num_frames,
    resolution,
    frame_stride,
    num_classes=0,
    start_step=0,
    value=0.5,
):
    del frame_stride, num_classes, start_step
    batch_size = (
        input_context.get_per_replica_batch_size(global_batch_size)
        if input_context is not None
        else global_batch_size
    )
    batch = {
        "video": tf.fill(
            [batch_size, num_frames, resolution, resolution, 3], value
        ),
        "label": tf.zeros([batch_size], tf.int32),
    }
    return tf.data.Dataset.from_tensors(batch).repeat()


def _in_memory_run_kwargs(model_dir, train_steps, value=0.5):
    kwargs = tiny_gan.run_kwargs(
        model_dir,
        train_steps,
        generator_builder=tiny_gan.ConstantGenerator,
        spatial_discriminator_builder=tiny_gan.MeanPixelSpatialDiscriminator,
        temporal_discriminator_builder=tiny_gan.MeanPixelTemporalDiscriminator,
        dataset_builder=functools.partial(_in_memory_dataset, value=value),
        checkpoint_every=1,
    )
    return kwargs


def test_non_finite_loss_stops_with_step_and_loss_and_keeps_checkpoint(
    tmp_path,
):
    model_dir = str(tmp_path)
    training.run(None, **_in_memory_run_kwargs(model_dir, 1))
    before = _checkpoint_values(model_dir, 1)

    with pytest.raises(
        training.NonFiniteLossError,
        match=r"step 2: .*losses/discriminator=nan.*ckpt-1",
    ):
        training.run(None, **_in_memory_run_kwargs(model_dir, 3, value=np.nan))

    assert checkpointing.list_checkpoint_steps(model_dir) == [1]
    after = _checkpoint_values(model_dir, 1)
    for key in before:
        np.testing.assert_array_equal(after[key], before[key])


def test_run_returns_immediately_when_already_trained(tmp_path):
    model_dir = str(tmp_path)
    training.run(None, **_in_memory_run_kwargs(model_dir, 1))
    index = os.path.join(
        checkpointing.checkpoint_dir(model_dir), "ckpt-1.index"
    )
    written = os.stat(index).st_mtime_ns
    result = training.run(None, **_in_memory_run_kwargs(model_dir, 1))
    assert (result.initial_step, result.step) == (1, 1)
    # No step ran, so nothing was saved again.
    assert int(result.model.generator_optimizer.iterations) == 1
    assert os.stat(index).st_mtime_ns == written
    assert checkpointing.list_checkpoint_steps(model_dir) == [1]


def _count_host_calls(monkeypatch):
    """Records `num_steps` of every host call of the training loop."""
    calls = []
    make_loop = training.make_train_loop

    def counting_make_train_loop(*args, **kwargs):
        loop = make_loop(*args, **kwargs)

        def counted(iterator, num_steps):
            calls.append(int(num_steps))
            return loop(iterator, num_steps)

        return counted

    monkeypatch.setattr(training, "make_train_loop", counting_make_train_loop)
    return calls


def test_steps_per_loop_runs_several_steps_per_host_call(tmp_path, monkeypatch):
    calls = _count_host_calls(monkeypatch)
    kwargs = _in_memory_run_kwargs(str(tmp_path), 5)
    kwargs.update(steps_per_loop=4, log_every=10, checkpoint_every=10)
    result = training.run(None, **kwargs)
    assert result.step == 5
    assert calls == [4, 1]
    assert int(result.model.discriminator_optimizer.iterations) == 10
    assert int(result.model.generator_optimizer.iterations) == 5


@pytest.mark.parametrize(
    "argument, value",
    [
        ("global_batch_size", 0),
        ("train_steps", -1),
        ("checkpoint_every", 0),
    ],
)
def test_invalid_run_arguments_are_rejected_before_building(
    tmp_path, argument, value
):
    kwargs = _in_memory_run_kwargs(str(tmp_path / "run"), 1)
    kwargs[argument] = value
    with pytest.raises(ValueError, match=f"{argument}={value}"):
        training.run(None, **kwargs)
    assert not (tmp_path / "run").exists()


def test_missing_data_directory_fails_before_building(tmp_path):
    kwargs = _in_memory_run_kwargs(str(tmp_path / "run"), 1)
    kwargs["data_dir"] = str(tmp_path / "nowhere")
    with pytest.raises(ValueError, match="data directory does not exist"):
        training.run(None, **kwargs)
    assert not (tmp_path / "run").exists()


def test_gan_builder_defaults_are_the_paper_values():
    model = gan.build_dvdgan(
        tiny_gan.ConstantGenerator(),
        tiny_gan.MeanPixelSpatialDiscriminator(),
        tiny_gan.MeanPixelTemporalDiscriminator(),
    )
    assert model.num_discriminator_steps == 2
    assert model.ema_decay == 0.9999 and model.ema_start_step == 20000


@pytest.mark.slow
def test_jit_compiled_step_gives_the_same_result_as_the_graph_step(tmp_path):
    # ~30 s of XLA compilation on CPU even for the toy models.
    plain = training.run(None, **_in_memory_run_kwargs(str(tmp_path / "a"), 2))
    kwargs = _in_memory_run_kwargs(str(tmp_path / "b"), 2)
    kwargs["jit_compile"] = True
    jitted = training.run(None, **kwargs)
    for name, value in plain.logs.items():
        assert jitted.logs[name] == pytest.approx(value, rel=1e-5), name


# Run in a child process: on a CPU without native bfloat16, TF's oneDNN
# bfloat16 Conv3D gradient is unreliable (training.precision), and only
# TF_ENABLE_ONEDNN_OPTS=0 set before TF starts avoids it.
_BFLOAT16_STEP = """
import json, sys, tempfile
import numpy as np, tensorflow as tf
sys.path.insert(0, sys.argv[1])
tf.config.run_functions_eagerly(True)
from dvdgan_tf.training import precision as precision_lib
from dvdgan_tf.training import trainer as training
from tests import tiny_gan
kwargs = tiny_gan.run_kwargs(tempfile.mkdtemp(), 1, precision="mixed_bfloat16")
result = training.run(None, **kwargs)
weights = result.model.generator.trainable_weights
print(json.dumps({
    "finite": all(bool(np.isfinite(v)) for v in result.logs.values()),
    "dtypes": sorted({v.dtype for v in weights}),
    "policy": tf.keras.mixed_precision.global_policy().name,
}))
"""


def test_mixed_bfloat16_step_keeps_float32_weights_and_finite_losses():
    env = dict(os.environ)
    if not precision_lib.cpu_has_native_bfloat16():
        env["TF_ENABLE_ONEDNN_OPTS"] = "0"
    repo = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
    done = subprocess.run(
        [sys.executable, "-c", _BFLOAT16_STEP, os.path.abspath(repo)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["finite"]
    assert result["dtypes"] == ["float32"]
    # The global policy is restored for whatever runs next.
    assert result["policy"] == "float32"


@pytest.mark.distributed
def test_compiled_loop_under_mirrored_strategy_trains_and_checkpoints(
    tmp_path, logical_cpus
):
    strategy = tf.distribute.MirroredStrategy(logical_cpus)
    kwargs = _in_memory_run_kwargs(str(tmp_path), 3)
    kwargs.update(global_batch_size=4, steps_per_loop=2, log_every=3)
    result = training.run(strategy, **kwargs)
    assert result.step == 3
    assert result.model.discriminator_optimizer.iterations.numpy() == 6
    # Every replica's copy of the step counter advanced once per step.
    assert [
        int(v) for v in strategy.experimental_local_results(result.model.step)
    ] == [3, 3]
    assert checkpointing.list_checkpoint_steps(str(tmp_path)) == [1, 2, 3]
    # Toy scores are hand-computable: D_S real = 2 frames x 0.5 x w.
    assert result.logs["scores/spatial_real"] == pytest.approx(1.0, abs=0.1)


def test_resuming_with_different_models_is_a_clear_error(tmp_path):
    model_dir = str(tmp_path)
    training.run(None, **_in_memory_run_kwargs(model_dir, 1))
    with pytest.raises(ValueError, match="Cannot resume from .*ckpt-1"):
        training.run(None, **tiny_gan.run_kwargs(model_dir, 2))


def _gif_summaries(model_dir):
    gifs = []
    events = glob.glob(os.path.join(model_dir, "train", "events.out.*"))
    for path in events:
        for event in tf.compat.v1.train.summary_iterator(path):
            for value in event.summary.value:
                if value.tag == "samples/ema_generator":
                    gifs.append(tf.make_ndarray(value.tensor)[2])
    return gifs


def test_fp_run_trains_checkpoints_and_writes_the_prediction_grid(
    tmp_path, eager_functions
):
    model_dir = str(tmp_path / "fp")
    kwargs = tiny_gan.run_kwargs(
        model_dir,
        2,
        generator_builder=functools.partial(
            tiny_gan.build_generator, num_conditioning_frames=2, num_frames=2
        ),
        sample_every=1,
        sample_columns=2,
    )
    result = training.run(None, **kwargs)
    assert (result.initial_step, result.step) == (0, 2)
    assert checkpointing.list_checkpoint_steps(model_dir) == [2]
    metadata = checkpointing.read_metadata(model_dir)
    assert (metadata["num_frames"], metadata["num_conditioning_frames"]) == (
        2,
        2,
    )
    generator, _, _ = checkpointing.load_generator(model_dir)
    assert generator.num_conditioning_frames == 2
    gifs = _gif_summaries(model_dir)
    assert gifs
    image = PIL.Image.open(io.BytesIO(gifs[-1]))
    frames = np.stack(
        [
            np.asarray(f.convert("RGB"))
            for f in PIL.ImageSequence.Iterator(image)
        ]
    )
    # 6 fixed real clips (rows) x (2 predictions + the real clip), 4 frames.
    size = 16 + 1
    assert frames.shape == (4, 6 * size - 1, 3 * size - 1, 3)
    # Conditioning frames (0, 1) are framed in red, predicted ones are not.
    mark = np.asarray(generation.CONTEXT_MARK)
    assert np.abs(frames[0, 0, 8].astype(int) - mark).max() <= 40
    assert np.abs(frames[3, 0, 8].astype(int) - mark).max() > 40
