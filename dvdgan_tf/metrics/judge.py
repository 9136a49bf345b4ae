"""The synthetic-data judge: a small 3-D conv classifier that scores generators.

docs/DESIGN.md M3, S1-S3. Published-scale metrics are out
of reach on a CPU, so the project measures whether the GAN *learns* on its
built-in synthetic dataset (`dvdgan_tf.data.synthetic`), where a class fixes
both an appearance and a motion, and motions come in time-reversed twins. A
judge trained on real synthetic clips reports, for clips generated for class
y:

- accuracy (appearance and motion right), appearance accuracy and motion
  accuracy; appearance and motion are read from the judge's joint
  distribution marginalised over the other factor;
- Frechet distance in the judge's feature space (the 4w-channel global
  average pool before the logits) between real and generated clips, with
  real vs independent real clips as the floor.

Controls that must pass before the numbers mean anything (computed on fresh
real clips with `measure_controls`): held-out accuracy near 1; time-reversed
clips scored against the original label near 0 and against
`synthetic.reversed_label` near 1 (the judge reads motion, not just single
frames); and a first frame repeated T times has motion accuracy near chance.

Architecture: three 3x3x3 ReLU convolutions (w, 2w, 4w channels; strides
1x2x2, 1x2x2, 2x2x2; SAME padding), global average pool, a dense layer to
the classes. No normalisation layers, so training and inference compute the
same function. Inputs are uint8 clips, rescaled inside the model to [-1, 1].
It is saved as a Keras `.keras` file plus `judge.json` (frames, size, class
names, training settings and the measured controls), which `load_judge`
checks against each other.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time

import keras
import numpy as np
import tensorflow as tf
from absl import logging

from dvdgan_tf.data import synthetic
from dvdgan_tf.metrics import frechet
from dvdgan_tf.util import errors

MODEL_FILE = "judge.keras"
SETTINGS_FILE = "judge.json"
FEATURES_LAYER = "features"
DATASET = "synthetic"


@dataclasses.dataclass(frozen=True)
class JudgeSettings:
    """Everything needed to rebuild, train and check a judge.

    Attributes:
        num_frames: T of the clips it takes.
        size: H = W of the clips it takes.
        width: channels of the first convolution (w).
        num_train_clips: real clips it is trained on.
        num_test_clips: held-out real clips the controls use.
        epochs: passes over the training clips.
        batch_size: clips per training step.
        learning_rate: Adam learning rate.
        seed: seeds the training clips, initialisation and shuffling; the
            held-out clips use `seed + 1`.
    """

    num_frames: int
    size: int
    width: int = 16
    num_train_clips: int = 2400
    num_test_clips: int = 600
    epochs: int = 6
    batch_size: int = 32
    learning_rate: float = 2e-3
    seed: int = 0

    def __post_init__(self):
        if self.num_frames < 2 or self.size < 8:
            raise ValueError(
                "The judge needs num_frames >= 2 and size >= 8; received: "
                f"num_frames={self.num_frames}, size={self.size}"
            )
        for name in (
            "width",
            "num_train_clips",
            "num_test_clips",
            "epochs",
            "batch_size",
        ):
            if getattr(self, name) < 1:
                raise errors.ConfigValueError(
                    f"Expected `{name}` >= 1; received: "
                    f"{name}={getattr(self, name)}"
                )


@dataclasses.dataclass(frozen=True)
class JudgeScores:
    """Judge accuracies on a set of clips and their intended labels."""

    accuracy: float
    appearance_accuracy: float
    motion_accuracy: float
    num_clips: int


@dataclasses.dataclass(frozen=True)
class JudgeControls:
    """The judge's own sanity checks on fresh real clips (module docstring)."""

    accuracy: float
    reversed_accuracy: float
    reversed_twin_accuracy: float
    static_motion_accuracy: float
    num_clips: int


