"""`run`: the single gin root; trains DVD-GAN under any tf.distribute strategy.

What `run` does, in order (docs/ARCHITECTURE.md "Training state on disk"):

1. sets the Keras dtype policy (``float32`` or ``mixed_bfloat16``);
2. checks the data directory (manifest) before any model is built;
3. inside ``strategy.scope()``: builds G, D_S, D_T through the gin-configured
   builders, the `gan.DVDGAN` (with its EMA generator) and both optimizers
   (pre-built: lazily created slots fail under MirroredStrategy);
4. restores the latest checkpoint of ``model_dir`` if there is one (restart
   with the same command resumes), and writes ``generator_config.json`` and
   ``metadata.json`` atomically;
5. distributes the input per host (`distribute_datasets_from_function`), the
   dataset yielding ``num_discriminator_steps`` real batches per step;
6. loops: one `tf.function` call runs up to ``steps_per_loop`` steps of
   ``strategy.run(train_step)`` (Model Garden / orbit style: Keras ``fit``
   breaks under multi-replica strategies, STACK.md section 4); between calls
   the host logs, writes summaries and GIF samples, and saves checkpoints.

Fault tolerance:

* checkpoints every ``checkpoint_every`` steps and at the end
  (`tf.train.CheckpointManager`, ``keep_checkpoints`` kept), holding the step,
  G, D_S, D_T, the EMA G, both optimizers and the run seed;
* SIGTERM (preemption): the current loop call finishes, a checkpoint is saved
  and `run` returns normally (exit code 0 from the CLI);
* a non-finite loss raises `NonFiniteLossError` naming the step and the
  loss; nothing is saved after it, so the last good checkpoint survives.

The tf.data iterator position is not checkpointed (the training set is
shuffled and repeated forever, as in Model Garden); a resumed run sees a
different data order than an uninterrupted one, but the same noise.
"""

from __future__ import annotations

import dataclasses
import math
import os
import signal
import threading
import time
from typing import Callable

import keras
import tensorflow as tf
from absl import logging

import gin
from dvdgan_tf import checkpointing
from dvdgan_tf import distribute
from dvdgan_tf import gan as gan_lib
from dvdgan_tf import summaries
from dvdgan_tf.data import manifest as manifest_lib

PRECISION_POLICIES = ("float32", "mixed_bfloat16")


