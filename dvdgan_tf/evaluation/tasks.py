"""Evaluation tasks: each metric family behind one interface.

An `EvalTask` has a ``name`` and ``run(context) -> [MetricResult]``; the
`EvalContext` gives it the generator (with its metadata), generated clips
for a seed, real clips and the statistics cache. The loop over generated
sets (``context.seeds``: `--seed`, `--seed` + 1, ...) and the mean/std over
them is written once, in `over_generated_sets` (compare_gan's eval tasks
have the same shape: fake and real sources in, named values out).

| task                 | metrics                                          |
| -------------------- | ------------------------------------------------ |
| `JudgeTask`          | judge_{accuracy, appearance_accuracy,            |
|                      | motion_accuracy, frechet_distance}, and the      |
|                      | references judge_frechet_floor,                  |
|                      | judge_real_accuracy                              |
| `FVDTask`            | fvd (I3D Kinetics-400 logits)                    |
| `InceptionScoreTask` | is (a configured video classifier)               |
| `FIDTask`            | fid (the same classifier's features)             |

Generated clips come from `generation.generate_batches` (z ~ N(0, I), the
training prior, no truncation); the judge spreads labels over the classes,
FVD and FID use the real clips' labels, IS spreads them.

DVD-GAN-FP models are scored on the **whole clip**, as in the paper: the
context continues the first C frames of real evaluation clips (the first M
clips of the real set, `EvalContext.context_clips`) under those
clips' labels, and every task sees C real + T generated frames; protocol
names gain `_fp<C>` (e.g. `fvd2048_16f_fp5`, `judge600_fp2`).
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from typing import Callable
from typing import Protocol
from typing import Sequence

import numpy as np
import tensorflow as tf
from absl import logging

from dvdgan_tf.data import synthetic
from dvdgan_tf.evaluation import real_clips
from dvdgan_tf.evaluation import stats_cache
from dvdgan_tf.inference import generation
from dvdgan_tf.metrics import classifier as classifier_lib
from dvdgan_tf.metrics import frechet
from dvdgan_tf.metrics import fvd
from dvdgan_tf.metrics import inception_score
from dvdgan_tf.metrics import judge as judge_lib
from dvdgan_tf.models import generator as generator_lib


@dataclasses.dataclass(frozen=True)
class MetricResult:
    """One number of an evaluation, with what it depends on.

    Attributes:
        name: metric, e.g. "fvd", "judge_accuracy", "is".
        protocol: the protocol it was computed under, e.g. "fvd2048_16f".
        num_samples: generated clips per run (real clips for the
            reference values: the judge's floor and held-out accuracy).
        seed: seed of the first generated run (of the real clips for the
            reference values).
        value: mean over runs.
        std: std over runs; None for one run or a reference value.
    """

    name: str
    protocol: str
    num_samples: int
    seed: int
    value: float
    std: float | None = None

    @property
    def tag(self) -> str:
        return f"{self.name}/{self.protocol}"


@dataclasses.dataclass
class EvalContext:
    """What a task may use: the model, generated and real clips, the cache.

    Attributes:
        generator: the restored (EMA) `Generator`.
        metadata: the model_dir's metadata.json.
        seeds: one seed per generated set.
        batch_size: clips per generator call.
        progress: show tqdm bars.
        real_file_pattern: TFRecords of real clips; empty = rendered
            synthetic clips.
        cache: the real-statistics cache.
        truncation: None = the untruncated prior; else the level t of
            z = t * TN(0, 1) (a truncation sweep runs the tasks per level).
    """

    generator: object
    metadata: dict
    seeds: tuple[int, ...]
    batch_size: int
    progress: bool
    real_file_pattern: str
    cache: stats_cache.StatsCache
    truncation: float | None = None
    # DVD-GAN-FP: context clips by M, read once per evaluation (every
    # generated set and task continues the same real clips).
    _context_clips: dict = dataclasses.field(default_factory=dict, repr=False)

    @property
    def dataset(self) -> str:
        return self.metadata.dataset_or_unknown

    @property
    def resolution(self) -> int:
        return int(self.generator.resolution)

    @property
    def num_frames(self) -> int:
        """Frames of the clips it scores: C context + T generated."""
        return generator_lib.clip_frames(self.generator)

    @property
    def num_conditioning_frames(self) -> int:
        return generator_lib.num_conditioning_frames(self.generator)

    def protocol_suffix(self) -> str:
        """'' for synthesis, '_fp<C>' for DVD-GAN-FP."""
        count = self.num_conditioning_frames
        return f"_fp{count}" if count else ""

    def context_clips(self, num_videos):
        """DVD-GAN-FP: the first C frames and labels of M real clips.

        Returns:
            (uint8 [M, C, H, W, 3], int32 [M]): clips of the real set, in
            order (the same clips as `real_clips(M, ...)`).
        """
        if num_videos not in self._context_clips:
            clips, labels = self.real_clips(num_videos, self.num_frames)
            self._context_clips[num_videos] = (
                clips[:, : self.num_conditioning_frames],
                labels,
            )
        return self._context_clips[num_videos]

    @property
    def frame_stride(self) -> int:
        return self.metadata.frame_stride

    def real_batches(
        self, num_clips, num_frames, seed=real_clips.REAL_SEED, skip=0
    ):
        """uint8 real batches (`real_clips.real_clip_batches`); num_clips
        None = the whole split of `real_file_pattern`."""
        return real_clips.real_clip_batches(
            num_clips,
            num_frames,
            self.frame_stride,
            self.resolution,
            self.dataset,
            self.real_file_pattern,
            seed,
            self.batch_size,
            self.progress,
            skip_short=bool(self.num_conditioning_frames),
            skip=skip,
        )

    def real_clips(self, num_clips, num_frames, seed=real_clips.REAL_SEED):
        """(uint8 [M, T, H, W, 3], int32 [M]) real clips, concatenated."""
        return real_clips.load_real_clips(
            num_clips,
            num_frames,
            self.frame_stride,
            self.resolution,
            self.dataset,
            self.real_file_pattern,
            seed,
            self.progress,
            skip_short=bool(self.num_conditioning_frames),
        )

    def _generation_inputs(self, num_videos, labels):
        """(labels, context frames): FP continues real clips, their labels."""
        if not self.num_conditioning_frames:
            return labels, None
        context_frames, real_labels = self.context_clips(num_videos)
        if not self.generator.num_classes:
            real_labels = None
        return real_labels, context_frames

    def generate_batches(self, num_videos, seed, labels=None, num_frames=None):
        """Generated (uint8 clips cut to `num_frames`, labels) batches."""
        labels, context_frames = self._generation_inputs(num_videos, labels)
        for videos, batch_labels in generation.generate_batches(
            self.generator,
            num_videos,
            seed,
            labels,
            self.batch_size,
            self.progress,
            context_frames,
            self.truncation,
        ):
            yield videos[:, :num_frames], batch_labels

    def generate(self, num_videos, seed, labels=None):
        """(uint8 [M, C + T, H, W, 3], int32 [M] or None), concatenated."""
        labels, context_frames = self._generation_inputs(num_videos, labels)
        return generation.generate_videos(
            self.generator,
            num_videos,
            seed,
            labels,
            self.batch_size,
            self.progress,
            context_frames,
            self.truncation,
        )


class EvalTask(Protocol):
    """A metric family: ``run(context)`` returns its named results."""

    name: str

    def run(self, context: EvalContext) -> list[MetricResult]: ...


def over_generated_sets(
    context: EvalContext,
    protocol: str,
    num_samples: int,
    compute_set: Callable[[int], dict],
) -> list[MetricResult]:
    """Runs `compute_set(seed)` for every generated set; mean and std.

    Args:
        context: gives the seeds.
        protocol: the protocol name of every result.
        num_samples: generated clips per set.
        compute_set: ``seed -> {metric name: value}``; a value may be a
            (value, std) pair whose std is reported when there is one set
            only (IS: the spread over splits).

    Returns:
        One `MetricResult` per metric name, in the order `compute_set`
        returns them; std is the spread over sets (None for one set, unless
        the set gave its own).
    """
    runs: dict[str, list] = {}
    for seed in context.seeds:
        for name, value in compute_set(seed).items():
            runs.setdefault(name, []).append(value)
    results = []
    for name, values in runs.items():
        own_std = None
        if isinstance(values[0], tuple):
            own_std = values[0][1]
            values = [value for value, _ in values]
        values = np.asarray(values, np.float64)
        if len(values) > 1:
            std = float(values.std())
        else:
            std = own_std
        results.append(
            MetricResult(
                name,
                protocol,
                num_samples,
                context.seeds[0],
                float(values.mean()),
                std,
            )
        )
    return results


def _gaussian(embeddings, **extra) -> dict:
    """The cacheable real side: a Gaussian fit (+ `extra` arrays)."""
    mu, sigma = frechet.gaussian_statistics(embeddings)
    return {"mu": mu, "sigma": sigma, **extra}


def _frechet_to(real: dict, embeddings) -> float:
    """Frechet distance from the cached real Gaussian to `embeddings`."""
    mu, sigma = frechet.gaussian_statistics(embeddings)
    return frechet.frechet_distance(real["mu"], real["sigma"], mu, sigma)


def _judge_id(judge_dir: str) -> str:
    digest = hashlib.sha1()
    for name in ("judge.keras", "judge.json"):
        with tf.io.gfile.GFile(os.path.join(judge_dir, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:10]


@dataclasses.dataclass(frozen=True)
class JudgeTask:
    """The synthetic-data judge (`dvdgan_tf.metrics.judge`).

    Attributes:
        judge_dir: a judge from `tools/train_judge.py`.
        num_clips: N, generated clips per set (labels i mod 12).
    """

    judge_dir: str
    num_clips: int
    name: str = "judge"

    def _check(self, context: EvalContext, judge) -> None:
        if not real_clips.is_synthetic(context.dataset):
            raise ValueError(
                "The judge scores models trained on the synthetic dataset; "
                f"this model's dataset is {context.dataset!r}. Use "
                "--metrics=fvd."
            )
        model_classes = context.metadata.class_names
        if tuple(judge.class_names) != tuple(synthetic.class_names()) or (
            model_classes != tuple(judge.class_names)
        ):
            raise ValueError(
                f"Class names differ: judge {list(judge.class_names)}, model "
                f"{list(model_classes)}, synthetic dataset "
                f"{list(synthetic.class_names())}. Retrain the judge with "
                "this version of the synthetic dataset (tools/train_judge.py)."
            )
        expected = (judge.settings.num_frames, judge.settings.size)
        if (context.num_frames, context.resolution) != expected:
            raise ValueError(
                f"The judge in {self.judge_dir} takes {expected[0]} frames of "
                f"{expected[1]}x{expected[1]}; the model makes "
                f"{context.num_frames} frames of {context.resolution}x"
                f"{context.resolution}. Train a matching judge: python "
                f"tools/train_judge.py --num_frames={context.num_frames} "
                f"--size={context.resolution} --judge_dir=..."
            )
        if int(context.generator.num_classes) != len(judge.class_names):
            raise ValueError(
                f"The generator has {context.generator.num_classes} classes, "
                f"the judge {len(judge.class_names)}: the judge needs a "
                "class-conditional model of the synthetic dataset."
            )

    def run(self, context: EvalContext) -> list[MetricResult]:
        judge = judge_lib.load_judge(self.judge_dir)
        self._check(context, judge)
        protocol = f"judge{self.num_clips}{context.protocol_suffix()}"

        def compute_real():
            # 2N distinct real clips: the first N are the reference, the
            # other N give the real-vs-real floor.
            real, _ = context.real_clips(2 * self.num_clips, context.num_frames)
            statistics = judge_lib.real_statistics(
                judge, real[: self.num_clips], real[self.num_clips :]
            )
            return {
                "mu": statistics.mu,
                "sigma": statistics.sigma,
                "floor": np.float64(statistics.floor),
            }

        real = context.cache.get_or_compute(
            f"judge{self.num_clips}",
            compute_real,
            f"-{_judge_id(self.judge_dir)}",
        )

        def compute_set(seed):
            videos, labels = context.generate(self.num_clips, seed)
            probabilities, features = judge.predict(videos)
            scores = judge.score_probabilities(probabilities, labels)
            return {
                "judge_accuracy": scores.accuracy,
                "judge_appearance_accuracy": scores.appearance_accuracy,
                "judge_motion_accuracy": scores.motion_accuracy,
                "judge_frechet_distance": _frechet_to(real, features),
            }

        results = over_generated_sets(
            context, protocol, self.num_clips, compute_set
        )
        results.append(
            MetricResult(
                "judge_frechet_floor",
                protocol,
                self.num_clips,
                real_clips.REAL_SEED,
                float(real["floor"]),
            )
        )
        if judge.controls is not None:
            results.append(
                MetricResult(
                    "judge_real_accuracy",
                    protocol,
                    judge.controls.num_clips,
                    judge.settings.seed + 1,
                    judge.controls.accuracy,
                )
            )
        return results


@dataclasses.dataclass(frozen=True)
class FVDTask:
    """Frechet Video Distance under `fvd.FVDProtocol`.

    Attributes:
        num_videos: N.
        num_frames: T (>= 9); 0 = the model's clip length. Generated clips
            keep their first T frames.
    """

    num_videos: int
    num_frames: int = 0
    name: str = "fvd"

    def run(self, context: EvalContext) -> list[MetricResult]:
        num_frames = self.num_frames or context.num_frames
        if num_frames > context.num_frames:
            raise ValueError(
                f"FVD over {num_frames} frames needs clips that long; the "
                f"model makes {context.num_frames} frames. Lower "
                "--fvd_num_frames."
            )
        if num_frames < 9:
            raise ValueError(
                f"I3D needs at least 9 frames (8x temporal reduction, then a "
                f"(2, 7, 7) VALID pool); received: num_frames={num_frames} "
                "(the model's clip length unless --fvd_num_frames is set). "
                "FVD cannot score this model; use --metrics=judge on the "
                "synthetic data."
            )
        protocol = fvd.FVDProtocol(
            num_videos=self.num_videos,
            num_frames=num_frames,
            stride=context.frame_stride,
        )

        def compute_real():
            labels = []

            def videos():
                for batch, batch_labels in context.real_batches(
                    protocol.num_videos, num_frames
                ):
                    labels.append(batch_labels)
                    yield batch

            logits = fvd.i3d_logits_from_batches(videos())
            return _gaussian(logits, labels=np.concatenate(labels))

        real = context.cache.get_or_compute(protocol.name, compute_real)

        def compute_set(seed):
            logits = fvd.i3d_logits_from_batches(
                videos
                for videos, _ in context.generate_batches(
                    protocol.num_videos, seed, real["labels"], num_frames
                )
            )
            return {"fvd": _frechet_to(real, logits)}

        return over_generated_sets(
            context,
            protocol.name + context.protocol_suffix(),
            protocol.num_videos,
            compute_set,
        )


def _classifier_frames(context, settings) -> int:
    num_frames = settings.num_frames or context.num_frames
    if num_frames > context.num_frames:
        raise ValueError(
            f"Classifier {settings.name!r} takes {num_frames} frames; the "
            f"model makes {context.num_frames}."
        )
    return num_frames


def _classifier_prefix(settings) -> str:
    return f"{settings.name}_{settings.preprocessing.value}"


@dataclasses.dataclass(frozen=True)
class InceptionScoreTask:
    """Inception Score with a configured video classifier.

    Attributes:
        classifier: `classifier.VideoClassifier` settings (gin).
        protocol: an `inception_score.InceptionScoreProtocol`.
    """

    classifier: classifier_lib.VideoClassifier
    protocol: inception_score.InceptionScoreProtocol
    name: str = "is"

    def run(self, context: EvalContext) -> list[MetricResult]:
        settings = self.classifier
        if not settings.has_class_scores:
            raise ValueError(
                f"IS needs class scores: set logits_key or probabilities_key "
                f"of classifier {settings.name!r}."
            )
        loaded = classifier_lib.LoadedVideoClassifier(settings)
        num_frames = _classifier_frames(context, settings)
        protocol = self.protocol

        def compute_set(seed):
            probabilities = np.concatenate(
                [
                    loaded.predict(videos)["probabilities"]
                    for videos, _ in context.generate_batches(
                        protocol.num_samples, seed, num_frames=num_frames
                    )
                ]
            )
            mean, std = inception_score.inception_score(
                probabilities, protocol.num_splits
            )
            # One set: the spread over splits (TGANv2's runs are splits).
            return {"is": (mean, std if protocol.num_splits > 1 else None)}

        name = (
            f"is_{_classifier_prefix(settings)}_"
            f"{protocol.name.removeprefix('is')}"
        )
        return over_generated_sets(
            context, name, protocol.num_samples, compute_set
        )


@dataclasses.dataclass(frozen=True)
class FIDTask:
    """Frechet distance in a configured video classifier's feature space.

    Attributes:
        classifier: `classifier.VideoClassifier` settings (gin).
        num_videos: N generated clips; with `real_stats` "sample" also N
            real clips, whose labels the fakes take.
        real_stats: "sample" (N real clips, the fast default) or "split":
            every clip of the real file pattern (the paper's Table 1
            protocol: the whole Kinetics-600 training set), streamed with
            O(D^2) memory (`frechet.StreamingGaussian`), saved every
            `save_every` clips and resumed after a kill; the fakes' labels
            then follow the split's class frequencies.
        save_every: real clips between progress saves ("split").
    """

    classifier: classifier_lib.VideoClassifier
    num_videos: int
    real_stats: str = "sample"
    save_every: int = 1024
    name: str = "fid"

    def run(self, context: EvalContext) -> list[MetricResult]:
        settings = self.classifier
        if not settings.features_key:
            raise ValueError(
                "FID needs features: set features_key of classifier "
                f"{settings.name!r}."
            )
        loaded = classifier_lib.LoadedVideoClassifier(settings)
        num_frames = _classifier_frames(context, settings)
        protocol = (
            f"fid_{_classifier_prefix(settings)}_{self.num_videos}_"
            f"{num_frames}f"
        )
        if self.real_stats == "split":
            protocol += "_split"

            def compute_real():
                return self._whole_split(context, loaded, num_frames, protocol)

        else:

            def compute_real():
                features, labels = [], []
                for videos, batch_labels in context.real_batches(
                    self.num_videos, num_frames
                ):
                    features.append(loaded.predict(videos)["features"])
                    labels.append(batch_labels)
                return _gaussian(
                    np.concatenate(features), labels=np.concatenate(labels)
                )

        real = context.cache.get_or_compute(protocol, compute_real)

        def compute_set(seed):
            features = np.concatenate(
                [
                    loaded.predict(videos)["features"]
                    for videos, _ in context.generate_batches(
                        self.num_videos, seed, real["labels"], num_frames
                    )
                ]
            )
            return {"fid": _frechet_to(real, features)}

        return over_generated_sets(
            context, protocol, self.num_videos, compute_set
        )

    def _whole_split(self, context, loaded, num_frames, protocol) -> dict:
        """The real Gaussian over every clip, resumable (see `real_stats`)."""
        cache = context.cache
        saved = cache.read_partial(protocol)
        fit, counts = None, None
        if saved is not None:
            fit = frechet.StreamingGaussian.from_state(saved)
            counts = np.asarray(saved["label_counts"], np.int64)
            logging.info(
                "Resuming the whole-split statistics after %d clips", fit.count
            )
        since_save = 0
        for videos, labels in context.real_batches(
            None, num_frames, skip=0 if fit is None else fit.count
        ):
            features = loaded.predict(videos)["features"]
            if fit is None:
                fit = frechet.StreamingGaussian(features.shape[1])
                counts = np.zeros(0, np.int64)
            fit.update(features)
            counts = _add_counts(counts, labels)
            since_save += len(labels)
            if since_save >= self.save_every:
                cache.write_partial(
                    protocol, {**fit.state(), "label_counts": counts}
                )
                since_save = 0
        if fit is None or fit.count < 2:
            raise ValueError(
                f"The real split {context.real_file_pattern!r} holds fewer "
                "than 2 clips: no statistics."
            )
        mu, sigma = fit.statistics()
        cache.drop_partial(protocol)
        return {
            "mu": mu,
            "sigma": sigma,
            "labels": labels_in_proportion(counts, self.num_videos),
            "num_real_clips": np.asarray(fit.count, np.int64),
        }


def _add_counts(counts, labels):
    labels = np.asarray(labels, np.int64)
    size = max(len(counts), int(labels.max()) + 1 if len(labels) else 0)
    grown = np.zeros(size, np.int64)
    grown[: len(counts)] = counts
    np.add.at(grown, labels, 1)
    return grown


def labels_in_proportion(counts, num_videos: int) -> np.ndarray:
    """`num_videos` labels whose class frequencies follow `counts`
    (largest-remainder rounding), sorted: int32 [num_videos]."""
    counts = np.asarray(counts, np.float64)
    share = counts / counts.sum() * num_videos
    whole = np.floor(share).astype(np.int64)
    remainder = share - whole
    order = np.argsort(-remainder, kind="stable")
    whole[order[: num_videos - int(whole.sum())]] += 1
    return np.repeat(np.arange(len(counts)), whole).astype(np.int32)


def run_tasks(
    tasks: Sequence[EvalTask], context: EvalContext
) -> list[MetricResult]:
    """Every task's results, in task order."""
    results = []
    for task in tasks:
        results += task.run(context)
    return results