def build_judge_model(
    num_frames: int, size: int, num_classes: int, width: int = 16, seed: int = 0
) -> keras.Model:
    """The judge network (module docstring), built.

    Args:
        num_frames: T.
        size: H = W.
        num_classes: N, the number of synthetic classes.
        width: w, channels of the first convolution.
        seed: initialisation seed.

    Returns:
        A functional keras.Model: float32 [B, T, size, size, 3] with values
        in [0, 255] -> float32 [B, N] logits. Its layer named "features"
        gives float32 [B, 4w].
    """
    initializer = keras.initializers.HeNormal
    clips = keras.Input((num_frames, size, size, 3), name="clips")
    x = keras.layers.Rescaling(1.0 / 127.5, offset=-1.0, name="to_unit")(clips)
    for index, (multiplier, strides) in enumerate(
        [(1, (1, 2, 2)), (2, (1, 2, 2)), (4, (2, 2, 2))]
    ):
        x = keras.layers.Conv3D(
            width * multiplier,
            3,
            strides=strides,
            padding="same",
            activation="relu",
            name=f"conv_{index}",
            kernel_initializer=initializer(seed=seed + index),
        )(x)
    features = keras.layers.GlobalAveragePooling3D(name=FEATURES_LAYER)(x)
    logits = keras.layers.Dense(
        num_classes,
        name="logits",
        kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 3),
    )(features)
    return keras.Model(clips, logits, name="judge")


def _factor_tables(num_classes):
    factors = np.array(
        [synthetic.class_factors(label) for label in range(num_classes)]
    )
    return factors[:, 0], factors[:, 1]


def _check_clips(videos, num_frames, size, where):
    videos = np.asarray(videos)
    expected = (num_frames, size, size, 3)
    if (
        videos.ndim != 5
        or videos.shape[1:] != expected
        or (videos.dtype != np.uint8)
    ):
        raise ValueError(
            f"{where} expects uint8 clips [N, {num_frames}, {size}, {size}, 3]"
            f" (the judge's frames and size); received: dtype={videos.dtype},"
            f" shape={videos.shape}"
        )
    return videos


