"""A trained generator to sample from: a training directory or a SavedModel.

`load_sampler(saved_model=..., model_dir=...)` returns either sampler; both
have ``info`` (`ModelInfo`: class names, Z, playback fps, step) and
``generate(seeds, labels, truncation) -> float32 [B, T, H, W, 3]`` in
[-1, 1], with z from `generation.latents_from_seeds`, so the same seeds give
the same videos from either source. DVD-GAN-FP models also take
``context`` (uint8 [B, C, H, W, 3]) and return the whole clip
[B, C + T, H, W, 3], the given frames first:

* `GeneratorSampler`: the EMA generator restored from a model_dir
  (`checkpointing.load_generator`), run through `generation.inference_fn`;
  it also interpolates the class embedding (`interpolate`);
* `SavedModelSampler`: the `sample` signature of an exported SavedModel.

`parse_label` turns a class index or name into an index (with close matches
for a typo). The sampling CLI is `dvdgan_tf.sample`.
"""

from __future__ import annotations

import abc
import dataclasses
import difflib
import os
import re
from typing import Mapping
from typing import Sequence

import numpy as np
import tensorflow as tf

from dvdgan_tf.inference import export
from dvdgan_tf.inference import generation
from dvdgan_tf.models import generator as generator_lib
from dvdgan_tf.store import checkpointing
from dvdgan_tf.store import metadata as metadata_lib
from dvdgan_tf.util import errors
from dvdgan_tf.util import pixels


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the sampler needs to know about a model.

    Attributes:
        class_names: N names (empty when unconditional).
        latent_dim: Z.
        fps: playback frame rate of the generated clips.
        step: training step of the weights.
        resolution: frame H = W.
        num_conditioning_frames: C real frames a DVD-GAN-FP model
            continues; 0 for synthesis.
        frame_stride: stored frames between the model's frames.
    """

    class_names: tuple[str, ...]
    latent_dim: int
    fps: float
    step: int
    resolution: int = 0
    num_conditioning_frames: int = 0
    frame_stride: int = 1

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    @classmethod
    def from_metadata(cls, metadata: metadata_lib.RunMetadata) -> ModelInfo:
        """From a generator's export metadata (`export.export_metadata`)."""
        return cls(
            class_names=metadata.class_names,
            latent_dim=int(metadata.latent_dim),
            fps=metadata.playback_fps,
            step=-1 if metadata.step is None else metadata.step,
            resolution=metadata.resolution,
            num_conditioning_frames=metadata.num_conditioning_frames,
            frame_stride=metadata.frame_stride,
        )


class _Sampler(abc.ABC):
    """What both samplers share: `info` and `generate` (checks, then runs
    `_generate`, which each sampler implements)."""

    info: ModelInfo

    def generate(
        self,
        seeds: np.ndarray,
        labels: np.ndarray | None,
        truncation: float,
        context: np.ndarray | None = None,
    ) -> np.ndarray:
        """Videos for int64 seeds [B] and labels [B] (None if N = 0).

        Args:
            context: DVD-GAN-FP only: uint8 [B, C, H, W, 3].

        Returns:
            float32 [B, T, H, W, 3] in [-1, 1]; FP: [B, C + T, ...].
        """
        context = generation.check_context(
            context,
            len(seeds),
            self.info.num_conditioning_frames,
            self.info.resolution,
        )
        return self._generate(seeds, labels, truncation, context)

    @abc.abstractmethod
    def _generate(self, seeds, labels, truncation, context) -> np.ndarray:
        """float32 clips for checked inputs (context: uint8 or None)."""


