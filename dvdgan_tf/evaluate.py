"""Evaluation job: metrics of a training run's checkpoints, as their own job.

    python -m dvdgan_tf.evaluate --model_dir=runs/demo --metrics=judge \\
        --judge_dir=runs/judge
    python -m dvdgan_tf.evaluate --model_dir=runs/k600_64 --metrics=fvd \\
        --real_file_pattern='data/k600/train-*.tfrecord'
    python -m dvdgan_tf.evaluate --model_dir=runs/ucf --metrics=is,fid \\
        --gin_file=my_c3d.gin --real_file_pattern=... --is_protocol=tganv2
    python -m dvdgan_tf.evaluate --model_dir=runs/demo --continuous \\
        --max_checkpoints=10 --timeout_secs=3600   # beside training

Evaluates the latest checkpoint (or `--step`), or with `--continuous` every
checkpoint as it appears (`tf.train.checkpoints_iterator`; ends after
`--max_checkpoints` or when no new checkpoint arrives for
`--timeout_secs`; steps that already have a results file are skipped, so a
restarted job resumes, and steps written while an evaluation ran are
evaluated next rather than skipped). The generator is the EMA one
(`checkpointing.load_generator(..., use_ema=True)`), sampled with
z ~ N(0, I) (the training prior, no truncation) from a stateless seed and,
for class-conditional models, labels spread evenly over the classes (judge)
or equal to the real clips' labels (FVD, IS/FID).

Metrics (`--metrics`, default `judge` on the synthetic dataset, else `fvd`):

- `fvd`: `dvdgan_tf.metrics.fvd` (I3D Kinetics-400 logits) under
  `FVDProtocol(--fvd_num_videos, --fvd_num_frames, stride=the model's frame
  stride)`; generated clips keep their first `--fvd_num_frames` frames.
- `judge`: `dvdgan_tf.metrics.judge` on the synthetic dataset: accuracy,
  appearance and motion accuracy of generated clips for the requested class,
  and the Frechet distance in the judge's feature space with its real-vs-real
  floor and the judge's own held-out accuracy as references.
- `is`, `fid`: with the classifier configured in gin
  (`classifier.build_video_classifier`, see `dvdgan_tf.metrics.classifier`);
  `--is_protocol` is `tganv2` (2048 x 10), `tgan` (10000 x 1) or `NxS`.

Real clips come from `--real_file_pattern` TFRecords through
`pipeline.make_dataset` in eval mode (centred window and crop, file order,
the model's resolution and frame stride), or for the synthetic dataset,
when no pattern is given, from `synthetic.generate_clips` with a fixed seed
(`REAL_SEED`; the judge draws 2N clips, N for the reference and N for the
real-vs-real floor): the
same distribution the dataset's files are drawn from. Real-side statistics
are cached in `--cache_dir` (default `model_dir/eval/cache`) as
`<dataset>-<res>px-fs<stride>-<source>-<protocol>[-<judge id>].npz`
(source: "rendered" or a hash of `--real_file_pattern`).

Outputs in `model_dir/eval` (or `--output_dir`): TensorBoard scalars tagged
`<metric>/<protocol>` and `results-<step>.json` with, per metric, its name,
protocol, N, seed, value and std (over `--num_runs` generated sets with
seeds `--seed`, `--seed` + 1, ...; null for one run).
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
import re
import time

import numpy as np
import tensorflow as tf
import tqdm
from absl import app
from absl import flags
from absl import logging

from dvdgan_tf import checkpointing
from dvdgan_tf import video_io
from dvdgan_tf.metrics import frechet

METRICS = ("fvd", "judge", "is", "fid")
SYNTHETIC = "synthetic"
EVAL_SUBDIR = "eval"
CACHE_SUBDIR = "cache"
RESULTS_TEMPLATE = "results-{step}.json"
# Seed of the real synthetic clips; far from the judge's training (0) and
# control (1) seeds, so the judge never saw them.
REAL_SEED = 1_000_003


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


@dataclasses.dataclass(frozen=True)
class EvalSettings:
    """What `evaluate_checkpoint` computes (one field per CLI flag).

    Attributes:
        metrics: subset of `METRICS`.
        seed: seed of the first generated set.
        num_runs: generated sets per metric (mean and std over them).
        batch_size: clips per generator call.
        use_ema: evaluate the EMA generator (the default) or the live one.
        judge_dir: directory of a judge from `tools/train_judge.py`.
        judge_num_clips: clips per run for the judge metrics.
        fvd_num_videos: N of the FVD protocol.
        fvd_num_frames: T of the FVD protocol; 0 = the model's T.
        is_protocol: "tganv2", "tgan" or "<samples>x<splits>".
        fid_num_videos: N of the classifier FID.
        real_file_pattern: TFRecords of real clips; empty for the synthetic
            dataset's generator.
        cache_dir: real-statistics cache; empty = `model_dir/eval/cache`.
        progress: show tqdm bars.
    """

    metrics: tuple[str, ...] = ("judge",)
    seed: int = 0
    num_runs: int = 1
    batch_size: int = 16
    use_ema: bool = True
    judge_dir: str = os.path.join("runs", "judge")
    judge_num_clips: int = 600
    fvd_num_videos: int = 2048
    fvd_num_frames: int = 0
    is_protocol: str = "tganv2"
    fid_num_videos: int = 2048
    real_file_pattern: str = ""
    cache_dir: str = ""
    progress: bool = True

    def __post_init__(self):
        unknown = sorted(set(self.metrics) - set(METRICS))
        if unknown or not self.metrics:
            raise ValueError(
                f"Unknown or no metrics {unknown or list(self.metrics)}; "
                f"choose from {list(METRICS)}; received: "
                f"metrics={list(self.metrics)}"
            )
        for name in (
            "num_runs",
            "batch_size",
            "judge_num_clips",
            "fvd_num_videos",
            "fid_num_videos",
        ):
            if getattr(self, name) < 1:
                raise ValueError(
                    f"Expected `{name}` >= 1; received: "
                    f"{name}={getattr(self, name)}"
                )
        if "is" in self.metrics:
            _inception_protocol(self.is_protocol)  # Fails early if malformed.


def _inception_protocol(spec: str):
    from dvdgan_tf.metrics import inception_score

    presets = {
        "tganv2": inception_score.TGANV2_PROTOCOL,
        "tgan": inception_score.TGAN_PROTOCOL,
    }
    if spec in presets:
        return presets[spec]
    match = re.fullmatch(r"(\d+)x(\d+)", spec)
    if not match:
        raise ValueError(
            "Expected `is_protocol` to be 'tganv2', 'tgan' or "
            f"'<samples>x<splits>' (e.g. '2048x10'); received: {spec!r}"
        )
    return inception_score.InceptionScoreProtocol(
        int(match.group(1)), int(match.group(2))
    )


# ----------------------------------------------------------------------------
# Clips.


@functools.lru_cache(maxsize=4)
def _sampler(generator):
    # One traced inference function per generator, reused across calls.
    return tf.function(
        lambda z, y: generator(z, y, training=False), reduce_retracing=True
    )


def _generation_labels(generator, num_videos, labels):
    if not int(generator.num_classes):
        return None
    labels = (
        np.arange(num_videos) % int(generator.num_classes)
        if labels is None
        else np.asarray(labels).reshape(-1)
    )
    if labels.shape[0] != num_videos:
        raise ValueError(
            f"Expected {num_videos} labels; received {labels.shape[0]}"
        )
    return labels.astype(np.int32)


def generate_batches(
    generator,
    num_videos: int,
    seed: int,
    labels=None,
    batch_size: int = 16,
    progress: bool = False,
):
    """Samples clips from a generator with z ~ N(0, I), batch by batch.

    Args:
        generator: a `Generator` (EMA weights restored).
        num_videos: M.
        seed: z of clip i is a function of (seed, i) only, independent of
            the batch size.
        labels: int [M] classes for a class-conditional generator; None
            spreads them evenly (i mod N). Ignored when N = 0.
        batch_size: clips per generator call.
        progress: show a tqdm bar.

    Yields:
        (uint8 [b, T, H, W, 3] clips, int32 [b] labels or None).
    """
    labels = _generation_labels(generator, num_videos, labels)
    sample = _sampler(generator)
    with tqdm.tqdm(
        total=num_videos, unit="clip", disable=not progress, desc="generating"
    ) as bar:
        for start in range(0, num_videos, batch_size):
            indices = np.arange(start, min(start + batch_size, num_videos))
            z = tf.stack(
                [
                    tf.random.stateless_normal(
                        [generator.latent_dim], seed=[seed, int(i)]
                    )
                    for i in indices
                ]
            )
            batch_labels = None if labels is None else labels[indices]
            video = sample(
                z, None if batch_labels is None else tf.constant(batch_labels)
            )
            bar.update(len(indices))
            yield video_io.to_uint8(video.numpy()), batch_labels


def generate_videos(
    generator,
    num_videos: int,
    seed: int,
    labels=None,
    batch_size: int = 16,
    progress: bool = False,
):
    """`generate_batches`, concatenated.

    Returns:
        (uint8 [M, T, H, W, 3] clips, int32 [M] labels or None).
    """
    batches = list(
        generate_batches(
            generator, num_videos, seed, labels, batch_size, progress
        )
    )
    videos = np.concatenate([video for video, _ in batches])
    if batches[0][1] is None:
        return videos, None
    return videos, np.concatenate([batch for _, batch in batches])


def is_synthetic(dataset) -> bool:
    """Whether a metadata `dataset` name is the built-in synthetic set.

    Converted data is named "<name>-s<size>-<fps>fps-q<quality>"
    (`data.convert.dataset_name`), e.g. "synthetic-s64-25fps-q90".
    """
    return str(dataset).split("-", 1)[0] == SYNTHETIC


def _synthetic_real_batches(
    num_clips, num_frames, stride, resolution, seed, batch_size
):
    from dvdgan_tf.data import synthetic

    # The clips of synthetic.generate_clips(num_clips, ..., seed), rendered
    # a batch at a time.
    span = (num_frames - 1) * stride + 1
    labels = synthetic.balanced_labels(num_clips, seed)
    for start in range(0, num_clips, batch_size):
        indices = range(start, min(start + batch_size, num_clips))
        videos = np.stack(
            [
                synthetic.render_clip(seed, i, int(labels[i]), span, resolution)
                for i in indices
            ]
        )
        yield videos[:, ::stride], labels[start : start + len(indices)]


def _record_batches(
    num_clips,
    num_frames,
    frame_stride,
    resolution,
    file_pattern,
    seed,
    batch_size,
):
    from dvdgan_tf.data import pipeline

    # Batches of one: eval mode reads the records in file order without
    # repeating, and a larger batch would drop the remainder.
    records = pipeline.make_dataset(
        None,
        file_pattern=file_pattern,
        global_batch_size=1,
        num_frames=num_frames,
        frame_stride=frame_stride,
        resolution=resolution,
        is_training=False,
        seed=seed,
        repeat=False,
    )
    videos, labels, count = [], [], 0
    for element in records:
        videos.append(video_io.to_uint8(element["video"].numpy()))
        labels.append(element["label"].numpy())
        count += 1
        if len(videos) == batch_size or count == num_clips:
            yield (
                np.concatenate(videos),
                np.concatenate(labels).astype(np.int32),
            )
            videos, labels = [], []
        if count == num_clips:
            return
    raise ValueError(
        f"Too few real clips for the protocol: {file_pattern!r} holds "
        f"{count} clips, the protocol needs {num_clips}. Lower the "
        "protocol's N (and say so) or use a larger split."
    )


def real_clip_batches(
    num_clips: int,
    num_frames: int,
    frame_stride: int,
    resolution: int,
    dataset: str,
    file_pattern: str = "",
    seed: int = REAL_SEED,
    batch_size: int = 16,
    progress: bool = False,
):
    """Real clips for the real side of a metric, as uint8 batches.

    Args:
        num_clips: clips needed.
        num_frames: T.
        frame_stride: step between stored frames of a clip.
        resolution: H = W (centre crop after a short-side resize).
        dataset: the model's dataset name (metadata).
        file_pattern: TFRecord glob; empty for the synthetic generator.
        seed: clip seed of the synthetic generator.
        batch_size: clips per yielded batch.
        progress: show a tqdm bar.

    Yields:
        (uint8 [b, T, H, W, 3], int32 [b]), `num_clips` clips in all.

    Raises:
        ValueError: no source for a non-synthetic dataset, or the records
            hold fewer than `num_clips` clips (raised when they run out).
    """
    if file_pattern:
        batches = _record_batches(
            num_clips,
            num_frames,
            frame_stride,
            resolution,
            file_pattern,
            seed,
            batch_size,
        )
    elif is_synthetic(dataset):
        batches = _synthetic_real_batches(
            num_clips, num_frames, frame_stride, resolution, seed, batch_size
        )
    else:
        raise ValueError(
            f"Real clips of dataset {dataset!r} come from its TFRecords: "
            "pass --real_file_pattern (e.g. 'data/<dataset>/"
            "train-*.tfrecord'). Only the synthetic dataset can be "
            "regenerated in memory."
        )
    with tqdm.tqdm(
        total=num_clips, unit="clip", disable=not progress, desc="real clips"
    ) as bar:
        for videos, labels in batches:
            bar.update(len(videos))
            yield videos, labels


def load_real_clips(
    num_clips: int,
    num_frames: int,
    frame_stride: int,
    resolution: int,
    dataset: str,
    file_pattern: str = "",
    seed: int = REAL_SEED,
    progress: bool = False,
):
    """`real_clip_batches`, concatenated.

    Returns:
        (uint8 [num_clips, T, H, W, 3], int32 [num_clips]).
    """
    batches = list(
        real_clip_batches(
            num_clips,
            num_frames,
            frame_stride,
            resolution,
            dataset,
            file_pattern,
            seed,
            progress=progress,
        )
    )
    return (
        np.concatenate([videos for videos, _ in batches]),
        np.concatenate([labels for _, labels in batches]),
    )


# ----------------------------------------------------------------------------
# Cache of real-side statistics.


def _cache_path(context, protocol, suffix=""):
    """Cache file of real statistics: everything they depend on is in it.

    `<dataset>-<res>px-fs<frame stride>-<source>-<protocol><suffix>.npz`,
    where source is "rendered" (synthetic clips made in memory) or a hash of
    the real file pattern (train and test splits must not share a cache).
    """
    pattern = context.settings.real_file_pattern
    source = (
        "rendered"
        if not pattern
        else "files" + hashlib.sha1(pattern.encode()).hexdigest()[:8]
    )
    name = (
        f"{context.dataset}-{context.resolution}px-"
        f"fs{context.frame_stride}-{source}-{protocol}{suffix}.npz"
    )
    return os.path.join(
        context.cache_dir, re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
    )


def _cached(path, compute):
    """Loads the arrays at `path`, or computes, saves and returns them."""
    # Through bytes: GFile (gs:// paths) is not seekable the way zipfile,
    # which np.savez/np.load use, needs.
    if tf.io.gfile.exists(path):
        with tf.io.gfile.GFile(path, "rb") as f:
            with np.load(io.BytesIO(f.read())) as data:
                logging.info("Real statistics from cache %s", path)
                return {key: data[key] for key in data.files}
    arrays = compute()
    tf.io.gfile.makedirs(os.path.dirname(path))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    tmp = f"{path}.tmp-{os.getpid()}"
    with tf.io.gfile.GFile(tmp, "wb") as f:
        f.write(buffer.getvalue())
    tf.io.gfile.rename(tmp, path, overwrite=True)
    logging.info("Cached real statistics in %s", path)
    return arrays


def _judge_id(judge_dir):
    digest = hashlib.sha1()
    for name in ("judge.keras", "judge.json"):
        with tf.io.gfile.GFile(os.path.join(judge_dir, name), "rb") as f:
            digest.update(f.read())
    return digest.hexdigest()[:10]


def _mean_std(values):
    values = np.asarray(values, np.float64)
    return float(values.mean()), (
        float(values.std()) if len(values) > 1 else None
    )


# ----------------------------------------------------------------------------
# Metrics.


@dataclasses.dataclass
class _Context:
    generator: object
    metadata: dict
    settings: EvalSettings
    cache_dir: str

    @property
    def dataset(self):
        return self.metadata.get("dataset", "unknown")

    @property
    def resolution(self):
        return int(self.generator.resolution)

    @property
    def num_frames(self):
        return int(self.generator.num_frames)

    @property
    def frame_stride(self):
        return int(self.metadata.get("frame_stride", 1))

    def real_clips(self, num_clips, num_frames, seed=REAL_SEED):
        return load_real_clips(
            num_clips,
            num_frames,
            self.frame_stride,
            self.resolution,
            self.dataset,
            self.settings.real_file_pattern,
            seed,
            self.settings.progress,
        )

    def real_batches(self, num_clips, num_frames, seed=REAL_SEED):
        return real_clip_batches(
            num_clips,
            num_frames,
            self.frame_stride,
            self.resolution,
            self.dataset,
            self.settings.real_file_pattern,
            seed,
            self.settings.batch_size,
            self.settings.progress,
        )

    def generate(self, num_videos, seed, labels=None):
        return generate_videos(
            self.generator,
            num_videos,
            seed,
            labels,
            self.settings.batch_size,
            self.settings.progress,
        )

    def generate_batches(self, num_videos, seed, labels=None, num_frames=None):
        """Generated uint8 batches, cut to their first `num_frames` frames."""
        for videos, _ in generate_batches(
            self.generator,
            num_videos,
            seed,
            labels,
            self.settings.batch_size,
            self.settings.progress,
        ):
            yield videos[:, :num_frames]

    def run_seeds(self):
        return [
            self.settings.seed + run for run in range(self.settings.num_runs)
        ]


def _judge_metrics(context: _Context):
    from dvdgan_tf.data import synthetic
    from dvdgan_tf.metrics import judge as judge_lib

    if not is_synthetic(context.dataset):
        raise ValueError(
            "The judge scores models trained on the synthetic dataset; this "
            f"model's dataset is {context.dataset!r}. Use --metrics=fvd."
        )
    judge = judge_lib.load_judge(context.settings.judge_dir)
    model_classes = tuple(context.metadata.get("class_names", ()))
    if tuple(judge.class_names) != tuple(synthetic.class_names()) or (
        model_classes != tuple(judge.class_names)
    ):
        raise ValueError(
            f"Class names differ: judge {list(judge.class_names)}, model "
            f"{list(model_classes)}, synthetic dataset "
            f"{list(synthetic.class_names())}. Retrain the judge with this "
            "version of the synthetic dataset (tools/train_judge.py)."
        )
    expected = (judge.settings.num_frames, judge.settings.size)
    if (context.num_frames, context.resolution) != expected:
        raise ValueError(
            f"The judge in {context.settings.judge_dir} takes {expected[0]} "
            f"frames of {expected[1]}x{expected[1]}; the model makes "
            f"{context.num_frames} frames of {context.resolution}x"
            f"{context.resolution}. Train a matching judge: python "
            f"tools/train_judge.py --num_frames={context.num_frames} "
            f"--size={context.resolution} --judge_dir=..."
        )
    if int(context.generator.num_classes) != len(judge.class_names):
        raise ValueError(
            f"The generator has {context.generator.num_classes} classes, the "
            f"judge {len(judge.class_names)}: the judge needs a "
            "class-conditional model of the synthetic dataset."
        )
    num_clips = context.settings.judge_num_clips
    protocol = f"judge{num_clips}"

    def compute_real():
        # 2N distinct real clips: the first N are the reference, the other N
        # give the real-vs-real floor.
        real, _ = context.real_clips(2 * num_clips, context.num_frames)
        statistics = judge_lib.real_statistics(
            judge, real[:num_clips], real[num_clips:]
        )
        return {
            "mu": statistics.mu,
            "sigma": statistics.sigma,
            "floor": np.float64(statistics.floor),
        }

    real = _cached(
        _cache_path(
            context, protocol, f"-{_judge_id(context.settings.judge_dir)}"
        ),
        compute_real,
    )
    runs = {
        "judge_accuracy": [],
        "judge_appearance_accuracy": [],
        "judge_motion_accuracy": [],
        "judge_frechet_distance": [],
    }
    for seed in context.run_seeds():
        videos, labels = context.generate(num_clips, seed)
        probabilities, features = judge.predict(videos)
        scores = judge.score_probabilities(probabilities, labels)
        runs["judge_accuracy"].append(scores.accuracy)
        runs["judge_appearance_accuracy"].append(scores.appearance_accuracy)
        runs["judge_motion_accuracy"].append(scores.motion_accuracy)
        mu, sigma = frechet.gaussian_statistics(features)
        runs["judge_frechet_distance"].append(
            frechet.frechet_distance(real["mu"], real["sigma"], mu, sigma)
        )
    results = [
        MetricResult(
            name, protocol, num_clips, context.settings.seed, *_mean_std(values)
        )
        for name, values in runs.items()
    ]
    results.append(
        MetricResult(
            "judge_frechet_floor",
            protocol,
            num_clips,
            REAL_SEED,
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


def _fvd_metrics(context: _Context):
    from dvdgan_tf.metrics import fvd

    num_frames = context.settings.fvd_num_frames or context.num_frames
    if num_frames > context.num_frames:
        raise ValueError(
            f"FVD over {num_frames} frames needs clips that long; the model "
            f"makes {context.num_frames} frames. Lower --fvd_num_frames."
        )
    if num_frames < 9:
        raise ValueError(
            f"I3D needs at least 9 frames (8x temporal reduction, then a "
            f"(2, 7, 7) VALID pool); received: num_frames={num_frames} (the "
            "model's clip length unless --fvd_num_frames is set). FVD cannot "
            "score this model; use --metrics=judge on the synthetic data."
        )
    protocol = fvd.FVDProtocol(
        num_videos=context.settings.fvd_num_videos,
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
        mu, sigma = frechet.gaussian_statistics(logits)
        return {"mu": mu, "sigma": sigma, "labels": np.concatenate(labels)}

    real = _cached(_cache_path(context, protocol.name), compute_real)
    values = []
    for seed in context.run_seeds():
        logits = fvd.i3d_logits_from_batches(
            context.generate_batches(
                protocol.num_videos, seed, real["labels"], num_frames
            )
        )
        mu, sigma = frechet.gaussian_statistics(logits)
        values.append(
            frechet.frechet_distance(real["mu"], real["sigma"], mu, sigma)
        )
    return [
        MetricResult(
            "fvd",
            protocol.name,
            protocol.num_videos,
            context.settings.seed,
            *_mean_std(values),
        )
    ]


def _classifier_metrics(context: _Context, classifier_settings):
    from dvdgan_tf.metrics import classifier as classifier_lib
    from dvdgan_tf.metrics import inception_score

    settings = context.settings
    loaded = classifier_lib.LoadedVideoClassifier(classifier_settings)
    num_frames = classifier_settings.num_frames or context.num_frames
    if num_frames > context.num_frames:
        raise ValueError(
            f"Classifier {classifier_settings.name!r} takes {num_frames} "
            f"frames; the model makes {context.num_frames}."
        )
    prefix = (
        f"{classifier_settings.name}_{classifier_settings.preprocessing.value}"
    )
    results = []
    if "is" in settings.metrics:
        if not classifier_settings.has_class_scores:
            raise ValueError(
                f"IS needs class scores: set logits_key or probabilities_key "
                f"of classifier {classifier_settings.name!r}."
            )
        protocol = _inception_protocol(settings.is_protocol)
        scores = []
        for seed in context.run_seeds():
            probabilities = np.concatenate(
                [
                    loaded.predict(videos)["probabilities"]
                    for videos in context.generate_batches(
                        protocol.num_samples, seed, num_frames=num_frames
                    )
                ]
            )
            scores.append(
                inception_score.inception_score(
                    probabilities, protocol.num_splits
                )
            )
        if len(scores) > 1:
            mean, std = _mean_std([score for score, _ in scores])
        else:
            # One run: the spread over splits (TGANv2's runs are splits).
            mean, std = scores[0]
            std = std if protocol.num_splits > 1 else None
        results.append(
            MetricResult(
                "is",
                f"is_{prefix}_{protocol.name.removeprefix('is')}",
                protocol.num_samples,
                settings.seed,
                mean,
                std,
            )
        )
    if "fid" in settings.metrics:
        if not classifier_settings.features_key:
            raise ValueError(
                "FID needs features: set features_key of classifier "
                f"{classifier_settings.name!r}."
            )
        num_videos = settings.fid_num_videos
        protocol = f"fid_{prefix}_{num_videos}_{num_frames}f"

        def compute_real():
            features, labels = [], []
            for videos, batch_labels in context.real_batches(
                num_videos, num_frames
            ):
                features.append(loaded.predict(videos)["features"])
                labels.append(batch_labels)
            mu, sigma = frechet.gaussian_statistics(np.concatenate(features))
            return {"mu": mu, "sigma": sigma, "labels": np.concatenate(labels)}

        real = _cached(_cache_path(context, protocol), compute_real)
        values = []
        for seed in context.run_seeds():
            features = np.concatenate(
                [
                    loaded.predict(videos)["features"]
                    for videos in context.generate_batches(
                        num_videos, seed, real["labels"], num_frames
                    )
                ]
            )
            mu, sigma = frechet.gaussian_statistics(features)
            values.append(
                frechet.frechet_distance(real["mu"], real["sigma"], mu, sigma)
            )
        results.append(
            MetricResult(
                "fid", protocol, num_videos, settings.seed, *_mean_std(values)
            )
        )
    return results


def evaluate_checkpoint(
    model_dir: str,
    step: int | None,
    settings: EvalSettings,
    classifier=None,
    output_dir: str = "",
):
    """Computes the metrics of one checkpoint and writes its results.

    Args:
        model_dir: a training directory.
        step: checkpoint step; None = the latest.
        settings: what to compute.
        classifier: a `classifier.VideoClassifier` for `is`/`fid`.
        output_dir: where results and scalars go; empty = model_dir/eval.

    Returns:
        (step, list of `MetricResult`).

    Raises:
        checkpointing.CheckpointError: no (such) checkpoint.
        ValueError: a metric cannot be computed for this model (the message
            says why and what to do).
    """
    output_dir = output_dir or os.path.join(model_dir, EVAL_SUBDIR)
    if ("is" in settings.metrics or "fid" in settings.metrics) and (
        classifier is None
    ):
        raise ValueError(
            "Metrics 'is'/'fid' need a classifier: configure "
            "classifier.build_video_classifier in a --gin_file."
        )
    start = time.time()
    generator, step, metadata = checkpointing.load_generator(
        model_dir, step, use_ema=settings.use_ema
    )
    context = _Context(
        generator,
        metadata,
        settings,
        settings.cache_dir or os.path.join(output_dir, CACHE_SUBDIR),
    )
    logging.info(
        "Evaluating step %d of %s (%s generator): %s",
        step,
        model_dir,
        "EMA" if settings.use_ema else "live",
        ", ".join(settings.metrics),
    )
    results = []
    if "judge" in settings.metrics:
        results += _judge_metrics(context)
    if "fvd" in settings.metrics:
        results += _fvd_metrics(context)
    if "is" in settings.metrics or "fid" in settings.metrics:
        results += _classifier_metrics(context, classifier)
    write_results(
        output_dir, step, model_dir, settings, results, time.time() - start
    )
    return step, results


def write_results(output_dir, step, model_dir, settings, results, seconds=None):
    """Writes TensorBoard scalars and `results-<step>.json` to `output_dir`."""
    tf.io.gfile.makedirs(output_dir)
    writer = tf.summary.create_file_writer(output_dir)
    with writer.as_default():
        for result in results:
            tf.summary.scalar(result.tag, result.value, step=step)
            if result.std is not None:
                tf.summary.scalar(result.tag + "_std", result.std, step=step)
    writer.flush()
    writer.close()
    record = {
        "step": int(step),
        "model_dir": model_dir,
        "generator": "ema" if settings.use_ema else "live",
        "num_runs": settings.num_runs,
        "seconds": None if seconds is None else round(seconds, 1),
        "metrics": [dataclasses.asdict(result) for result in results],
    }
    checkpointing.write_json_atomic(
        os.path.join(output_dir, RESULTS_TEMPLATE.format(step=step)), record
    )
    for result in results:
        std = "" if result.std is None else f" +- {result.std:.4g}"
        logging.info(
            "step %d  %-28s %-24s %.6g%s",
            step,
            result.name,
            result.protocol,
            result.value,
            std,
        )


def run(
    model_dir: str,
    settings: EvalSettings,
    step: int | None = None,
    continuous: bool = False,
    max_checkpoints: int | None = None,
    timeout_secs: float | None = None,
    classifier=None,
    output_dir: str = "",
):
    """Evaluates one checkpoint, or each new one with `continuous`.

    Args:
        model_dir: a training directory.
        settings: what to compute.
        step: the checkpoint to evaluate (not with `continuous`).
        continuous: wait for and evaluate every new checkpoint.
        max_checkpoints: stop after evaluating this many (continuous).
        timeout_secs: stop when no new checkpoint arrives for this long
            (continuous); None waits forever.
        classifier: see `evaluate_checkpoint`.
        output_dir: see `evaluate_checkpoint`.

    Returns:
        The evaluated steps.
    """
    if not continuous:
        evaluated, _ = evaluate_checkpoint(
            model_dir, step, settings, classifier, output_dir
        )
        return [evaluated]
    if step is not None:
        raise ValueError(
            "--step and --continuous exclude each other; "
            f"received: step={step}, continuous=True"
        )
    results_dir = output_dir or os.path.join(model_dir, EVAL_SUBDIR)
    steps = []
    # The iterator fires when the *latest* checkpoint changes; every step on
    # disk without a results file is then evaluated in order, so none is
    # skipped when evaluation is slower than training (unless the manager's
    # max_to_keep deleted it first).
    for _ in tf.train.checkpoints_iterator(
        checkpointing.checkpoint_dir(model_dir),
        min_interval_secs=1,
        timeout=timeout_secs,
    ):
        for found in checkpointing.list_checkpoint_steps(model_dir):
            if tf.io.gfile.exists(
                os.path.join(results_dir, RESULTS_TEMPLATE.format(step=found))
            ):
                continue
            try:
                evaluated, _ = evaluate_checkpoint(
                    model_dir, found, settings, classifier, output_dir
                )
            except checkpointing.CheckpointError as e:
                logging.warning("Skipping step %d: %s", found, e)
                continue
            steps.append(evaluated)
            if max_checkpoints is not None and len(steps) >= max_checkpoints:
                logging.info(
                    "Evaluated %d checkpoint(s): %s", len(steps), steps
                )
                return steps
    logging.info("Evaluated %d checkpoint(s): %s", len(steps), steps)
    return steps


# ----------------------------------------------------------------------------
# CLI.

FLAGS = flags.FLAGS


def define_flags() -> None:
    """Defines the CLI flags. Called under `__main__` only, so importing
    this module next to the other CLIs never defines a flag twice."""
    flags.DEFINE_string("model_dir", None, "Training directory.")
    flags.DEFINE_multi_string(
        "gin_file", [], "Gin files (the classifier for is/fid)."
    )
    flags.DEFINE_multi_string("gin_param", [], "Gin bindings.")
    flags.DEFINE_list(
        "metrics",
        None,
        f"Subset of {list(METRICS)}; default: judge on the "
        "synthetic dataset, fvd otherwise.",
    )
    flags.DEFINE_integer("step", None, "Checkpoint step; default latest.")
    flags.DEFINE_bool(
        "continuous", False, "Evaluate each new checkpoint as it appears."
    )
    flags.DEFINE_integer(
        "max_checkpoints", None, "With --continuous: stop after this many."
    )
    flags.DEFINE_float(
        "timeout_secs",
        None,
        "With --continuous: stop after this long without a new checkpoint.",
    )
    flags.DEFINE_bool("use_ema", True, "Use the EMA generator.")
    flags.DEFINE_integer("seed", 0, "Seed of the first generated set.")
    flags.DEFINE_integer(
        "num_runs", 1, "Generated sets per metric; reports mean and std."
    )
    flags.DEFINE_integer("batch_size", 16, "Clips per G call.")
    flags.DEFINE_string(
        "judge_dir", os.path.join("runs", "judge"), "Judge to use (judge)."
    )
    flags.DEFINE_integer(
        "judge_num_clips", 600, "Generated clips per run for the judge."
    )
    flags.DEFINE_integer("fvd_num_videos", 2048, "FVD N.")
    flags.DEFINE_integer(
        "fvd_num_frames", 0, "FVD T (>= 9); 0 = the model's clip length."
    )
    flags.DEFINE_string(
        "is_protocol", "tganv2", "tganv2 (2048x10), tgan (10000x1) or NxS."
    )
    flags.DEFINE_integer("fid_num_videos", 2048, "Classifier FID N.")
    flags.DEFINE_string(
        "real_file_pattern",
        "",
        "TFRecords of real clips; default for the "
        "synthetic dataset: regenerate it in memory.",
    )
    flags.DEFINE_string(
        "cache_dir", "", "Real-statistics cache; default model_dir/eval/cache."
    )
    flags.DEFINE_string(
        "output_dir", "", "Results and scalars; default model_dir/eval."
    )


def _classifier_from_gin(metrics):
    if "is" not in metrics and "fid" not in metrics:
        return None
    import gin
    from dvdgan_tf import configurables  # noqa: F401  (registrations)
    from dvdgan_tf.metrics import classifier as classifier_lib

    try:
        return gin.get_configurable(classifier_lib.build_video_classifier)()
    except TypeError as e:
        raise ValueError(
            "--metrics=is/fid need a classifier: bind at least "
            "classifier.build_video_classifier.{saved_model_dir, name, "
            "num_frames, height, width} and logits_key/features_key in a "
            f"--gin_file (see BUILD.md, 'IS / FID'). Gin said: {e}"
        ) from e


def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.model_dir:
        raise app.UsageError("--model_dir is required.")
    import gin
    from dvdgan_tf import configurables

    configurables.add_gin_search_path()
    gin.parse_config_files_and_bindings(
        FLAGS.gin_file, FLAGS.gin_param, finalize_config=False
    )
    metrics = FLAGS.metrics
    if not metrics:
        metadata = checkpointing.read_metadata(FLAGS.model_dir)
        metrics = (
            ["judge"] if is_synthetic(metadata.get("dataset")) else ["fvd"]
        )
    settings = EvalSettings(
        metrics=tuple(metrics),
        seed=FLAGS.seed,
        num_runs=FLAGS.num_runs,
        batch_size=FLAGS.batch_size,
        use_ema=FLAGS.use_ema,
        judge_dir=FLAGS.judge_dir,
        judge_num_clips=FLAGS.judge_num_clips,
        fvd_num_videos=FLAGS.fvd_num_videos,
        fvd_num_frames=FLAGS.fvd_num_frames,
        is_protocol=FLAGS.is_protocol,
        fid_num_videos=FLAGS.fid_num_videos,
        real_file_pattern=FLAGS.real_file_pattern,
        cache_dir=FLAGS.cache_dir,
    )
    classifier = _classifier_from_gin(settings.metrics)
    gin.finalize()
    run(
        FLAGS.model_dir,
        settings,
        step=FLAGS.step,
        continuous=FLAGS.continuous,
        max_checkpoints=FLAGS.max_checkpoints,
        timeout_secs=FLAGS.timeout_secs,
        classifier=classifier,
        output_dir=FLAGS.output_dir,
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
