"""`run`: the single gin root; trains DVD-GAN under any tf.distribute strategy.

What `run` does, in order (docs/ARCHITECTURE.md "Training state on disk"):

1. sets the Keras dtype policy (`training.precision`: ``float32``,
   ``mixed_bfloat16``, or ``auto``);
2. checks the data directory (manifest) before any model is built;
3. inside ``strategy.scope()``: builds G, D_S, D_T through the gin-configured
   builders, the `gan.DVDGAN` (with its EMA generator) and both optimizers
   (pre-built: lazily created slots fail under MirroredStrategy);
4. restores the latest checkpoint of ``model_dir`` if there is one (restart
   with the same command resumes), and writes ``generator_config.json`` and
   ``metadata.json`` atomically;
5. distributes the input per host (`distribute_datasets_from_function`), the
   dataset yielding ``num_discriminator_steps`` real batches per step;
6. hands the loop to a `controller.Controller`: one `tf.function` call
   runs up to ``steps_per_loop`` steps of ``strategy.run(train_step)``
   (Model Garden / orbit style: Keras ``fit`` breaks under multi-replica
   strategies, docs/DESIGN.md), and between calls the `loop_actions` log,
   write summaries and GIF samples, and save checkpoints.

Fault tolerance:

* checkpoints every ``checkpoint_every`` steps and at the end
  (`tf.train.CheckpointManager`, ``keep_checkpoints`` kept), holding the step,
  G, D_S, D_T, the EMA G, both optimizers and the run seed;
* SIGTERM (preemption) or Ctrl-C: the current loop call finishes, a
  checkpoint is saved
  (`loop_actions.CheckpointSaver.save_if_unsaved`, the one preemption save)
  and `run` returns normally (exit code 0 from the CLI);
* a non-finite loss raises `NonFiniteLossError` naming the step and the
  loss; nothing is saved after it, so the last good checkpoint survives;
* one run per model_dir: the chief holds an OS file lock on it
  (`store.run_lock`; a second `train` on a live run's model_dir is refused,
  naming the other process; a dead process holds nothing);
* resume takes the newest checkpoint on disk even when the `checkpoint`
  index lags behind it (`store.checkpointing.list_checkpoint_steps`).

The tf.data iterator position is not checkpointed (the training set is
shuffled and repeated forever, as in Model Garden); a resumed run sees a
different data order than an uninterrupted one, but the same noise.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Callable

import gin
import keras
import tensorflow as tf
from absl import logging

from dvdgan_tf.data import manifest as manifest_lib
from dvdgan_tf.gan import dvdgan as gan_lib
from dvdgan_tf.models import generator as generator_lib
from dvdgan_tf.store import checkpointing
from dvdgan_tf.store import metadata as metadata_lib
from dvdgan_tf.store import run_lock
from dvdgan_tf.training import controller
from dvdgan_tf.training import loop_actions
from dvdgan_tf.training import precision as precision_lib
from dvdgan_tf.training import strategies
from dvdgan_tf.training import summaries
from dvdgan_tf.training import worker_preemption
from dvdgan_tf.util import errors
from dvdgan_tf.util import pixels
from dvdgan_tf.util import preemption

NonFiniteLossError = loop_actions.NonFiniteLossError


@dataclasses.dataclass(frozen=True)
class TrainResult:
    """What `run` returns.

    Attributes:
        step: the step counter at exit (number of completed steps).
        initial_step: the step restored from ``model_dir`` at start (0 for
            a new run): ``step - initial_step`` steps ran in this call.
        logs: means of the last log interval (tag -> value).
        preempted: True when SIGTERM or Ctrl-C stopped the run early.
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


