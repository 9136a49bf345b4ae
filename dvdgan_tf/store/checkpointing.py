"""Training state on disk: the `model_dir` layout, checkpoints, and restoring G.

Layout of a model directory (docs/ARCHITECTURE.md):

  model_dir/
    checkpoints/ckpt-<step>.{index,data-*}   tf.train.CheckpointManager; the
                                             checkpoint number is the step
    generator_config.json                    Generator.get_config()
    metadata.json                            class names, fps, frames, ...
    operative_config.gin                     gin's operative config
    train/, eval/                            TensorBoard events

Checkpoint object names are fixed here (`OBJECT_NAMES`) because export,
sampling and evaluation restore a subset of them by name.

Every file written here is written atomically (temp file + rename), so a
`kill -9` at any moment leaves either the old or the new file, never half of
one. TF checkpoints are atomic per save by construction (the `checkpoint`
index file is replaced only after the data files are complete).
"""

from __future__ import annotations

import errno
import json
import os
import re
import time
from typing import Mapping

import tensorflow as tf
from absl import logging

from dvdgan_tf.store import metadata as metadata_lib
from dvdgan_tf.util import atomic_files
from dvdgan_tf.util import errors

CHECKPOINT_SUBDIR = "checkpoints"
GENERATOR_CONFIG_FILE = "generator_config.json"
METADATA_FILE = "metadata.json"
OPERATIVE_CONFIG_FILE = "operative_config.gin"

# Names of the objects in a training checkpoint.
OBJECT_NAMES = (
    "step",
    "generator",
    "spatial_discriminator",
    "temporal_discriminator",
    "ema_generator",
    "generator_optimizer",
    "discriminator_optimizer",
    "rng",
)

_CKPT_RE = re.compile(r"ckpt-(\d+)$")


class CheckpointError(ValueError):
    """A model directory or checkpoint is missing, partial or does not match."""


def checkpoint_dir(model_dir: str) -> str:
    return os.path.join(model_dir, CHECKPOINT_SUBDIR)


# The model_dir files are written with these (`dvdgan_tf.util.atomic_files`).
write_text_atomic = atomic_files.write_text
write_json_atomic = atomic_files.write_json


def read_json(path: str, what: str) -> dict:
    if not tf.io.gfile.exists(path):
        raise CheckpointError(
            f"Missing {what}: {path} does not exist. Is this a model_dir "
            "written by `python -m dvdgan_tf.train`?"
        )
    with tf.io.gfile.GFile(path, "r") as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise CheckpointError(
                f"{what} {path} is not valid JSON: {e}"
            ) from e


def write_model_spec(
    model_dir: str, generator, metadata: metadata_lib.RunMetadata | Mapping
) -> None:
    """Writes generator_config.json and metadata.json into `model_dir`.

    Args:
        model_dir: the training directory (created if needed).
        generator: a built `Generator`; its `get_config()` is stored so the
            architecture can be rebuilt without gin.
        metadata: a `RunMetadata` (or its JSON form): the data the model
            was trained on and the clip it makes.
    """
    metadata = metadata_lib.RunMetadata.from_dict(metadata)
    tf.io.gfile.makedirs(model_dir)
    write_json_atomic(
        os.path.join(model_dir, GENERATOR_CONFIG_FILE), generator.get_config()
    )
    write_json_atomic(
        os.path.join(model_dir, METADATA_FILE), metadata.to_dict()
    )


def read_metadata(model_dir: str) -> metadata_lib.RunMetadata:
    """`model_dir`/metadata.json as a `RunMetadata`.

    Raises:
        CheckpointError: missing, not JSON, or a field of the wrong kind.
    """
    path = os.path.join(model_dir, METADATA_FILE)
    try:
        return metadata_lib.RunMetadata.from_dict(read_json(path, "metadata"))
    except CheckpointError:
        raise
    except ValueError as e:
        raise CheckpointError(f"{path}: {e}") from e


def read_generator_config(model_dir: str) -> dict:
    return read_json(
        os.path.join(model_dir, GENERATOR_CONFIG_FILE), "generator config"
    )


