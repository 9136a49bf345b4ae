"""SavedModel export of the (EMA) generator, in TensorFlow Serving layout.

`export(model_dir, export_dir)` restores the EMA generator of a training
directory through `checkpointing.load_generator` and writes
`export_dir/<version>/` (a SavedModel; `<version>` an integer, as TF Serving
expects) with these signatures (tag set `serve`):

  | signature         | inputs                                   | outputs |
  | ----------------- | ---------------------------------------- | ------- |
  | `serving_default` | `z` float32 [B, Z], `label` int32 [B]    | video   |
  | `sample`          | `seed` int64 [B], `label` int32 [B],     | video   |
  |                   | `truncation` float32 []                  |         |
  | `metadata`        | none                                     | facts   |

  video = `video` uint8 [B, T, H, W, 3] in [0, 255] and `video_float` float32
  [B, T, H, W, 3] in [-1, 1] (the generator's tanh output; `video` is
  `util.pixels.to_uint8_tensor`).

  * Unconditional generators (N = 0) have no `label` input.
  * DVD-GAN-FP generators (``num_conditioning_frames`` C > 0) take an extra
    input `conditioning_frames` uint8 [B, C, H, W, 3] (the real frames to
    continue, at the model's size), and `video` / `video_float` are the
    **whole clip**, [B, C + T, H, W, 3]: the C given frames (as
    `x / 127.5 - 1` in `video_float`) followed by the T predicted ones. A
    frame count or size other than the model's fails with a message naming
    the expected shape.
  * Labels outside [0, N) fail with `InvalidArgumentError` naming the range
    (a `tf.debugging` assertion inside the graph), never a silent gather of a
    wrong embedding row (on GPU an out-of-range gather returns zeros).
  * `metadata` returns `metadata_json` (string []; the JSON of the
    `assets/metadata.json` asset), `class_names` (string [N]), `fps` float32,
    `num_frames`, `resolution`, `latent_dim`, `num_classes`,
    `num_conditioning_frames` (0 for synthesis) and `step` int64.

Truncation (`sample`): z = `inference.generation.latents_from_seeds(seed, Z,
truncation)`, truncation * TN(0, 1) with TN truncated to [-2, 2] (see
`dvdgan_tf/inference/generation.py` for the convention and why); each
example's z depends only on its own seed, so a seed reproduces its video
whatever the batch it is in, and the sampling CLI draws the same z in Python.

Assets (`<version>/assets/`): `metadata.json` (the training directory's
metadata plus the export facts), `class_names.txt` (one name per line),
`generator_config.json`, and `operative_config.gin` when the training run
wrote one.

The version directory is written under a hidden temporary name and renamed
when complete, so a TF Serving process watching `export_dir` never loads a
half-written model.

Reloading needs no dvdgan_tf import: `tf.saved_model.load(path)` plus the
signatures (keep a reference to the loaded object while calling them;
docs/DESIGN.md K12).
"""

from __future__ import annotations

import inspect
import json
import os
import tempfile
import time
from typing import Callable
from typing import Mapping
from typing import Sequence

import tensorflow as tf
from absl import logging

import dvdgan_tf
from dvdgan_tf.inference import generation
from dvdgan_tf.models import generator as generator_lib
from dvdgan_tf.store import checkpointing
from dvdgan_tf.store import metadata as metadata_lib
from dvdgan_tf.util import pixels

SERVING_SIGNATURE = "serving_default"
SAMPLE_SIGNATURE = "sample"
METADATA_SIGNATURE = "metadata"

METADATA_ASSET = "metadata.json"
CLASS_NAMES_ASSET = "class_names.txt"


def _signature_function(
    names: Sequence[str],
    specs: dict[str, tf.TensorSpec],
    body: Callable[..., dict],
) -> tf.types.experimental.PolymorphicFunction:
    """A tf.function whose positional parameters are exactly `names`.

    SavedModel signature input keys are the Python parameter names, and which
    inputs exist depends on the generator (no `label` when N = 0, an extra
    `conditioning_frames` for DVD-GAN-FP). Rather than one hand-written
    function per combination, build the parameter list from `names`
    (`__signature__` is what tf.function inspects).
    """

    def function(*args):
        return body(**dict(zip(names, args)))

    function.__signature__ = inspect.Signature(
        [
            inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            for name in names
        ]
    )
    function.__name__ = body.__name__
    return tf.function(function, input_signature=[specs[n] for n in names])