class GeneratorSampler(_Sampler):
    """Samples from an in-memory (EMA) Keras generator.

    Args:
        generator: a built `Generator`.
        metadata: the model_dir's metadata (class_names, fps, frame_stride).
        step: training step of the weights.
    """

    def __init__(
        self,
        generator,
        metadata: metadata_lib.RunMetadata | Mapping,
        step: int,
    ):
        self._generator = generator
        num_classes = int(generator.num_classes)
        metadata = export.export_metadata(generator, metadata, step)
        class_names = metadata.class_names
        if not class_names:
            # Names are optional for sampling; indices still work.
            class_names = tuple(f"class_{i}" for i in range(num_classes))
        if len(class_names) != num_classes:
            raise ValueError(
                f"The generator has num_classes={num_classes} but the "
                f"metadata lists {len(class_names)} class_names; fix "
                "metadata.json of the model_dir."
            )
        self.info = ModelInfo.from_metadata(
            metadata.replace(
                class_names=class_names,
                resolution=int(generator.resolution),
            )
        )
        self._call = generation.inference_fn(generator)

    @classmethod
    def from_model_dir(cls, model_dir: str, step: int | None = None):
        """Restores the EMA generator of a training directory."""
        generator, step, metadata = checkpointing.load_generator(
            model_dir, step=step, use_ema=True
        )
        return cls(generator, metadata, step)

    def _generate(self, seeds, labels, truncation, context):
        z = generation.latents_from_seeds(
            seeds, self.info.latent_dim, truncation
        )
        if labels is not None:
            labels = tf.constant(labels, tf.int32)
        if context is not None:
            context = tf.constant(pixels.from_uint8(context))
        return self._call(z, labels, context).numpy()

    def interpolate(
        self,
        seed: int,
        label_a: int,
        label_b: int,
        steps: int,
        truncation: float,
    ) -> np.ndarray:
        """Videos for one z and class embeddings mixed from A to B.

        Returns:
            float32 [steps, T, H, W, 3]; row 0 is class A, the last class B.

        Raises:
            ValueError: steps < 2, a label outside [0, N), or an
                unconditional generator.
        """
        if steps < 2:
            raise errors.ConfigValueError(
                f"--steps must be >= 2; received steps={steps}"
            )
        source = self._generator
        if source.class_embedding is None:
            raise ValueError(
                "Class interpolation needs a class-conditional generator; "
                "this one is unconditional (num_classes=0)."
            )
        for label in (label_a, label_b):
            parse_label(str(label), self.info.class_names)  # range check
        config = dict(source.get_config(), num_classes=steps)
        mixer = generator_lib.Generator.from_config(config)
        table = source.class_embedding.embeddings.numpy()
        alphas = np.linspace(0.0, 1.0, steps, dtype=np.float32)[:, None]
        mixed = (1.0 - alphas) * table[label_a] + alphas * table[label_b]
        source_variables = checkpointing.model_variables(source)
        table_path = mixer.class_embedding.embeddings.path
        for key, variable in checkpointing.model_variables(mixer).items():
            if variable.path == table_path:
                variable.assign(mixed)
            else:
                variable.assign(source_variables[key])
        z = generation.latents_from_seeds(
            np.full([steps], seed, np.int64), self.info.latent_dim, truncation
        )
        labels = tf.range(steps, dtype=tf.int32)
        return mixer(z, labels, training=False).numpy()


class SavedModelSampler(_Sampler):
    """Samples through the `sample` signature of an exported SavedModel."""

    def __init__(self, saved_model_dir: str):
        graph = os.path.join(saved_model_dir, "saved_model.pb")
        if not tf.io.gfile.exists(graph):
            raise ValueError(
                f"--saved_model={saved_model_dir} holds no saved_model.pb; "
                "pass "
                "a version directory written by tools/export_savedmodel.py "
                "(EXPORT_DIR/<version>)."
            )
        metadata = export.read_export_metadata(saved_model_dir)
        # Keep the loaded object alive: its signatures reference its
        # variables (docs/DESIGN.md K12).
        try:
            self._loaded = tf.saved_model.load(saved_model_dir)
            self._sample = self._loaded.signatures[export.SAMPLE_SIGNATURE]
        except Exception as error:  # noqa: BLE001 - any damage, one message
            raise ValueError(
                f"--saved_model={saved_model_dir} cannot be loaded "
                f"({errors.describe(error)}): the SavedModel is damaged or "
                "incomplete. Export it again with tools/export_savedmodel.py."
            ) from None
        self.info = ModelInfo.from_metadata(metadata)

    def _generate(self, seeds, labels, truncation, context):
        inputs = {
            "seed": tf.constant(seeds, tf.int64),
            "truncation": tf.constant(truncation, tf.float32),
        }
        if labels is not None:
            inputs["label"] = tf.constant(labels, tf.int32)
        if context is not None:
            inputs["conditioning_frames"] = tf.constant(context)
        return self._sample(**inputs)["video_float"].numpy()


def parse_label(token: str, class_names: Sequence[str]) -> int:
    """A class index from an index or a class name.

    Raises:
        ValueError: unknown name (with close matches) or index out of range.
    """
    if token in class_names:
        return list(class_names).index(token)
    num_classes = len(class_names)
    if re.fullmatch(r"-?\d+", token):
        label = int(token)
        if not 0 <= label < num_classes:
            raise ValueError(
                f"Label {label} is out of range: the model has "
                f"num_classes={num_classes} (valid indices 0.."
                f"{num_classes - 1})."
            )
        return label
    close = difflib.get_close_matches(token, list(class_names), n=3)
    hint = f" Did you mean {close}?" if close else ""
    raise ValueError(
        f"Unknown class name {token!r}: not one of the model's "
        f"{num_classes} class names and not an index.{hint}"
    )


def load_sampler(
    saved_model: str | None = None,
    model_dir: str | None = None,
    step: int | None = None,
):
    """A `SavedModelSampler` or `GeneratorSampler`; exactly one source.

    Raises:
        ValueError: neither or both sources, or `step` with a SavedModel.
        checkpointing.CheckpointError: a bad model_dir or checkpoint.
    """
    if bool(saved_model) == bool(model_dir):
        raise ValueError(
            "Pass exactly one of --saved_model or --model_dir; received "
            f"saved_model={saved_model!r}, model_dir={model_dir!r}."
        )
    if saved_model:
        if step is not None:
            raise ValueError(
                "--step selects a checkpoint of --model_dir; a SavedModel "
                f"holds one step (received step={step})."
            )
        return SavedModelSampler(saved_model)
    return GeneratorSampler.from_model_dir(model_dir, step=step)