def model_variables(model) -> dict:
    """A Keras model's variables keyed by their path below the model.

    Keras 3 does not expose layers kept in Python lists to TF's object-graph
    checkpointing (a `self.blocks = [...]` attribute is silently left out of
    `tf.train.Checkpoint(model=...)`; observed with keras 3.15.1). Checkpoints
    here therefore key every variable by its Keras path with the model's own
    name stripped (`block_1/conv_1/kernel`), which is stable as long as layer
    `name=`s are (docs/DESIGN.md K9: checkpoints depend on them),
    independent of how layers are held, and identical for the live and the
    EMA generator.

    Raises:
        ValueError: two variables share a path (a layer without an explicit,
            unique name).
    """
    variables = {}
    for variable in model.variables:
        parts = variable.path.split("/", 1)
        key = parts[1] if len(parts) == 2 else parts[0]
        if key in variables:
            raise ValueError(
                f"Two variables of model {model.name!r} share the path "
                f"{variable.path!r}; give every layer a unique `name=` so "
                "checkpoints can tell them apart."
            )
        variables[key] = variable
    return variables


def _trackable(obj):
    import keras  # Local: keep this module importable without building Keras.

    if isinstance(obj, keras.layers.Layer):
        return tf.train.Checkpoint(**model_variables(obj))
    return obj


def build_checkpoint(**objects) -> tf.train.Checkpoint:
    """A tf.train.Checkpoint over the training objects, checked by name.

    Keras models/layers are stored variable by variable under their paths
    (see `model_variables`); other objects (optimizers, tf.Variables) as they
    are.

    Raises:
        ValueError: a name outside `OBJECT_NAMES` (a typo would silently write
            an object that export/evaluation never find).
    """
    unknown = sorted(set(objects) - set(OBJECT_NAMES))
    if unknown:
        raise ValueError(
            f"Unknown checkpoint object names {unknown}; expected a subset of "
            f"{list(OBJECT_NAMES)}."
        )
    return tf.train.Checkpoint(
        **{name: _trackable(obj) for name, obj in objects.items()}
    )


def make_manager(
    checkpoint: tf.train.Checkpoint, model_dir: str, max_to_keep: int = 5
) -> tf.train.CheckpointManager:
    """CheckpointManager writing `model_dir/checkpoints/ckpt-<step>`.

    Save with `manager.save(checkpoint_number=step)` so `--step N` finds
    `ckpt-N`.
    """
    return tf.train.CheckpointManager(
        checkpoint, checkpoint_dir(model_dir), max_to_keep=max_to_keep
    )


# What reading a truncated or damaged checkpoint raises (TF 2.21): a short
# data file gives IndexError("Read less bytes than requested"), a corrupt
# index DataLossError, a deleted data file NotFoundError.
DAMAGE_ERRORS = (
    tf.errors.DataLossError,
    tf.errors.OutOfRangeError,
    tf.errors.NotFoundError,
    IndexError,
    EOFError,
)


def describe_checkpoint_files(path: str) -> str:
    """'ckpt-5.index (1234 bytes), ckpt-5.data-00000-of-00001 (...)'."""
    files = []
    for name in sorted(tf.io.gfile.glob(path + ".*")):
        size = tf.io.gfile.stat(name).length
        files.append(f"{os.path.basename(name)} ({size} bytes)")
    return ", ".join(files) or "no files"


def damaged_checkpoint_error(path: str, error: BaseException) -> str:
    """One line naming a damaged checkpoint, its files and the error."""
    return (
        f"Checkpoint {path} is damaged ({type(error).__name__}: "
        f"{str(error).splitlines()[0] if str(error) else ''}); its files: "
        f"{describe_checkpoint_files(path)}"
    )


def _damaged_for_loading(path: str, error: BaseException) -> CheckpointError:
    return CheckpointError(
        damaged_checkpoint_error(path, error)
        + ". Use another --step (an earlier checkpoint) or restore the files."
    )