class GeneratorExportModule(tf.Module):
    """The serving interface of a trained generator (see module docstring).

    Args:
        generator: a built `Generator` (normally the EMA one), called with
            `training=False`.
        metadata: JSON-serialisable facts about the model (the training
            directory's metadata.json plus export facts); must hold
            `class_names` with N entries when N > 0.

    Raises:
        ValueError: metadata inconsistent with the generator (number of
            class names).
    """

    def __init__(
        self,
        generator,
        metadata: metadata_lib.RunMetadata | Mapping,
    ):
        super().__init__(name="generator_export")
        # The Keras models are kept out of the SavedModel's object graph and
        # only their variables are tracked: saving a tracked Keras 3 model
        # traces its `_default_save_signature`, which calls the generator
        # with `z` alone (fails for a conditional one), and Keras models
        # are not needed on reload (the signatures are self-contained).
        self._set_untracked("_generator", generator)
        # The backing tf.Variables (`.value`), not the Keras wrappers: with
        # the wrappers tracked, `saved_model_cli run` (a TF1 session) fails
        # with "Could not find variable generator/..." (keras 3.15.1).
        self.model_variables = [
            variable.value for variable in generator.variables
        ]
        self._latent_dim = int(generator.latent_dim)
        self._num_conditioning = generator_lib.num_conditioning_frames(
            generator
        )
        self._num_classes = int(generator.num_classes)
        metadata = metadata_lib.RunMetadata.from_dict(metadata)
        class_names = list(metadata.class_names)
        if self._num_classes and len(class_names) != self._num_classes:
            raise ValueError(
                f"The generator has num_classes={self._num_classes} but the "
                f"metadata lists {len(class_names)} class_names "
                f"({class_names[:5]}...). Fix metadata.json of the model_dir."
            )
        # Only the JSON string is kept: a dict attribute of a tf.Module
        # becomes a trackable wrapper that `json` cannot serialise.
        self._metadata_json = json.dumps(metadata.to_dict(), sort_keys=True)

        specs = {
            "z": tf.TensorSpec([None, self._latent_dim], tf.float32, "z"),
            "label": tf.TensorSpec([None], tf.int32, "label"),
            "seed": tf.TensorSpec([None], tf.int64, "seed"),
            "truncation": tf.TensorSpec([], tf.float32, "truncation"),
            # Frame count and size are checked in the graph (a message
            # naming the expected shape), not by the signature.
            "conditioning_frames": tf.TensorSpec(
                [None, None, None, None, 3],
                tf.uint8,
                "conditioning_frames",
            ),
        }
        extra = ["label"] if self._num_classes else []
        if self._num_conditioning:
            extra.append("conditioning_frames")
        self.serving_default = _signature_function(
            ["z", *extra], specs, self._generate_from_latents
        )
        self.sample = _signature_function(
            ["seed", *extra, "truncation"], specs, self._generate_from_seeds
        )
        self.metadata = tf.function(self._metadata_tensors, input_signature=[])

    @tf.__internal__.tracking.no_automatic_dependency_tracking
    def _set_untracked(self, name: str, value) -> None:
        setattr(self, name, value)

    @property
    def signatures(self) -> dict:
        """Signature name -> tf.function, for `tf.saved_model.save`."""
        return {
            SERVING_SIGNATURE: self.serving_default,
            SAMPLE_SIGNATURE: self.sample,
            METADATA_SIGNATURE: self.metadata,
        }

    def _checked_context(self, frames: tf.Tensor, batch) -> tf.Tensor:
        """uint8 [B, C, H, W, 3] -> float [-1, 1], shape checked in-graph."""
        size = int(self._generator.resolution)
        expected = [self._num_conditioning, size, size]
        message = (
            f"conditioning_frames must be uint8 [B, {self._num_conditioning}, "
            f"{size}, {size}, 3] (C = {self._num_conditioning} frames at the "
            "model's size, same B as z); received shape"
        )
        with tf.control_dependencies(
            [
                tf.debugging.assert_equal(
                    tf.shape(frames)[1:4], expected, message=message
                ),
                tf.debugging.assert_equal(
                    tf.shape(frames)[0], batch, message=message
                ),
            ]
        ):
            frames = tf.identity(frames)
        frames = pixels.from_uint8_tensor(frames)
        return tf.ensure_shape(frames, [None, *expected, 3])

    def _checked_labels(self, label: tf.Tensor | None) -> tf.Tensor | None:
        if not self._num_classes:
            return None
        n = self._num_classes
        message = f"label must be in [0, {n}) (num_classes={n}); received"
        with tf.control_dependencies(
            [
                tf.debugging.assert_non_negative(label, message=message),
                tf.debugging.assert_less(label, n, message=message),
            ]
        ):
            return tf.identity(label)

    def _generate(self, z, label, conditioning_frames) -> dict:
        labels = self._checked_labels(label)
        if labels is not None:
            with tf.control_dependencies(
                [
                    tf.debugging.assert_equal(
                        tf.shape(z)[0],
                        tf.shape(labels)[0],
                        message="z and label must have the same batch size",
                    )
                ]
            ):
                z = tf.identity(z)
        context = None
        if self._num_conditioning:
            context = self._checked_context(conditioning_frames, tf.shape(z)[0])
        video = generator_lib.whole_clip(
            self._generator, z, labels, context, training=False
        )
        video = tf.cast(video, tf.float32)
        # FP: the context frames come back as given (util.pixels' round
        # trip is exact).
        return {"video": pixels.to_uint8_tensor(video), "video_float": video}

    def _generate_from_latents(
        self, z, label=None, conditioning_frames=None
    ) -> dict:
        return self._generate(z, label, conditioning_frames)

    def _generate_from_seeds(
        self, seed, truncation, label=None, conditioning_frames=None
    ) -> dict:
        with tf.control_dependencies(
            [
                tf.debugging.assert_non_negative(
                    truncation, message="truncation must be >= 0; received"
                )
            ]
        ):
            z = generation.latents_from_seeds(
                seed, self._latent_dim, truncation
            )
        return self._generate(z, label, conditioning_frames)

    def _metadata_tensors(self) -> dict:
        metadata = metadata_lib.RunMetadata.from_dict(
            json.loads(self._metadata_json)
        )
        step = -1 if metadata.step is None else metadata.step
        return {
            "metadata_json": tf.constant(self._metadata_json),
            "class_names": tf.constant(list(metadata.class_names), tf.string),
            "fps": tf.constant(metadata.fps or 0.0, tf.float32),
            "num_frames": tf.constant(metadata.num_frames, tf.int64),
            "resolution": tf.constant(metadata.resolution, tf.int64),
            "latent_dim": tf.constant(self._latent_dim, tf.int64),
            "num_classes": tf.constant(self._num_classes, tf.int64),
            "num_conditioning_frames": tf.constant(
                self._num_conditioning, tf.int64
            ),
            "step": tf.constant(step, tf.int64),
        }


