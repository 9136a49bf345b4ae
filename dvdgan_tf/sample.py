"""Sampling CLI: videos from a trained generator as MP4, GIF and a PNG grid.

    python -m dvdgan_tf.sample --model_dir=runs/demo --num=4 \\
        --output=runs/demo/samples
    python -m dvdgan_tf.sample --saved_model=export/1000 --label=3,7 \\
        --label=playing_guitar --seed=42 --truncation=0.5 --output=samples
    python -m dvdgan_tf.sample --model_dir=runs/demo --interpolate=0,2 \\
        --steps=8 --output=samples

Sources: `--model_dir` restores the EMA generator of a training directory
(`checkpointing.load_generator`, latest checkpoint or `--step`);
`--saved_model` loads a model written by `tools/export_savedmodel.py` and
calls its `sample` signature. Both draw z with `sampling.latents_from_seeds`
(truncated normal scaled by `--truncation`, one seed per video: `--seed`,
`--seed` + 1, ...), so the same flags give the same videos from either
source.

Labels (`--label`, repeatable, comma lists allowed): class indices or class
names. Default: spread evenly over the classes (`--num` <= N) or cycle
through all of them. Given labels are cycled up to `--num`.

Outputs in `--output`: `<index>_<class>_seed<seed>.mp4` (H.264) and `.gif`
per video, and `grid.png` (one row per video, one column per frame).

Class interpolation (`--interpolate=A,B --steps=S`, `--model_dir` only): one
z (from `--seed`), class embedding e = (1 - a) e(A) + a e(B) for S values of
a from 0 to 1. The `Generator` has no call argument for an embedding, so a
copy of it with an S-row class table holding the mixed embeddings is built
(`Generator.from_config` with num_classes = S, all other variables copied) and
called with labels 0..S-1; this uses only the generator's public
`class_embedding` layer and `get_config`. A SavedModel has no embedding
input, hence `--model_dir` only.

Playback rate: the training data's fps divided by its frame stride (metadata
of the model), unless `--fps` is given.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import re
from typing import Sequence

import numpy as np
import tensorflow as tf
import tqdm
from absl import app
from absl import flags
from absl import logging

from dvdgan_tf import checkpointing
from dvdgan_tf import cli
from dvdgan_tf import export
from dvdgan_tf import sampling
from dvdgan_tf import video_io
from dvdgan_tf.models import generator as generator_lib

FORMATS = ("mp4", "gif", "png")
DEFAULT_NUM = 8


@dataclasses.dataclass(frozen=True)
class ModelInfo:
    """What the sampler needs to know about a model.

    Attributes:
        class_names: N names (empty when unconditional).
        latent_dim: Z.
        fps: playback frame rate of the generated clips.
        step: training step of the weights.
    """

    class_names: tuple[str, ...]
    latent_dim: int
    fps: float
    step: int

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def playback_fps(metadata: dict) -> float:
    """Frame rate of generated clips: stored fps / frame stride (default 8)."""
    fps = float(metadata.get("fps") or 0.0)
    stride = int(metadata.get("frame_stride") or 1)
    return fps / stride if fps > 0 else 8.0


class GeneratorSampler:
    """Samples from an in-memory (EMA) Keras generator.

    Args:
        generator: a built `Generator`.
        metadata: the model_dir's metadata (class_names, fps, frame_stride).
        step: training step of the weights.
    """

    def __init__(self, generator, metadata: dict, step: int):
        self._generator = generator
        num_classes = int(generator.num_classes)
        class_names = tuple(metadata.get("class_names") or ())
        if not class_names:
            # Names are optional for sampling; indices still work.
            class_names = tuple(f"class_{i}" for i in range(num_classes))
        if len(class_names) != num_classes:
            raise ValueError(
                f"The generator has num_classes={num_classes} but the "
                f"metadata lists {len(class_names)} class_names; fix "
                "metadata.json of the model_dir."
            )
        self.info = ModelInfo(
            class_names=class_names,
            latent_dim=int(generator.latent_dim),
            fps=playback_fps(metadata),
            step=int(step),
        )
        self._call = sampling.inference_fn(generator)

    @classmethod
    def from_model_dir(cls, model_dir: str, step: int | None = None):
        """Restores the EMA generator of a training directory."""
        generator, step, metadata = checkpointing.load_generator(
            model_dir, step=step, use_ema=True
        )
        return cls(generator, metadata, step)

    def generate(
        self, seeds: np.ndarray, labels: np.ndarray | None, truncation: float
    ) -> np.ndarray:
        """Videos for int64 seeds [B] and labels [B] (None if N = 0).

        Returns:
            float32 [B, T, H, W, 3] in [-1, 1].
        """
        z = sampling.latents_from_seeds(seeds, self.info.latent_dim, truncation)
        if labels is not None:
            labels = tf.constant(labels, tf.int32)
        return self._call(z, labels).numpy()

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
            raise ValueError(f"--steps must be >= 2; received steps={steps}")
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
        z = sampling.latents_from_seeds(
            np.full([steps], seed, np.int64), self.info.latent_dim, truncation
        )
        labels = tf.range(steps, dtype=tf.int32)
        return mixer(z, labels, training=False).numpy()


class SavedModelSampler:
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
        self._loaded = tf.saved_model.load(saved_model_dir)
        self._sample = self._loaded.signatures[export.SAMPLE_SIGNATURE]
        self.info = ModelInfo(
            class_names=tuple(metadata.get("class_names") or ()),
            latent_dim=int(metadata["latent_dim"]),
            fps=playback_fps(metadata),
            step=int(metadata.get("step", -1)),
        )

    def generate(
        self, seeds: np.ndarray, labels: np.ndarray | None, truncation: float
    ) -> np.ndarray:
        """Videos for int64 seeds [B] and labels [B] (None if N = 0).

        Returns:
            float32 [B, T, H, W, 3] in [-1, 1].
        """
        inputs = {
            "seed": tf.constant(seeds, tf.int64),
            "truncation": tf.constant(truncation, tf.float32),
        }
        if labels is not None:
            inputs["label"] = tf.constant(labels, tf.int32)
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


def resolve_labels(
    label_flags: Sequence[str], class_names: Sequence[str], num: int | None
) -> tuple[list[int] | None, int]:
    """The label of every video, and the number of videos.

    Args:
        label_flags: `--label` values (indices or names, comma lists allowed).
        class_names: the model's N class names (empty: unconditional).
        num: `--num`, or None (the number of labels given, else 8).

    Returns:
        (labels, num): `labels` is None for an unconditional model.

    Raises:
        ValueError: labels for an unconditional model, a bad label, num < 1.
    """
    tokens = [t.strip() for flag in label_flags for t in flag.split(",")]
    tokens = [t for t in tokens if t]
    if num is None:
        num = len(tokens) or DEFAULT_NUM
    if num < 1:
        raise ValueError(f"--num must be >= 1; received num={num}")
    num_classes = len(class_names)
    if not num_classes:
        if tokens:
            raise ValueError(
                f"The model is unconditional (num_classes=0); drop --label "
                f"(received {tokens})."
            )
        return None, num
    if tokens:
        given = [parse_label(t, class_names) for t in tokens]
        return [given[i % len(given)] for i in range(num)], num
    if num <= num_classes:
        return [i * num_classes // num for i in range(num)], num
    return [i % num_classes for i in range(num)], num


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "class"


def _check_formats(formats: Sequence[str]) -> list[str]:
    formats = [f.strip().lower() for f in formats if f.strip()]
    unknown = sorted(set(formats) - set(FORMATS))
    if unknown or not formats:
        raise ValueError(
            f"--formats must be a non-empty subset of {list(FORMATS)}; "
            f"received {formats}"
        )
    return formats


def _write_clips(
    output_dir: str, stems: Sequence[str], videos: np.ndarray, formats, fps
) -> list[str]:
    written = []
    for stem, video in zip(stems, sampling.to_uint8(videos)):
        if "mp4" in formats:
            written.append(os.path.join(output_dir, f"{stem}.mp4"))
            video_io.write_video(written[-1], video, fps=fps)
        if "gif" in formats:
            written.append(os.path.join(output_dir, f"{stem}.gif"))
            video_io.write_gif(written[-1], video, fps=fps)
    return written


def write_samples(
    sampler,
    output_dir: str,
    labels: list[int] | None,
    num: int,
    seed: int = 0,
    truncation: float = 1.0,
    formats: Sequence[str] = FORMATS,
    fps: float | None = None,
    batch_size: int = 8,
    progress: bool = True,
) -> list[str]:
    """Generates `num` videos and writes them; returns the written paths.

    Video i uses seed `seed + i` and label `labels[i]` (None: unconditional).

    Raises:
        ValueError: bad formats, batch size or truncation.
    """
    formats = _check_formats(formats)
    if batch_size < 1:
        raise ValueError(f"--batch_size must be >= 1; received {batch_size}")
    if truncation < 0:
        raise ValueError(f"--truncation must be >= 0; received {truncation}")
    fps = fps or sampler.info.fps
    tf.io.gfile.makedirs(output_dir)
    seeds = seed + np.arange(num, dtype=np.int64)
    names = sampler.info.class_names
    stems = [
        f"{i:03d}_{_slug(names[labels[i]])}_seed{seeds[i]}"
        if labels is not None
        else f"{i:03d}_seed{seeds[i]}"
        for i in range(num)
    ]
    written, all_videos = [], []
    with tqdm.tqdm(
        total=num, unit="video", disable=not progress, desc="sampling"
    ) as bar:
        for start in range(0, num, batch_size):
            stop = min(start + batch_size, num)
            batch_labels = (
                None if labels is None else np.asarray(labels[start:stop])
            )
            videos = sampler.generate(
                seeds[start:stop], batch_labels, truncation
            )
            written += _write_clips(
                output_dir, stems[start:stop], videos, formats, fps
            )
            if "png" in formats:
                all_videos.append(sampling.to_uint8(videos))
            bar.update(stop - start)
    if "png" in formats:
        written.append(os.path.join(output_dir, "grid.png"))
        video_io.write_png_grid(written[-1], np.concatenate(all_videos))
    return written


def write_interpolation(
    sampler,
    output_dir: str,
    label_a: int,
    label_b: int,
    steps: int,
    seed: int = 0,
    truncation: float = 1.0,
    formats: Sequence[str] = FORMATS,
    fps: float | None = None,
) -> list[str]:
    """Writes a class interpolation (see module docstring); returns paths.

    Raises:
        ValueError: a sampler that cannot interpolate (SavedModel), or bad
            steps/formats.
    """
    formats = _check_formats(formats)
    if not hasattr(sampler, "interpolate"):
        raise ValueError(
            "--interpolate needs --model_dir: a SavedModel has no class "
            "embedding input to mix."
        )
    videos = sampler.interpolate(seed, label_a, label_b, steps, truncation)
    tf.io.gfile.makedirs(output_dir)
    names = sampler.info.class_names
    stem = (
        f"interpolation_{_slug(names[label_a])}_to_{_slug(names[label_b])}"
        f"_seed{seed}"
    )
    stems = [f"{stem}_step{k:02d}" for k in range(steps)]
    written = _write_clips(
        output_dir, stems, videos, formats, fps or sampler.info.fps
    )
    if "png" in formats:
        written.append(os.path.join(output_dir, f"{stem}.png"))
        video_io.write_png_grid(written[-1], sampling.to_uint8(videos))
    return written


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


def _define_flags() -> None:
    flags.DEFINE_string("saved_model", None, "Exported SavedModel version dir.")
    flags.DEFINE_string("model_dir", None, "Training dir (EMA generator).")
    flags.DEFINE_integer("step", None, "Checkpoint step (--model_dir); latest.")
    flags.DEFINE_multi_string(
        "label", [], "Class index or name; repeatable, comma lists allowed."
    )
    flags.DEFINE_integer("num", None, "Videos (default: #labels or 8).")
    flags.DEFINE_integer("seed", 0, "Seed of video 0; video i uses seed + i.")
    flags.DEFINE_float("truncation", 1.0, "z = truncation * TN(0,1) cut at 2.")
    flags.DEFINE_string("output", None, "Output directory.", required=True)
    flags.DEFINE_list("formats", list(FORMATS), "Subset of mp4,gif,png.")
    flags.DEFINE_float("fps", None, "Playback fps (default: from metadata).")
    flags.DEFINE_integer("batch_size", 8, "Videos per generator call.")
    flags.DEFINE_list(
        "interpolate", [], "A,B: interpolate the class embedding from A to B."
    )
    flags.DEFINE_integer("steps", 8, "Interpolation steps (--interpolate).")


def check_flags(f) -> None:
    """Rejects flag values that would silently give wrong videos.

    Raises:
        cli.UsageError: a non-finite or negative truncation, fps <= 0,
            num/steps/batch_size < 1, neither or both sources; the output
            directory is unusable.
    """
    if not math.isfinite(f.truncation) or f.truncation < 0:
        raise cli.UsageError(
            f"--truncation must be a finite number >= 0 (1 = the training "
            f"prior, 0 = the mean video); received {f.truncation}"
        )
    if f.fps is not None and (not math.isfinite(f.fps) or f.fps <= 0):
        raise cli.UsageError(
            f"--fps must be a positive frame rate; received {f.fps}"
        )
    for name in ("num", "steps", "batch_size"):
        value = getattr(f, name)
        if value is not None and value < 1:
            raise cli.UsageError(f"--{name} must be >= 1; received {value}")
    cli.check_output_dir(f.output, "--output")


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise cli.UsageError(f"Unexpected arguments: {argv[1:]}")
    check_flags(flags.FLAGS)
    _sample(flags.FLAGS)


def _sample(f) -> None:
    sampler = load_sampler(f.saved_model, f.model_dir, f.step)
    info = sampler.info
    if f.interpolate:
        if len(f.interpolate) != 2:
            raise ValueError(
                f"--interpolate takes two labels A,B; received {f.interpolate}"
            )
        label_a, label_b = (
            parse_label(token, info.class_names) for token in f.interpolate
        )
        written = write_interpolation(
            sampler,
            f.output,
            label_a,
            label_b,
            f.steps,
            f.seed,
            f.truncation,
            f.formats,
            f.fps,
        )
    else:
        labels, num = resolve_labels(f.label, info.class_names, f.num)
        written = write_samples(
            sampler,
            f.output,
            labels,
            num,
            f.seed,
            f.truncation,
            f.formats,
            f.fps,
            f.batch_size,
        )
    logging.info(
        "Step %d: wrote %d files to %s", info.step, len(written), f.output
    )
    for path in written:
        logging.info("  %s", path)


if __name__ == "__main__":
    _define_flags()
    app.run(cli.run_main(main))