def restore_latest(
    checkpoint: tf.train.Checkpoint, model_dir: str, repair_index: bool = False
):
    """Restores the newest readable checkpoint of `model_dir`.

    Restarting training with the same command resumes through this. A
    damaged checkpoint (truncated or corrupt files, e.g. a disk that filled
    up) is skipped with a warning naming it and its files, and the next
    older one is tried. Without the `checkpoint` index file, the `ckpt-N`
    files on disk are used.

    Args:
        checkpoint: the objects to restore.
        model_dir: the run's directory.
        repair_index: when the restored checkpoint is not the one the
            `checkpoint` index names as latest (the index lagged, or is
            missing), rewrite the index to name it (the chief's job), so a
            `CheckpointManager` made afterwards rotates from it.

    Returns:
        The restored checkpoint's path, or None when there is none yet.

    Raises:
        ValueError: the checkpoint does not match the objects in
            `checkpoint` (models or optimizers built from another config).
        CheckpointError: checkpoints exist but every one is damaged.
    """
    directory = checkpoint_dir(model_dir)
    steps = list_checkpoint_steps(model_dir)
    damaged = []
    for step in reversed(steps):
        path = os.path.join(directory, f"ckpt-{step}")
        try:
            # expect_partial: the manager's `save_counter` is not restored.
            checkpoint.read(
                path
            ).assert_existing_objects_matched().expect_partial()
        except DAMAGE_ERRORS as error:
            message = damaged_checkpoint_error(path, error)
            logging.warning("%s. Trying the previous checkpoint.", message)
            damaged.append(message)
            continue
        except (AssertionError, ValueError, tf.errors.OpError) as error:
            raise ValueError(
                f"Cannot resume from {path}: it does not match the models "
                "and optimizers built from the current gin config (was the "
                "config changed since it was written?). Use a new model_dir "
                f"or the original config. Details: {error}"
            ) from error
        if damaged:
            logging.warning(
                "Resuming from %s, the newest complete checkpoint.", path
            )
        if repair_index:
            _name_as_latest(directory, path, steps)
        return path
    if damaged:
        raise CheckpointError(
            f"Every checkpoint in {directory} is damaged: "
            + " | ".join(damaged)
            + ". Restore the files or start a new model_dir."
        )
    return None


def _name_as_latest(directory: str, path: str, steps: list[int]) -> None:
    """Makes the `checkpoint` index name `path` as the latest checkpoint."""
    state = tf.train.get_checkpoint_state(directory)
    if state is not None and state.model_checkpoint_path.endswith(
        os.path.basename(path)
    ):
        return
    # Relative names, as CheckpointManager writes them (the run stays
    # movable); every step up to the restored one stays listed.
    kept = [f"ckpt-{s}" for s in steps]
    kept = kept[: kept.index(os.path.basename(path)) + 1]
    tf.compat.v1.train.update_checkpoint_state(
        directory, kept[-1], all_model_checkpoint_paths=kept
    )
    logging.info("Checkpoint index of %s now names %s.", directory, path)


class CheckpointSaveError(RuntimeError):
    """A checkpoint could not be written (disk full, filesystem gone)."""


# Errors a flaky (network) filesystem gives for a while and then not.
TRANSIENT_SAVE_ERRORS = (
    tf.errors.UnavailableError,
    tf.errors.DeadlineExceededError,
    tf.errors.AbortedError,
)
_TRANSIENT_ERRNOS = (errno.EAGAIN, errno.EIO, errno.ETIMEDOUT, errno.ESTALE)


def _is_transient(error: BaseException) -> bool:
    if isinstance(error, TRANSIENT_SAVE_ERRORS):
        return True
    return isinstance(error, OSError) and error.errno in _TRANSIENT_ERRNOS


def _remove_partial(directory: str, step: int) -> None:
    """Deletes what a failed save of `ckpt-<step>` left (data shards, the
    temporary directory), so no half-written checkpoint stays around."""
    for pattern in (f"ckpt-{step}.*", f"ckpt-{step}_temp*"):
        for path in tf.io.gfile.glob(os.path.join(directory, pattern)):
            try:
                if tf.io.gfile.isdir(path):
                    tf.io.gfile.rmtree(path)
                else:
                    tf.io.gfile.remove(path)
            except (OSError, tf.errors.OpError):
                pass  # Best effort: resume skips damaged checkpoints anyway.