def _existing_versions(export_dir: str) -> list[int]:
    if not tf.io.gfile.isdir(export_dir):
        return []
    return sorted(
        int(name.rstrip("/"))
        for name in tf.io.gfile.listdir(export_dir)
        if name.rstrip("/").isdigit()
    )


def choose_version(export_dir: str, step: int, version: int | None) -> int:
    """The version directory to write under `export_dir`.

    Args:
        export_dir: the TF Serving model base path.
        step: the exported checkpoint's training step (the default version).
        version: an explicit version, or None.

    Returns:
        `version` if given; otherwise `step`, or the next free integer above
        the existing versions if `step` is already taken.

    Raises:
        ValueError: an explicit `version` that is negative or exists.
    """
    existing = _existing_versions(export_dir)
    if version is not None:
        if version < 0:
            raise ValueError(
                f"version must be >= 0; received version={version}"
            )
        if version in existing:
            raise ValueError(
                f"{os.path.join(export_dir, str(version))} already exists; "
                "pass another --version or remove it."
            )
        return version
    if step not in existing:
        return step
    chosen = existing[-1] + 1
    logging.warning(
        "Version %d (the training step) exists in %s; writing version %d.",
        step,
        export_dir,
        chosen,
    )
    return chosen


def _write_assets(
    directory: str,
    model_dir: str,
    metadata: metadata_lib.RunMetadata,
    generator,
) -> list[tf.saved_model.Asset]:
    """Writes the asset files into `directory`; returns them as Assets."""
    paths = {
        METADATA_ASSET: json.dumps(metadata.to_dict(), indent=2, sort_keys=True)
        + "\n",
        CLASS_NAMES_ASSET: "".join(
            f"{name}\n" for name in metadata.class_names
        ),
        checkpointing.GENERATOR_CONFIG_FILE: json.dumps(
            generator.get_config(), indent=2, sort_keys=True
        )
        + "\n",
    }
    operative = os.path.join(model_dir, checkpointing.OPERATIVE_CONFIG_FILE)
    if tf.io.gfile.exists(operative):
        with tf.io.gfile.GFile(operative) as f:
            paths[checkpointing.OPERATIVE_CONFIG_FILE] = f.read()
    assets = []
    for name, text in paths.items():
        path = os.path.join(directory, name)
        with open(path, "w") as f:
            f.write(text)
        assets.append(tf.saved_model.Asset(path))
    return assets