class Judge:
    """A trained judge: the Keras model and its settings.

    Args:
        model: the network of `build_judge_model`.
        settings: the `JudgeSettings` it was built and trained with.
        class_names: names of its N output classes.
        controls: its measured `JudgeControls`, if known.
    """

    def __init__(
        self,
        model: keras.Model,
        settings: JudgeSettings,
        class_names,
        controls: JudgeControls | None = None,
    ):
        self.model = model
        self.settings = settings
        self.class_names = tuple(class_names)
        self.controls = controls
        self._appearance_of, self._motion_of = _factor_tables(
            len(self.class_names)
        )
        self._outputs = keras.Model(
            model.inputs, [model.output, model.get_layer(FEATURES_LAYER).output]
        )

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def predict(self, videos, batch_size: int = 64):
        """Class probabilities and features of uint8 clips.

        Args:
            videos: uint8 [M, T, size, size, 3].
            batch_size: clips per call.

        Returns:
            (float64 [M, N] probabilities, float64 [M, 4w] features).
        """
        videos = _check_clips(
            videos,
            self.settings.num_frames,
            self.settings.size,
            "Judge.predict",
        )
        probabilities, features = [], []
        for start in range(0, len(videos), batch_size):
            batch = tf.cast(videos[start : start + batch_size], tf.float32)
            logits, pooled = self._outputs(batch, training=False)
            probabilities.append(
                tf.nn.softmax(tf.cast(logits, tf.float64)).numpy()
            )
            features.append(np.asarray(pooled, np.float64))
        return np.concatenate(probabilities), np.concatenate(features)

    def score_probabilities(self, probabilities, labels) -> JudgeScores:
        """Accuracies of predicted distributions against intended labels.

        Args:
            probabilities: float [M, N] from `predict`.
            labels: int [M] intended classes.

        Returns:
            `JudgeScores`; appearance and motion are the argmax of the joint
            distribution summed over the other factor.
        """
        labels = np.asarray(labels).reshape(-1)
        probabilities = np.asarray(probabilities)
        if probabilities.shape != (labels.shape[0], self.num_classes):
            raise ValueError(
                f"Expected probabilities [{labels.shape[0]}, "
                f"{self.num_classes}] for {labels.shape[0]} labels; "
                f"received: shape={probabilities.shape}"
            )
        if labels.size and (
            labels.min() < 0 or labels.max() >= self.num_classes
        ):
            raise ValueError(
                f"Labels must lie in [0, {self.num_classes}); received "
                f"values in [{labels.min()}, {labels.max()}]"
            )
        appearance = np.stack(
            [
                probabilities[:, self._appearance_of == a].sum(axis=1)
                for a in range(self._appearance_of.max() + 1)
            ],
            axis=1,
        )
        motion = np.stack(
            [
                probabilities[:, self._motion_of == m].sum(axis=1)
                for m in range(self._motion_of.max() + 1)
            ],
            axis=1,
        )
        return JudgeScores(
            accuracy=float(np.mean(probabilities.argmax(1) == labels)),
            appearance_accuracy=float(
                np.mean(appearance.argmax(1) == self._appearance_of[labels])
            ),
            motion_accuracy=float(
                np.mean(motion.argmax(1) == self._motion_of[labels])
            ),
            num_clips=int(labels.shape[0]),
        )

    def score(self, videos, labels) -> JudgeScores:
        """Judge accuracies of uint8 clips [M, T, size, size, 3] vs labels."""
        probabilities, _ = self.predict(videos)
        return self.score_probabilities(probabilities, labels)

    def save(self, judge_dir: str) -> None:
        """Writes `judge.keras` and `judge.json` into `judge_dir`."""
        tf.io.gfile.makedirs(judge_dir)
        self.model.save(os.path.join(judge_dir, MODEL_FILE))
        record = {
            "dataset": DATASET,
            "class_names": list(self.class_names),
            "settings": dataclasses.asdict(self.settings),
            "controls": (
                dataclasses.asdict(self.controls) if self.controls else None
            ),
        }
        with tf.io.gfile.GFile(
            os.path.join(judge_dir, SETTINGS_FILE), "w"
        ) as f:
            json.dump(record, f, indent=2, sort_keys=True)


def load_judge(judge_dir: str) -> Judge:
    """Loads a judge written by `Judge.save` (or `tools/train_judge.py`).

    Raises:
        ValueError: a file is missing, or the model does not match the
            frames, size and classes recorded in judge.json.
    """
    model_path = os.path.join(judge_dir, MODEL_FILE)
    settings_path = os.path.join(judge_dir, SETTINGS_FILE)
    for path in (model_path, settings_path):
        if not tf.io.gfile.exists(path):
            raise ValueError(
                f"No judge in {judge_dir!r}: {path} is missing. Train one "
                "with `python tools/train_judge.py --judge_dir=...`."
            )
    with tf.io.gfile.GFile(settings_path) as f:
        record = json.load(f)
    settings = JudgeSettings(**record["settings"])
    model = keras.models.load_model(model_path)
    expected = (None, settings.num_frames, settings.size, settings.size, 3)
    if tuple(model.input_shape) != expected or (
        model.output_shape[-1] != len(record["class_names"])
    ):
        raise ValueError(
            f"{model_path} takes {model.input_shape} -> {model.output_shape}"
            f" but {settings_path} records input {expected} and "
            f"{len(record['class_names'])} classes; the two files do not "
            "belong together."
        )
    controls = record.get("controls")
    return Judge(
        model,
        settings,
        record["class_names"],
        JudgeControls(**controls) if controls else None,
    )