def save_with_retries(
    manager: tf.train.CheckpointManager,
    step: int,
    attempts: int = 4,
    first_delay_s: float = 2.0,
    sleep=time.sleep,
) -> str:
    """`manager.save(checkpoint_number=step)`, robust to a flaky filesystem.

    A transient failure (the filesystem briefly unavailable: TF's
    Unavailable / DeadlineExceeded / Aborted, or EAGAIN / EIO / ETIMEDOUT /
    ESTALE) is retried `attempts` times in all, waiting 2, 4, 8 s. Any
    failure removes the partial files of this save first; the previous
    checkpoint is never touched, so it stays the one a resume picks.

    Raises:
        CheckpointSaveError: the save failed for good (disk full, no
            permission, or the filesystem stayed away); the message names
            the checkpoint, the cause, the previous checkpoint and what to do.
    """
    delay = first_delay_s
    for attempt in range(1, attempts + 1):
        try:
            return manager.save(checkpoint_number=step)
        except (OSError, tf.errors.OpError) as error:
            _remove_partial(manager.directory, step)
            if _is_transient(error) and attempt < attempts:
                logging.warning(
                    "Saving ckpt-%d failed (%s); retrying in %.0f s "
                    "(attempt %d of %d).",
                    step,
                    errors.describe(error),
                    delay,
                    attempt + 1,
                    attempts,
                )
                sleep(delay)
                delay *= 2
                continue
            previous = manager.latest_checkpoint
            kept = (
                f"The previous checkpoint {previous} is intact"
                if previous
                else "No earlier checkpoint exists"
            )
            tries = f" after {attempt} attempts" if attempt > 1 else ""
            raise CheckpointSaveError(
                f"Could not save checkpoint ckpt-{step} in "
                f"{manager.directory}{tries}: {errors.describe(error)}. "
                f"{kept}; free space or fix the filesystem, then re-run the "
                "same command to resume from it."
            ) from None
    raise AssertionError("unreachable")


def list_checkpoint_steps(model_dir: str) -> list[int]:
    """Steps of the checkpoints in `model_dir` whose .index exists, ascending.

    The union of what the `checkpoint` index file lists and the
    ``ckpt-N.index`` files on disk: the index is rewritten after a save
    completes, so a process stopped between the two (a second Ctrl-C, kill
    -9) leaves a complete ``ckpt-N`` the index does not name yet, and a
    resume from the index alone would restart from the older step and then
    overwrite ``ckpt-N``. Without an index file (deleted or never written)
    the files on disk are all there is. Either way the difference is logged.
    """
    directory = checkpoint_dir(model_dir)
    on_disk = [
        name[: -len(".index")]
        for name in tf.io.gfile.glob(os.path.join(directory, "ckpt-*"))
        if name.endswith(".index")
    ]
    state = tf.train.get_checkpoint_state(directory)
    listed = list(state.all_model_checkpoint_paths) if state else []
    steps, listed_steps = set(), set()
    for paths, found in ((listed, listed_steps), (on_disk, steps)):
        for path in paths:
            match = _CKPT_RE.search(path)
            if match and tf.io.gfile.exists(path + ".index"):
                found.add(int(match.group(1)))
    steps |= listed_steps
    unlisted = sorted(steps - listed_steps)
    if state is None and unlisted:
        logging.warning(
            "%s has no `checkpoint` index file; using the ckpt-N files "
            "on disk.",
            directory,
        )
    elif listed_steps and unlisted and unlisted[-1] > max(listed_steps):
        logging.warning(
            "The `checkpoint` index of %s lags the files on disk: it names "
            "step %d as the latest, but ckpt-%d is there (saved just before "
            "the process stopped); using it.",
            directory,
            max(listed_steps),
            unlisted[-1],
        )
    return sorted(steps)


# Where a results folder keeps its best checkpoint (evaluation/best.py):
# `model_dir/<results folder>/best/ckpt-<step>.*`, outside the manager's
# rotation.
KEPT_SUBDIR = "best"