class NonFiniteLossError(FloatingPointError):
    """A training loss became NaN or infinite."""


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What `run` returns.

    Attributes:
        step: the step counter at exit (number of completed steps).
        initial_step: the step restored from ``model_dir`` at start (0 for
            a new run): ``step - initial_step`` steps ran in this call.
        logs: means of the last log interval (tag -> value).
        preempted: True when SIGTERM stopped the run early.
        model_dir: where checkpoints and summaries went.
        model: the trained `gan.DVDGAN` (its variables live in the
            strategy's scope).
    """

    step: int
    initial_step: int
    logs: dict
    preempted: bool
    model_dir: str
    model: gan_lib.DVDGAN


class _PreemptionFlag:
    """Turns SIGTERM into a flag the host loop polls (main thread only)."""

    def __init__(self):
        self.triggered = False
        self._previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum, frame):
        logging.warning(
            "SIGTERM received: finishing the current steps, then saving a "
            "checkpoint and exiting."
        )
        self.triggered = True

    def __exit__(self, *exc_info):
        if self._previous is not None:
            signal.signal(signal.SIGTERM, self._previous)
        return False


def _check_positive(**values) -> None:
    for name, value in values.items():
        if value is None or int(value) < 1:
            raise ValueError(
                f"Expected training.run.{name} >= 1; received: {name}={value}"
            )


def _check_data(data_dir: str | None, split: str) -> str | None:
    """Fails fast on missing data; returns the shard pattern (or None).

    Raises:
        ValueError: the directory, its manifest or its shards are missing.
    """
    if data_dir is None:
        return None
    if not tf.io.gfile.isdir(data_dir):
        raise ValueError(
            f"The data directory does not exist: data_dir={data_dir!r}. "
            "Create it with `python tools/make_tfrecords.py ...` or point "
            "DATA_DIR (training.run.data_dir) at a converted dataset."
        )
    try:
        manifest_lib.read_manifest(data_dir)
    except FileNotFoundError as error:
        raise ValueError(str(error)) from None
    pattern = manifest_lib.shard_pattern(data_dir, split)
    if not tf.io.gfile.glob(pattern):
        raise ValueError(
            f"No {split!r} shards in data_dir={data_dir!r} (nothing matches "
            f"{pattern!r}). Convert that split, or set training.run.split."
        )
    return pattern


def _dataset_metadata(data_dir, split, frame_stride, generator) -> dict:
    """metadata.json content: from the data manifest when there is one.

    Raises:
        ValueError: the data's class count differs from the generator's.
    """
    metadata = {
        "num_frames": int(generator.num_frames),
        "resolution": int(generator.resolution),
        "frame_stride": int(frame_stride),
        "class_names": [str(i) for i in range(generator.num_classes)],
        "fps": None,
        "dataset": None,
    }
    if data_dir is None:
        return metadata
    manifest = manifest_lib.read_manifest(data_dir)
    class_names = list(manifest.class_names)
    if generator.num_classes and len(class_names) != generator.num_classes:
        raise ValueError(
            f"The dataset in {data_dir!r} has {len(class_names)} classes but "
            f"the generator was built with num_classes="
            f"{generator.num_classes}; set NUM_CLASSES = {len(class_names)}."
        )
    metadata.update(
        class_names=class_names,
        fps=float(manifest.fps),
        dataset=manifest.dataset_name,
        split=split,
    )
    return metadata


def _make_optimizer(factory, name: str):
    optimizer = (
        factory()
        if not isinstance(factory, keras.optimizers.Optimizer)
        else factory
    )
    if not isinstance(optimizer, keras.optimizers.Optimizer):
        raise ValueError(
            f"training.run.{name} must be a Keras optimizer or a callable "
            f"returning one; received: {factory!r}"
        )
    return optimizer


def _learning_rate(optimizer) -> float:
    return float(keras.ops.convert_to_numpy(optimizer.learning_rate))


def make_train_loop(strategy, model: gan_lib.DVDGAN, jit_compile: bool):
    """The host-called function: runs up to `num_steps` steps on device.

    Returns a `tf.function` ``(iterator, num_steps) -> (totals, count,
    last)``: per-tag sums of the cross-replica mean logs, the number of steps
    run, and the last step's logs. It stops early after a step whose logs are
    not all finite, so the host can report that step.
    """
    step_fn = model.train_step
    if jit_compile:
        step_fn = tf.function(model.train_step, jit_compile=True)
    names = model.log_names

    @tf.function
    def train_loop(iterator, num_steps):
        totals = {name: tf.constant(0.0) for name in names}
        last = {name: tf.constant(0.0) for name in names}
        count = tf.constant(0, tf.int32)
        for _ in tf.range(num_steps):
            per_replica = strategy.run(step_fn, args=(next(iterator),))
            last = {
                name: strategy.reduce(
                    tf.distribute.ReduceOp.MEAN, per_replica[name], axis=None
                )
                for name in names
            }
            totals = {name: totals[name] + last[name] for name in names}
            count += 1
            finite = tf.reduce_all(
                tf.math.is_finite(tf.stack([last[name] for name in names]))
            )
            if not finite:
                break
        return totals, count, last

    return train_loop


def _remove_worker_dir(write_dir: str) -> None:
    """Deletes a non-chief worker's scratch checkpoints and empty parent."""
    tf.io.gfile.rmtree(write_dir)
    parent = os.path.dirname(write_dir)
    try:
        if not tf.io.gfile.listdir(parent):
            tf.io.gfile.rmtree(parent)
    except tf.errors.NotFoundError:
        pass  # Another worker removed it first.


def _next_boundary(step: int, every: int) -> int:
    return (step // every + 1) * every


@gin.configurable(module="training")
def run(
    strategy: tf.distribute.Strategy | None = None,
    *,
    model_dir: str = gin.REQUIRED,
    generator_builder: Callable = gin.REQUIRED,
    spatial_discriminator_builder: Callable = gin.REQUIRED,
    temporal_discriminator_builder: Callable = gin.REQUIRED,
    dataset_builder: Callable = gin.REQUIRED,
    generator_optimizer: Callable = gin.REQUIRED,
    discriminator_optimizer: Callable = gin.REQUIRED,
    gan_builder: Callable = gan_lib.build_dvdgan,
    global_batch_size: int = gin.REQUIRED,
    train_steps: int = gin.REQUIRED,
    steps_per_loop: int = 1,
    log_every: int = 100,
    sample_every: int = 1000,
    checkpoint_every: int = 1000,
    keep_checkpoints: int = 5,
    data_dir: str | None = None,
    split: str = "train",
    frame_stride: int = 1,
    jit_compile: bool = False,
    precision: str = "float32",
    sample_columns: int = 4,
    sample_seed: int = 0,
    sample_fps: float = 8.0,
) -> TrainResult:
    """Trains (or resumes training) until `train_steps` steps are done.

    Args:
        strategy: from `distribute.make_strategy`; None = current strategy.
        model_dir: output directory (checkpoints, summaries, configs).
        generator_builder: ``() -> Generator`` (gin:
            ``@generator.build_generator``).
        spatial_discriminator_builder: ``() -> D_S``.
        temporal_discriminator_builder: ``() -> D_T``.
        dataset_builder: ``(input_context, global_batch_size=...) ->
            tf.data.Dataset`` (gin: ``@pipeline.make_dataset``).
        generator_optimizer: ``() -> keras Optimizer`` (gin:
            ``@generator/keras.optimizers.Adam``).
        discriminator_optimizer: same for both discriminators.
        gan_builder: ``(G, D_S, D_T) -> DVDGAN`` (gin: ``@gan.build_dvdgan``
            with D steps, loss, EMA and regulariser settings).
        global_batch_size: generated clips per step over all replicas (each D
            step also reads this many real clips).
        train_steps: total G steps.
        steps_per_loop: steps per host call (one `tf.function` call).
        log_every: steps between console lines and scalar summaries.
        sample_every: steps between EMA sample GIFs.
        checkpoint_every: steps between checkpoints.
        keep_checkpoints: checkpoints kept on disk.
        data_dir: a converted dataset (manifest.json + shards). Its
            ``<split>-*`` shards are passed to `dataset_builder` as
            ``file_pattern``, and its class names and fps go to
            metadata.json. None: `dataset_builder` must have its own
            ``file_pattern`` (gin) and metadata gets generic class names.
        split: which split of `data_dir` to train on.
        frame_stride: step between frames read from the stored clips (2 for
            DVD-GAN's Kinetics synthesis). The data's ``num_frames`` and
            ``resolution`` are the generator's, so data and model always
            agree.
        jit_compile: XLA-compile the per-replica step.
        precision: "float32" or "mixed_bfloat16".
        sample_columns: latent vectors per row of the sample GIF.
        sample_seed: seed of the fixed sample latents.
        sample_fps: playback rate of the sample GIF.

    Returns:
        A `TrainResult`.

    Raises:
        ValueError: invalid arguments, missing data, mismatched classes.
        NonFiniteLossError: a loss became NaN/inf (message names the step
            and loss; the last good checkpoint is left intact).
    """
    _check_positive(
        global_batch_size=global_batch_size,
        train_steps=train_steps,
        steps_per_loop=steps_per_loop,
        log_every=log_every,
        sample_every=sample_every,
        checkpoint_every=checkpoint_every,
        keep_checkpoints=keep_checkpoints,
    )
    if precision not in PRECISION_POLICIES:
        raise ValueError(
            f"Expected training.run.precision in {PRECISION_POLICIES}; "
            f"received: precision={precision!r}"
        )
    strategy = strategy or tf.distribute.get_strategy()
    distribute.per_replica_batch_size(strategy, global_batch_size)
    _check_positive(frame_stride=frame_stride)
    file_pattern = _check_data(data_dir, split)
    previous_policy = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        return _run(
            strategy,
            model_dir=model_dir,
            generator_builder=generator_builder,
            spatial_discriminator_builder=spatial_discriminator_builder,
            temporal_discriminator_builder=temporal_discriminator_builder,
            dataset_builder=dataset_builder,
            generator_optimizer=generator_optimizer,
            discriminator_optimizer=discriminator_optimizer,
            gan_builder=gan_builder,
            global_batch_size=global_batch_size,
            train_steps=train_steps,
            steps_per_loop=steps_per_loop,
            log_every=log_every,
            sample_every=sample_every,
            checkpoint_every=checkpoint_every,
            keep_checkpoints=keep_checkpoints,
            data_dir=data_dir,
            split=split,
            file_pattern=file_pattern,
            frame_stride=frame_stride,
            jit_compile=jit_compile,
            sample_columns=sample_columns,
            sample_seed=sample_seed,
            sample_fps=sample_fps,
        )
    finally:
        keras.mixed_precision.set_global_policy(previous_policy)


def _run(
    strategy,
    *,
    model_dir,
    generator_builder,
    spatial_discriminator_builder,
    temporal_discriminator_builder,
    dataset_builder,
    generator_optimizer,
    discriminator_optimizer,
    gan_builder,
    global_batch_size,
    train_steps,
    steps_per_loop,
    log_every,
    sample_every,
    checkpoint_every,
    keep_checkpoints,
    data_dir,
    split,
    file_pattern,
    frame_stride,
    jit_compile,
    sample_columns,
    sample_seed,
    sample_fps,
) -> TrainResult:
    chief = distribute.is_chief(strategy)
    write_dir = distribute.worker_model_dir(strategy, model_dir)
    with strategy.scope():
        generator = generator_builder()
        spatial_discriminator = spatial_discriminator_builder()
        temporal_discriminator = temporal_discriminator_builder()
        metadata = _dataset_metadata(data_dir, split, frame_stride, generator)
        model = gan_builder(
            generator, spatial_discriminator, temporal_discriminator
        )
        model.compile(
            generator_optimizer=_make_optimizer(
                generator_optimizer, "generator_optimizer"
            ),
            discriminator_optimizer=_make_optimizer(
                discriminator_optimizer, "discriminator_optimizer"
            ),
        )
        checkpoint = checkpointing.build_checkpoint(
            step=model.step,
            generator=model.generator,
            spatial_discriminator=model.spatial_discriminator,
            temporal_discriminator=model.temporal_discriminator,
            ema_generator=model.ema_generator,
            generator_optimizer=model.generator_optimizer,
            discriminator_optimizer=model.discriminator_optimizer,
            rng=model.rng,
        )
    manager = checkpointing.make_manager(
        checkpoint, write_dir, max_to_keep=keep_checkpoints
    )
    latest = tf.train.latest_checkpoint(checkpointing.checkpoint_dir(model_dir))
    if latest:
        try:
            # expect_partial: the manager's `save_counter` is not restored.
            checkpoint.read(
                latest
            ).assert_existing_objects_matched().expect_partial()
        except (AssertionError, ValueError, tf.errors.OpError) as error:
            raise ValueError(
                f"Cannot resume from {latest}: it does not match the models "
                "and optimizers built from the current gin config (was the "
                "config changed since it was written?). Use a new model_dir "
                f"or the original config. Details: {error}"
            ) from error
    step = initial_step = int(model.step.numpy())
    if latest:
        logging.info("Resumed from %s (step %d).", latest, step)
    else:
        logging.info("No checkpoint in %s: starting from step 0.", model_dir)
    if chief:
        checkpointing.write_model_spec(model_dir, generator, metadata)

    examples_per_step = global_batch_size * model.num_discriminator_steps
    data_arguments = dict(
        global_batch_size=examples_per_step,
        num_frames=generator.num_frames,
        resolution=generator.resolution,
        frame_stride=frame_stride,
    )
    if file_pattern is not None:
        data_arguments["file_pattern"] = file_pattern
    dataset = distribute.distribute_dataset(
        strategy, lambda context: dataset_builder(context, **data_arguments)
    )
    iterator = iter(dataset)
    train_loop = make_train_loop(strategy, model, jit_compile)

    writer = (
        tf.summary.create_file_writer(os.path.join(model_dir, "train"))
        if chief
        else tf.summary.create_noop_writer()
    )
    sample_grid = summaries.SampleGrid(
        model.num_classes,
        model.latent_dim,
        columns=sample_columns,
        seed=sample_seed,
    )
    wrote_config = False
    preempted = False
    saved_step = step
    interval_totals = {name: 0.0 for name in model.log_names}
    interval_steps = 0
    interval_seconds = 0.0
    last_logs: dict = {}
    if step >= train_steps:
        logging.info(
            "Already trained: step %d >= train_steps=%d.", step, train_steps
        )
    logging.info(
        "Training from step %d to %d on %d replica(s), global batch %d.",
        step,
        train_steps,
        strategy.num_replicas_in_sync,
        global_batch_size,
    )
    with _PreemptionFlag() as preemption, writer.as_default():
        while step < train_steps and not preemption.triggered:
            stop = min(
                train_steps,
                step + steps_per_loop,
                _next_boundary(step, log_every),
                _next_boundary(step, sample_every),
                _next_boundary(step, checkpoint_every),
            )
            started = time.perf_counter()
            totals, count, last = train_loop(
                iterator, tf.constant(stop - step, tf.int32)
            )
            count = int(count)
            last = {name: float(value) for name, value in last.items()}
            seconds = time.perf_counter() - started
            step += count
            bad = sorted(
                name for name, value in last.items() if not math.isfinite(value)
            )
            if bad:
                good = manager.latest_checkpoint or "none"
                raise NonFiniteLossError(
                    f"Non-finite loss at step {step}: "
                    + ", ".join(f"{name}={last[name]}" for name in bad)
                    + f". Training stopped without saving; the last good "
                    f"checkpoint is {good}. Lower the learning rates, check "
                    "the data for NaNs, or resume from that checkpoint with "
                    "another seed."
                )
            for name, value in totals.items():
                interval_totals[name] += float(value)
            interval_steps += count
            interval_seconds += seconds
            if not wrote_config:
                wrote_config = True
                if chief:
                    config_text = gin.operative_config_str()
                    checkpointing.write_text_atomic(
                        os.path.join(
                            model_dir, checkpointing.OPERATIVE_CONFIG_FILE
                        ),
                        config_text,
                    )
                    summaries.write_gin_config(config_text, step)
            final = step >= train_steps or preemption.triggered
            if step % log_every == 0 or final:
                last_logs = {
                    name: total / interval_steps
                    for name, total in interval_totals.items()
                }
                steps_per_second = interval_steps / max(interval_seconds, 1e-9)
                examples_per_second = steps_per_second * examples_per_step
                scalars = dict(last_logs)
                scalars["perf/steps_per_second"] = steps_per_second
                scalars["perf/examples_per_second"] = examples_per_second
                scalars["optimizer/generator_learning_rate"] = _learning_rate(
                    model.generator_optimizer
                )
                scalars["optimizer/discriminator_learning_rate"] = (
                    _learning_rate(model.discriminator_optimizer)
                )
                summaries.write_scalars(scalars, step)
                logging.info(
                    summaries.format_progress(
                        step,
                        train_steps,
                        last_logs,
                        steps_per_second,
                        examples_per_second,
                    )
                )
                interval_totals = {name: 0.0 for name in model.log_names}
                interval_steps, interval_seconds = 0, 0.0
            if chief and (step % sample_every == 0 or final):
                sample_grid.write(model.ema_generator, step, fps=sample_fps)
            if step % checkpoint_every == 0 or step >= train_steps:
                path = manager.save(checkpoint_number=step)
                saved_step = step
                logging.info("Saved checkpoint %s.", path)
            writer.flush()
        preempted = preemption.triggered
        if preempted and saved_step != step:
            # The one preemption save (regular saves happen above).
            path = manager.save(checkpoint_number=step)
            saved_step = step
            logging.info(
                "Preempted at step %d; saved checkpoint %s.", step, path
            )
        elif preempted:
            logging.info(
                "Preempted at step %d, right after its regular checkpoint.",
                step,
            )
    if not chief:
        _remove_worker_dir(write_dir)
    return TrainResult(
        step=step,
        initial_step=initial_step,
        logs=last_logs,
        preempted=preempted,
        model_dir=model_dir,
        model=model,
    )