def _check_positive(**values) -> None:
    for name, value in values.items():
        if isinstance(value, bool) or not isinstance(value, int):
            raise errors.ConfigValueError(
                f"Expected training.run.{name} to be an integer >= 1; "
                f"received: {name}={value!r} ({type(value).__name__}). Fix "
                "the gin binding (no quotes around numbers)."
            )
        if value < 1:
            raise errors.ConfigValueError(
                f"Expected training.run.{name} >= 1; received: {name}={value}"
            )


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
    allow_data_change: bool = False,
) -> TrainResult:
    """Trains (or resumes training) until `train_steps` steps are done.

    Args:
        strategy: from `strategies.make_strategy`; None = current strategy.
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
        precision: "float32", "mixed_bfloat16" or "auto" (bfloat16 where
            the devices compute it natively; `training.precision`).
        sample_columns: latent vectors per row of the sample GIF.
        sample_seed: seed of the fixed sample latents.
        sample_fps: playback rate of the sample GIF.
        allow_data_change: resume a model_dir whose metadata.json names
            another dataset or other class names (the metadata is then
            rewritten); by default that is refused, since the class
            indices would silently change meaning.

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
        frame_stride=frame_stride,
    )
    strategy = strategy or tf.distribute.get_strategy()
    policy = precision_lib.resolve(precision, strategy)
    strategies.per_replica_batch_size(strategy, global_batch_size)
    file_pattern = None
    if data_dir is not None:
        file_pattern = manifest_lib.check_training_data(data_dir, split)
    with (
        _dtype_policy(policy),
        run_lock.hold(model_dir, strategies.is_chief(strategy)),
    ):
        with strategy.scope():
            model = gan_builder(
                generator_builder(),
                spatial_discriminator_builder(),
                temporal_discriminator_builder(),
            )
            checkpoint = _compile(
                model, generator_optimizer, discriminator_optimizer
            )
        metadata = metadata_lib.RunMetadata.from_data(
            data_dir,
            split,
            frame_stride,
            model.generator.num_frames,
            model.generator.resolution,
            model.num_classes,
            model.num_conditioning_frames,
        )
        run_dir = _open_model_dir(
            strategy,
            model,
            checkpoint,
            model_dir,
            metadata,
            keep_checkpoints,
            allow_data_change,
        )
        if data_dir is not None:
            window = (model.generator.num_frames - 1) * frame_stride + 1
            for warning in manifest_lib.size_and_length_warnings(
                manifest_lib.read_manifest(data_dir),
                split,
                model.generator.resolution,
                window,
            ):
                logging.warning("%s: %s.", data_dir, warning)
        data = _DataWiring.for_run(
            dataset_builder,
            model,
            global_batch_size,
            frame_stride,
            run_dir.step,
            file_pattern,
        )
        loop, saver, logger = _make_controller(
            strategy,
            model,
            run_dir,
            data,
            jit_compile=jit_compile,
            train_steps=train_steps,
            steps_per_loop=steps_per_loop,
            log_every=log_every,
            checkpoint_every=checkpoint_every,
            sample_every=sample_every,
            sample_columns=sample_columns,
            sample_seed=sample_seed,
            sample_fps=sample_fps,
        )
        logging.info(
            "Training from step %d to %d on %d replica(s), global batch %d.",
            run_dir.step,
            train_steps,
            strategy.num_replicas_in_sync,
            global_batch_size,
        )
        step, preempted = _train_until_done_or_stopped(
            loop,
            run_dir,
            saver,
            model,
            file_pattern,
            train_steps,
            coordinated=worker_preemption.num_workers(strategy) > 1,
        )
        strategies.remove_worker_dir(strategy, model_dir)
    return TrainResult(
        step=step,
        initial_step=run_dir.step,
        logs=logger.last_means,
        preempted=preempted,
        model_dir=model_dir,
        model=model,
    )


def _compile(
    model: gan_lib.DVDGAN, generator_optimizer, discriminator_optimizer
) -> tf.train.Checkpoint:
    """Gives the model its optimizers (built now, inside the strategy scope:
    docs/DESIGN.md K3) and returns the training checkpoint (object names:
    `checkpointing.OBJECT_NAMES`)."""
    model.compile(
        generator_optimizer=_make_optimizer(
            generator_optimizer, "generator_optimizer"
        ),
        discriminator_optimizer=_make_optimizer(
            discriminator_optimizer, "discriminator_optimizer"
        ),
    )
    return checkpointing.build_checkpoint(
        step=model.step,
        generator=model.generator,
        spatial_discriminator=model.spatial_discriminator,
        temporal_discriminator=model.temporal_discriminator,
        ema_generator=model.ema_generator,
        generator_optimizer=model.generator_optimizer,
        discriminator_optimizer=model.discriminator_optimizer,
        rng=model.rng,
    )


@dataclasses.dataclass(frozen=True)
class _RunDir:
    """The model_dir as training found it."""

    manager: tf.train.CheckpointManager
    step: int  # restored step (0 for a new run)
    resumed: bool
    chief: bool
    model_dir: str


def _open_model_dir(
    strategy,
    model,
    checkpoint,
    model_dir,
    metadata,
    keep_checkpoints,
    allow_data_change,
) -> _RunDir:
    """Restores the latest checkpoint (on the same data unless
    `allow_data_change`), makes the checkpoint manager and, on the chief,
    writes generator_config.json and metadata.json.

    The chief's restore repairs a lagging `checkpoint` index before the
    manager reads it; a non-chief worker starts from an empty scratch
    directory (a stale one from a killed run would otherwise be restored
    by the preemption handler over the chief's checkpoint)."""
    chief = strategies.is_chief(strategy)
    strategies.remove_worker_dir(strategy, model_dir)
    latest = checkpointing.restore_latest(
        checkpoint, model_dir, repair_index=chief
    )
    manager = checkpointing.make_manager(
        checkpoint,
        strategies.worker_model_dir(strategy, model_dir),
        max_to_keep=keep_checkpoints,
    )
    step = int(model.step.numpy())
    if latest:
        logging.info("Resumed from %s (step %d).", latest, step)
    else:
        logging.info("No checkpoint in %s: starting from step 0.", model_dir)
    if latest and not allow_data_change:
        _check_same_data(model_dir, metadata)
    if chief:
        checkpointing.write_model_spec(model_dir, model.generator, metadata)
    return _RunDir(
        manager=manager,
        step=step,
        resumed=bool(latest),
        chief=chief,
        model_dir=model_dir,
    )


def _make_controller(
    strategy,
    model,
    run_dir,
    data,
    *,
    jit_compile,
    train_steps,
    steps_per_loop,
    log_every,
    checkpoint_every,
    sample_every,
    sample_columns,
    sample_seed,
    sample_fps,
):
    """The host loop and its actions, in the order they must run
    (`loop_actions`: the NaN guard first, the checkpoint last).

    Returns:
        (the `controller.Controller`, its `CheckpointSaver`, its
        `ScalarLogger`).
    """
    saver = loop_actions.CheckpointSaver(
        checkpoint_every,
        run_dir.manager,
        run_dir.step if run_dir.resumed else None,
    )
    logger = loop_actions.ScalarLogger(
        log_every, model, train_steps, data.arguments["global_batch_size"]
    )
    grid = summaries.SampleGrid(
        model.num_classes,
        model.latent_dim,
        columns=sample_columns,
        seed=sample_seed,
        **data.prediction_grid_clips(model.generator, run_dir.chief),
    )
    actions = [
        loop_actions.NonFiniteLossGuard(run_dir.manager),
        loop_actions.OperativeConfigWriter(run_dir.model_dir, run_dir.chief),
        logger,
        loop_actions.SampleWriter(
            sample_every,
            model.ema_generator,
            grid,
            sample_fps,
            run_dir.chief,
        ),
        saver,
    ]
    if worker_preemption.num_workers(strategy) > 1:
        # Last: after this call's regular checkpoint (docs in the module).
        actions.append(
            worker_preemption.PreemptionCoordinator(
                strategy, run_dir.manager, saver
            )
        )
    loop = controller.Controller(
        make_train_loop(strategy, model, jit_compile),
        iter(data.distribute(strategy)),
        train_steps=train_steps,
        steps_per_loop=steps_per_loop,
        actions=actions,
    )
    return loop, saver, logger


@dataclasses.dataclass(frozen=True)
class _DataWiring:
    """What `dataset_builder` is called with, per host and for the grid."""

    builder: Callable
    arguments: dict
    file_pattern: str | None

    @classmethod
    def for_run(
        cls, builder, model, global_batch_size, frame_stride, step, pattern
    ):
        """The keyword arguments `run` passes `dataset_builder`."""
        arguments = dict(
            global_batch_size=model.real_clips_per_step(global_batch_size),
            # DVD-GAN-FP reads C context + T frames per clip.
            num_frames=generator_lib.clip_frames(model.generator),
            resolution=model.generator.resolution,
            frame_stride=frame_stride,
            num_classes=model.num_classes,
            # A resumed run continues with a new data order instead of
            # replaying the head of the (seeded) dataset.
            start_step=step,
        )
        if generator_lib.num_conditioning_frames(model.generator):
            # A looped clip would continue into its own first frames.
            arguments["short_clip_policy"] = "skip"
        return cls(builder, arguments, pattern)

    def _arguments(self, **overrides) -> dict:
        arguments = dict(self.arguments, **overrides)
        if self.file_pattern is not None:
            arguments["file_pattern"] = self.file_pattern
        return arguments

    def distribute(self, strategy):
        """The per-host input (`distribute_datasets_from_function`)."""
        arguments = self._arguments()
        return strategies.distribute_dataset(
            strategy, lambda context: self.builder(context, **arguments)
        )

    def prediction_grid_clips(self, generator, chief) -> dict:
        """DVD-GAN-FP: fixed real clips for the sample GIF (first read).

        The grid continues their context frames at every summary step,
        next to their real continuation. Synthesis models need none ({}).
        """
        count = generator_lib.num_conditioning_frames(generator)
        if not count or not chief:
            return {}
        rows = summaries.MAX_PREDICTION_ROWS
        arguments = self._arguments(global_batch_size=rows, start_step=0)
        batch = next(iter(self.builder(None, **arguments)))
        return dict(
            real_clips=pixels.to_uint8(batch["video"].numpy()),
            real_labels=batch["label"].numpy(),
            num_conditioning_frames=count,
        )


def _train_until_done_or_stopped(
    loop, run_dir, saver, model, file_pattern, train_steps, coordinated
) -> tuple[int, bool]:
    """Runs the controller; saves on preemption; names bad input data.

    With several workers (`coordinated`), SIGTERM belongs to TF's
    preemption handler (`worker_preemption`): every worker stops at the
    same step, saved by the handler, and a lost worker is one clear error.

    Returns:
        (the step reached, whether SIGTERM / Ctrl-C stopped the run).
    """
    step = run_dir.step
    if step >= train_steps:
        logging.info(
            "Already trained: step %d >= train_steps=%d.", step, train_steps
        )
    writer = (
        tf.summary.create_file_writer(os.path.join(run_dir.model_dir, "train"))
        if run_dir.chief
        else tf.summary.create_noop_writer()
    )
    with (
        preemption.StopRequest(
            "finishing the current steps, then saving a checkpoint",
            coordinated=coordinated,
        ) as stop,
        writer.as_default(),
    ):
        try:
            step = loop.train(step, stop)
        except worker_preemption.CoordinatedStop as stopped:
            logging.info(
                "Preempted: every worker stopped at step %d; saved it.",
                stopped.step,
            )
            return stopped.step, True
        except (
            tf.errors.DataLossError,
            tf.errors.InvalidArgumentError,
        ) as error:
            raise _input_error(error, saver, model, file_pattern) from None
        except _LOST_WORKER_ERRORS as error:
            if not coordinated:
                raise
            raise _lost_worker_error(error, run_dir) from None
        if stop.triggered:
            path = saver.save_if_unsaved(step)
            if path is not None:
                logging.info(
                    "Preempted at step %d; saved checkpoint %s.", step, path
                )
            else:
                logging.info(
                    "Preempted at step %d, right after its regular checkpoint.",
                    step,
                )
    return step, stop.triggered


# What a collective raises once the coordination service has given up on a
# worker (killed, crashed, its VM lost).
_LOST_WORKER_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.AbortedError,
    tf.errors.DeadlineExceededError,
    tf.errors.CancelledError,
)