def keep_checkpoint(model_dir: str, step: int, keep_dir: str) -> str:
    """Puts the files of ``ckpt-<step>`` into `keep_dir`, out of rotation.

    Hard links where the filesystem allows (no copy, and the data stay
    when `keep_checkpoints` rotation deletes the original), else a copy
    (e.g. gs://). Each file is written under a temporary name and renamed,
    so a kept checkpoint is never partial. Other checkpoints already in
    `keep_dir` stay: `drop_kept` removes them once the caller has recorded
    the new one.

    Returns:
        The kept checkpoint's path prefix, ``keep_dir/ckpt-<step>``.

    Raises:
        CheckpointError: ``ckpt-<step>`` is not (or no longer) complete in
            `model_dir` (e.g. rotated away before it could be kept).
    """
    prefix = os.path.join(checkpoint_dir(model_dir), f"ckpt-{step}")
    files = tf.io.gfile.glob(prefix + ".*")
    names = [os.path.basename(path) for path in files]
    if f"ckpt-{step}.index" not in names or not any(
        name.startswith(f"ckpt-{step}.data-") for name in names
    ):
        raise CheckpointError(
            f"Cannot keep {prefix}: its files are gone or partial "
            f"({', '.join(sorted(names)) or 'none'}); keep_checkpoints "
            "rotation deleted it before the evaluation finished. Raise "
            "training.run.keep_checkpoints or evaluate more often."
        )
    tf.io.gfile.makedirs(keep_dir)
    for path in files:
        target = os.path.join(keep_dir, os.path.basename(path))
        temporary = atomic_files.temporary_path(target)
        try:
            os.link(path, temporary)
        except (OSError, AttributeError):
            tf.io.gfile.copy(path, temporary, overwrite=True)
        tf.io.gfile.rename(temporary, target, overwrite=True)
    return os.path.join(keep_dir, f"ckpt-{step}")


def drop_kept(keep_dir: str, step: int) -> None:
    """Deletes every checkpoint file in `keep_dir` but those of `step`."""
    for path in tf.io.gfile.glob(os.path.join(keep_dir, "ckpt-*")):
        if not os.path.basename(path).startswith(f"ckpt-{step}."):
            tf.io.gfile.remove(path)


def kept_checkpoint_steps(model_dir: str) -> dict[int, str]:
    """{step: path prefix} of the checkpoints kept in any results folder
    (``model_dir/*/best/ckpt-<step>``, complete ones only)."""
    kept = {}
    pattern = os.path.join(model_dir, "*", KEPT_SUBDIR, "ckpt-*.index")
    for index in sorted(tf.io.gfile.glob(pattern)):
        prefix = index[: -len(".index")]
        match = _CKPT_RE.search(prefix)
        if match and tf.io.gfile.glob(prefix + ".data-*"):
            kept.setdefault(int(match.group(1)), prefix)
    return kept


def resolve_checkpoint(
    model_dir: str, step: int | None = None
) -> tuple[str, int]:
    """Path prefix and step of the latest checkpoint, or of `step`.

    A `step` that rotation removed from ``checkpoints/`` is still found when
    an evaluation kept it as its best (`kept_checkpoint_steps`).

    Raises:
        CheckpointError: no checkpoint at all, or none for `step` (the message
            lists the steps that exist).
    """
    if not tf.io.gfile.isdir(model_dir):
        raise CheckpointError(f"model_dir does not exist: {model_dir}")
    steps = list_checkpoint_steps(model_dir)
    if step is not None and step not in steps:
        kept = kept_checkpoint_steps(model_dir)
        if step in kept:  # rotated away, but kept as a best checkpoint
            return kept[step], step
        if steps:
            raise CheckpointError(
                f"No checkpoint for step {step} in "
                f"{checkpoint_dir(model_dir)}; available steps: {steps}"
                + (f", kept best: {sorted(kept)}." if kept else ".")
            )
    if not steps:
        raise CheckpointError(
            f"No checkpoint in {checkpoint_dir(model_dir)}. Train first "
            "(python -m dvdgan_tf.train ...) or point --model_dir at a "
            "training directory."
        )
    if step is None:
        step = steps[-1]
    path = os.path.join(checkpoint_dir(model_dir), f"ckpt-{step}")
    if not tf.io.gfile.glob(path + ".data-*"):
        raise CheckpointError(
            f"Checkpoint {path} is partial: its .index exists but no .data "
            "file. The save was interrupted; use an earlier --step."
        )
    return path, step