def measure_controls(judge: Judge, num_clips: int, seed: int) -> JudgeControls:
    """Held-out, time-reversed and static-clip checks on fresh real clips.

    Args:
        judge: the judge.
        num_clips: real clips to draw (balanced over classes).
        seed: clip seed; use one the judge was not trained on.

    Returns:
        `JudgeControls`.
    """
    videos, labels = synthetic.generate_clips(
        num_clips, judge.settings.num_frames, judge.settings.size, seed
    )
    backwards, twins = synthetic.time_reversed(videos, labels)
    probabilities, _ = judge.predict(videos)
    reversed_probabilities, _ = judge.predict(backwards)
    static = np.repeat(videos[:, :1], judge.settings.num_frames, axis=1)
    static_probabilities, _ = judge.predict(static)
    return JudgeControls(
        accuracy=judge.score_probabilities(probabilities, labels).accuracy,
        reversed_accuracy=judge.score_probabilities(
            reversed_probabilities, labels
        ).accuracy,
        reversed_twin_accuracy=judge.score_probabilities(
            reversed_probabilities, twins
        ).accuracy,
        static_motion_accuracy=judge.score_probabilities(
            static_probabilities, labels
        ).motion_accuracy,
        num_clips=int(num_clips),
    )


def train_judge(settings: JudgeSettings, verbose: int = 0) -> Judge:
    """Trains a judge on in-memory synthetic clips and measures its controls.

    Args:
        settings: what to train (frames, size, clip counts, schedule, seed).
        verbose: Keras `fit` verbosity.

    Returns:
        The trained `Judge`, with `controls` measured on `num_test_clips`
        held-out clips drawn with `settings.seed + 1`.
    """
    start = time.time()
    class_names = synthetic.class_names()
    videos, labels = synthetic.generate_clips(
        settings.num_train_clips,
        settings.num_frames,
        settings.size,
        settings.seed,
    )
    logging.info(
        "Judge: generated %d training clips %s in %.1fs",
        len(videos),
        videos.shape[1:],
        time.time() - start,
    )
    keras.utils.set_random_seed(settings.seed)
    model = build_judge_model(
        settings.num_frames,
        settings.size,
        len(class_names),
        settings.width,
        settings.seed,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    model.fit(
        videos.astype(np.float32),
        labels,
        epochs=settings.epochs,
        batch_size=settings.batch_size,
        shuffle=True,
        verbose=verbose,
    )
    judge = Judge(model, settings, class_names)
    judge.controls = measure_controls(
        judge, settings.num_test_clips, settings.seed + 1
    )
    logging.info(
        "Judge trained in %.1fs: %s", time.time() - start, judge.controls
    )
    return judge


@dataclasses.dataclass(frozen=True)
class JudgeRealStatistics:
    """Real-clip statistics in the judge's feature space (cacheable).

    Attributes:
        mu: float64 [D] mean of real features.
        sigma: float64 [D, D] covariance of real features.
        floor: Frechet distance between two independent real sets of the
            same size (what a perfect generator would score).
        num_clips: clips in each real set.
    """

    mu: np.ndarray
    sigma: np.ndarray
    floor: float
    num_clips: int


def real_statistics(
    judge: Judge, real_videos, other_real_videos
) -> JudgeRealStatistics:
    """Judge-feature statistics of real clips and the real-vs-real floor.

    Args:
        judge: the judge.
        real_videos: uint8 [M, T, size, size, 3] real clips.
        other_real_videos: uint8 [M, T, size, size, 3] independent real
            clips, for the floor.

    Returns:
        `JudgeRealStatistics` of `real_videos`.
    """
    _, features = judge.predict(real_videos)
    _, other_features = judge.predict(other_real_videos)
    mu, sigma = frechet.gaussian_statistics(features)
    other_mu, other_sigma = frechet.gaussian_statistics(other_features)
    return JudgeRealStatistics(
        mu=mu,
        sigma=sigma,
        floor=frechet.frechet_distance(mu, sigma, other_mu, other_sigma),
        num_clips=int(len(real_videos)),
    )