def _lost_worker_error(error, run_dir) -> Exception:
    """One line for a multi-worker run that lost a worker mid-training."""
    steps = checkpointing.list_checkpoint_steps(run_dir.model_dir)
    last = (
        f"the last checkpoint is step {steps[-1]}"
        if steps
        else "no checkpoint was written yet"
    )
    return worker_preemption.WorkerLostError(
        f"Lost contact with another worker ({errors.describe(error)}); "
        f"{last}. Steps since then are lost: nothing can be saved without "
        "every worker. Restart every worker with the same command to resume."
    )


def _check_same_data(
    model_dir: str, metadata: metadata_lib.RunMetadata
) -> None:
    """Refuses to resume a model_dir on other data (names the difference)."""
    path = os.path.join(model_dir, checkpointing.METADATA_FILE)
    if not tf.io.gfile.exists(path):
        return
    previous = checkpointing.read_metadata(model_dir)
    changed = [
        key
        for key in ("dataset", "class_names")
        if previous.get(key) != metadata.get(key)
    ]
    if changed:
        details = "; ".join(
            f"{key}: {_short(previous.get(key))} -> {_short(metadata.get(key))}"
            for key in changed
        )
        raise ValueError(
            f"{model_dir} was trained on other data ({details}). Resuming "
            "would give its class indices another meaning. Use a new "
            "model_dir, or set training.run.allow_data_change = True to "
            "continue on the new data on purpose."
        )


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _input_error(error, saver, model, file_pattern) -> Exception:
    """Saves what was trained, then names the data problem.

    A corrupt record (`DataLossError`) or a label outside the model's
    classes (`InvalidArgumentError` from the reader's check) stops the
    device loop mid-call; the steps it completed are in the variables, so
    they are saved before the error is reported.
    """
    step = int(model.step.numpy())
    if step == 0:
        saved = "No step had been trained, so nothing was saved."
    else:
        path = saver.save_if_unsaved(step)
        saved = (
            f"Saved checkpoint {path} first."
            if path
            else f"Step {step} was already saved."
        )
    if isinstance(error, tf.errors.DataLossError):
        corrupt = []
        if file_pattern is not None:
            corrupt = manifest_lib.find_corrupt_shards(
                sorted(tf.io.gfile.glob(file_pattern))
            )
        where = (
            f"corrupt shard(s): {corrupt}" if corrupt else "a corrupt record"
        )
        return ValueError(
            f"The training data has {where} ({errors.describe(error)}). "
            f"{saved} Restore or re-convert the damaged shard(s), then "
            "re-run the same command to resume."
        )
    return ValueError(f"{errors.describe(error)} {saved}")


@contextlib.contextmanager
def _dtype_policy(precision: str):
    """Sets the Keras dtype policy for the block, then restores it."""
    previous = keras.mixed_precision.global_policy()
    keras.mixed_precision.set_global_policy(precision)
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy(previous)