def export(
    model_dir: str,
    export_dir: str,
    step: int | None = None,
    version: int | None = None,
    use_ema: bool = True,
) -> str:
    """Exports a training directory's generator as a SavedModel.

    Args:
        model_dir: a training directory (checkpoints/, generator_config.json,
            metadata.json; see docs/ARCHITECTURE.md).
        export_dir: TF Serving base path; the model goes to
            `export_dir/<version>/`.
        step: checkpoint step; None -> the latest.
        version: version directory; None -> the step (or the next free
            integer if taken, see `choose_version`).
        use_ema: export the EMA generator (the default, what the paper
            samples from) rather than the live one.

    Returns:
        The path of the written SavedModel.

    Raises:
        checkpointing.CheckpointError: missing, partial or mismatched
            checkpoint or config (from `checkpointing.load_generator`).
        ValueError: inconsistent metadata, or an explicit version that exists.
    """
    generator, step, metadata = checkpointing.load_generator(
        model_dir, step=step, use_ema=use_ema
    )
    metadata = export_metadata(generator, metadata, step, use_ema).replace(
        exported_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        source_model_dir=os.path.abspath(model_dir),
    )
    module = GeneratorExportModule(generator, metadata)
    version = choose_version(export_dir, step, version)
    final = os.path.join(export_dir, str(version))
    tmp = os.path.join(export_dir, f".tmp-{version}-{os.getpid()}")
    tf.io.gfile.makedirs(export_dir)
    try:
        with tempfile.TemporaryDirectory() as asset_dir:
            module.assets = _write_assets(
                asset_dir, model_dir, metadata, generator
            )
            tf.saved_model.save(module, tmp, signatures=module.signatures)
        tf.io.gfile.rename(tmp, final)
    except BaseException:
        # A failed (or interrupted) export leaves nothing behind.
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.rmtree(tmp)
        raise
    logging.info("Exported step %d of %s to %s", step, model_dir, final)
    return final


def export_metadata(
    generator, metadata, step: int, use_ema: bool = True
) -> metadata_lib.RunMetadata:
    """A model_dir's `RunMetadata` with the facts of one generator added.

    What a SavedModel's metadata holds (bar when and from where it was
    exported); the in-memory sampler describes its model with it too.
    """
    return metadata_lib.RunMetadata.from_dict(metadata).replace(
        step=int(step),
        latent_dim=int(generator.latent_dim),
        num_classes=int(generator.num_classes),
        num_conditioning_frames=generator_lib.num_conditioning_frames(
            generator
        ),
        generator="ema_generator" if use_ema else "generator",
        dvdgan_tf_version=dvdgan_tf.__version__,
    )


def read_export_metadata(saved_model_dir: str) -> metadata_lib.RunMetadata:
    """The `metadata.json` asset of an exported SavedModel."""
    path = os.path.join(saved_model_dir, "assets", METADATA_ASSET)
    if not tf.io.gfile.exists(path):
        raise ValueError(
            f"{saved_model_dir} has no assets/{METADATA_ASSET}; is it a "
            "SavedModel written by dvdgan_tf.inference.export?"
        )
    with tf.io.gfile.GFile(path) as f:
        return metadata_lib.RunMetadata.from_dict(json.load(f))