def restore_objects(path: str, **models) -> None:
    """Restores Keras models from a checkpoint, strictly.

    Every variable of every given model must be in the checkpoint under the
    same name with the same shape; other objects in the checkpoint
    (optimizers, discriminators) are ignored.

    Raises:
        CheckpointError: naming the checkpoint and each variable that is
            missing, unexpected or of another shape.
    """
    try:
        saved = tf.train.load_checkpoint(path).get_variable_to_shape_map()
    except DAMAGE_ERRORS as error:
        raise _damaged_for_loading(path, error) from None
    problems = []
    for name, model in models.items():
        in_checkpoint = {}
        prefix = name + "/"
        for key, shape in saved.items():
            if key.startswith(prefix) and key.endswith(_VALUE_SUFFIX):
                local = key[len(prefix) : -len(_VALUE_SUFFIX)]
                in_checkpoint[_unescape(local)] = shape
        expected = model_variables(model)
        if not in_checkpoint:
            problems.append(f"the checkpoint has no `{name}` object")
            continue
        for key, variable in sorted(expected.items()):
            if key not in in_checkpoint:
                problems.append(f"{name}/{key}: missing from the checkpoint")
            elif list(in_checkpoint[key]) != list(variable.shape):
                problems.append(
                    f"{name}/{key}: shape {list(in_checkpoint[key])} in the "
                    f"checkpoint, {list(variable.shape)} in the model"
                )
        for key in sorted(set(in_checkpoint) - set(expected)):
            problems.append(
                f"{name}/{key}: in the checkpoint, not in the model"
            )
    if problems:
        shown = "\n  ".join(problems[:20])
        more = (
            f"\n  ... and {len(problems) - 20} more"
            if len(problems) > 20
            else ""
        )
        raise CheckpointError(
            f"Checkpoint {path} does not match the model built from "
            f"generator_config.json ({len(problems)} problems):\n  {shown}"
            f"{more}\nThe config next to the checkpoints must be the one the "
            "checkpoint was trained with."
        )
    try:
        status = build_checkpoint(**models).read(path)
    except DAMAGE_ERRORS as error:
        raise _damaged_for_loading(path, error) from None
    status.expect_partial()
    status.assert_existing_objects_matched()


_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def _unescape(name: str) -> str:
    """Inverse of TF's checkpoint key escaping ('/' -> '.S', '.' -> '..')."""
    return re.sub(
        r"\.(\.|S)", lambda m: "." if m.group(1) == "." else "/", name
    )


def load_generator(
    model_dir: str, step: int | None = None, use_ema: bool = True
):
    """Rebuilds the generator from `model_dir` and restores its weights.

    Args:
        model_dir: a training directory.
        step: checkpoint step; None -> latest.
        use_ema: restore the EMA generator (what export and evaluation use)
            rather than the live one.

    Returns:
        (generator, step, `RunMetadata`).

    Raises:
        CheckpointError: missing files or checkpoint, or a mismatch between
            the checkpoint and generator_config.json.
    """
    # Imported here so that reading metadata does not build Keras models.
    from dvdgan_tf.models import generator as generator_lib

    path, step = resolve_checkpoint(model_dir, step)
    config = read_generator_config(model_dir)
    metadata = read_metadata(model_dir)
    try:
        generator = generator_lib.Generator.from_config(config)  # built
    except (TypeError, ValueError, KeyError) as e:
        raise CheckpointError(
            f"{os.path.join(model_dir, GENERATOR_CONFIG_FILE)} does not "
            f"describe a Generator this version can build: {e}"
        ) from e
    name = "ema_generator" if use_ema else "generator"
    restore_objects(path, **{name: generator})
    return generator, step, metadata
