"""A user-supplied video classifier SavedModel, for Inception Score and FID.

docs/DESIGN.md M2: the paper's UCF-101 IS uses a C3D fine-tuned on UCF-101
and its Kinetics-600 IS/FID an I3D trained on Kinetics-600. Neither set of
weights ships with any package, so the classifier is pluggable: a SavedModel
whose input convention (frames, size, value range, channel order and layout,
mean) and outputs (which signature output holds logits, probabilities or
features) are declared in gin through `build_video_classifier`, e.g.

    classifier.build_video_classifier.saved_model_dir = '/c3d_ucf101'
    classifier.build_video_classifier.name = 'c3d_ucf101'
    classifier.build_video_classifier.num_frames = 16
    classifier.build_video_classifier.height = 112
    classifier.build_video_classifier.width = 112
    classifier.build_video_classifier.channel_order = %ChannelOrder.BGR
    classifier.build_video_classifier.preprocessing = %Preprocessing.TGANV2
    classifier.build_video_classifier.logits_key = 'fc8'
    classifier.build_video_classifier.features_key = 'fc7'

plus `mean = (b, g, r)`, the per-channel mean the weights were trained with,
or `mean_path`, a .npy mean clip broadcastable to [T, h, w, 3] (TGANv2's C3D
subtracts a per-pixel mean clip on a 0-255 BGR scale).

**TGAN/TGANv2's C3D from its published files** (Table 2): instead of a
SavedModel, `c3d_weights` names the Chainer npz the TGAN authors publish
(``conv3d_deepnetA_ucf.npz``) and `c3d_mean` its mean clip (``mean2.npz``);
the network is then `metrics.c3d`'s Keras C3D with those weights, its
outputs "fc8" (logits), "fc7" (features) and "prob". `configs/
c3d_ucf101.gin` declares all of it with TGANv2's input convention.

Preprocessing variants (frames are resized one by one, time folded into the
batch, without antialiasing):

- `TGANV2` (pfnet-research/tgan2): bilinear resize straight to the input
  size (112x112 for C3D) with *corner-aligned* sampling, as Chainer's
  `F.resize_images` (called by TGANv2's C3D wrapper) does by default:
  `tf.compat.v1.image.resize_bilinear(align_corners=True)`.
- `TGAN` (pfnet-research/tgan, v1): bicubic resize to `pre_crop_size`
  (128x128 for C3D), then a centre crop to the input size (112x112), with
  TF2's `tf.image.resize` (half-pixel centres).
- `BILINEAR`: TF2's half-pixel bilinear resize straight to the input size,
  for classifiers trained that way (e.g. a Kinetics I3D at 224x224).

Known difference from TGANv2: it scores the generator's float output, here
clips are quantised to uint8 first (as stored video would be; at most 1/255
per pixel).

Values are mapped from uint8 [0, 255] to the declared range, the channels
reordered, then the per-channel `mean` (expressed in that range and channel
order) subtracted, in this order.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import io

import numpy as np
import tensorflow as tf
import tqdm

from dvdgan_tf.metrics import c3d


class Preprocessing(enum.Enum):
    """How uint8 frames are resized to the classifier's input size."""

    TGANV2 = "tganv2"
    TGAN = "tgan"
    BILINEAR = "bilinear"


class ValueRange(enum.Enum):
    """The pixel range the classifier expects, mapped from uint8 [0, 255]."""

    ZERO_TO_255 = "0_255"
    # TGANv2's C3D wrapper maps the generator's [-1, 1] with 128 x + 128.
    ZERO_TO_256 = "0_256"
    ZERO_TO_ONE = "0_1"
    MINUS_ONE_TO_ONE = "-1_1"


class ChannelOrder(enum.Enum):
    RGB = "rgb"
    BGR = "bgr"


class Layout(enum.Enum):
    """Axis order of the classifier's input tensor."""

    CHANNELS_LAST = "NTHWC"
    CHANNELS_FIRST = "NCTHW"


@dataclasses.dataclass(frozen=True)
class VideoClassifier:
    """What a classifier SavedModel expects and which outputs to read.

    Attributes:
        saved_model_dir: path of the SavedModel (local or gs://); empty
            when `c3d_weights` is set.
        name: short identifier used in metric names and cache keys.
        num_frames: T the classifier takes; 0 accepts any T.
        height: input height after preprocessing.
        width: input width after preprocessing.
        value_range: range uint8 pixels are mapped to.
        channel_order: RGB or BGR.
        layout: NTHWC (Keras) or NCTHW (Caffe/PyTorch C3D ports).
        mean: per-channel mean subtracted after range mapping and channel
            reordering; empty for none.
        mean_path: .npy file with a mean clip broadcastable to
            [T, height, width, 3] (in the classifier's range and channel
            order, channels-last), subtracted after `mean`; empty for none.
        preprocessing: resize rule, see the module docstring.
        pre_crop_size: square size frames are resized to before the centre
            crop of `Preprocessing.TGAN`.
        signature_key: the SavedModel signature to call.
        input_key: the signature's input name; empty when it has exactly one.
        logits_key: output holding pre-softmax class scores [N, classes].
        probabilities_key: output holding class probabilities (used when
            `logits_key` is empty).
        features_key: output holding the features FID is computed on.
        batch_size: clips per classifier call.
        c3d_weights: instead of a SavedModel, a Chainer npz of TGAN's C3D
            (`metrics.c3d`); its outputs are "fc7", "fc8" and "prob".
        c3d_mean: the C3D mean clip file (``mean2.npz``), subtracted after
            `mean` and `mean_path`.
    """

    saved_model_dir: str
    name: str
    num_frames: int
    height: int
    width: int
    value_range: ValueRange = ValueRange.ZERO_TO_255
    channel_order: ChannelOrder = ChannelOrder.RGB
    layout: Layout = Layout.CHANNELS_LAST
    mean: tuple[float, ...] = ()
    mean_path: str = ""
    preprocessing: Preprocessing = Preprocessing.TGANV2
    pre_crop_size: int = 128
    signature_key: str = "serving_default"
    input_key: str = ""
    logits_key: str = ""
    probabilities_key: str = ""
    features_key: str = ""
    batch_size: int = 16
    c3d_weights: str = ""
    c3d_mean: str = ""

    def __post_init__(self):
        if not self.saved_model_dir and not self.c3d_weights:
            raise ValueError(
                "`saved_model_dir` must name a SavedModel (or `c3d_weights` "
                "a C3D npz); received neither."
            )
        if self.saved_model_dir and self.c3d_weights:
            raise ValueError(
                "Give either `saved_model_dir` or `c3d_weights`, not both; "
                f"received saved_model_dir={self.saved_model_dir!r}, "
                f"c3d_weights={self.c3d_weights!r}."
            )
        if not self.name or "/" in self.name or " " in self.name:
            raise ValueError(
                "`name` must be a non-empty identifier without '/' or spaces "
                f"(it goes into metric names); received: name={self.name!r}"
            )
        if self.num_frames < 0 or self.height < 1 or self.width < 1:
            raise ValueError(
                "Expected num_frames >= 0 and height, width >= 1; received: "
                f"num_frames={self.num_frames}, height={self.height}, "
                f"width={self.width}"
            )
        if self.mean and len(self.mean) != 3:
            raise ValueError(
                "`mean` must hold one value per channel (3) or be empty; "
                f"received: mean={self.mean!r}"
            )
        if self.preprocessing is Preprocessing.TGAN and (
            self.pre_crop_size < max(self.height, self.width)
        ):
            raise ValueError(
                "`pre_crop_size` must be at least the crop size for TGAN "
                f"preprocessing; received: pre_crop_size={self.pre_crop_size}"
                f", height={self.height}, width={self.width}"
            )
        if self.batch_size < 1:
            raise ValueError(
                f"`batch_size` must be >= 1; received: {self.batch_size}"
            )

    @property
    def has_class_scores(self) -> bool:
        return bool(self.logits_key or self.probabilities_key)


def build_video_classifier(
    *,
    saved_model_dir: str = "",
    name: str,
    num_frames: int,
    height: int,
    width: int,
    value_range: ValueRange = ValueRange.ZERO_TO_255,
    channel_order: ChannelOrder = ChannelOrder.RGB,
    layout: Layout = Layout.CHANNELS_LAST,
    mean: tuple[float, ...] = (),
    mean_path: str = "",
    preprocessing: Preprocessing = Preprocessing.TGANV2,
    pre_crop_size: int = 128,
    signature_key: str = "serving_default",
    input_key: str = "",
    logits_key: str = "",
    probabilities_key: str = "",
    features_key: str = "",
    batch_size: int = 16,
    c3d_weights: str = "",
    c3d_mean: str = "",
) -> VideoClassifier:
    """Gin-configurable builder of a `VideoClassifier` (see its attributes).

    Enum arguments also accept their string values ("bgr", "tgan", ...), so
    they can be given on the command line with `--gin_param`.
    """
    return VideoClassifier(
        saved_model_dir=saved_model_dir,
        name=name,
        num_frames=int(num_frames),
        height=int(height),
        width=int(width),
        value_range=ValueRange(value_range),
        channel_order=ChannelOrder(channel_order),
        layout=Layout(layout),
        mean=tuple(float(m) for m in mean),
        mean_path=mean_path,
        preprocessing=Preprocessing(preprocessing),
        pre_crop_size=int(pre_crop_size),
        signature_key=signature_key,
        input_key=input_key,
        logits_key=logits_key,
        probabilities_key=probabilities_key,
        features_key=features_key,
        batch_size=int(batch_size),
        c3d_weights=c3d_weights,
        c3d_mean=c3d_mean,
    )


def _check_videos(videos, where):
    videos = np.asarray(videos)
    if videos.ndim != 5 or videos.shape[-1] != 3 or videos.dtype != np.uint8:
        raise ValueError(
            f"{where} expects uint8 videos [N, T, H, W, 3]; received: "
            f"dtype={videos.dtype}, shape={videos.shape}. Convert generator "
            "output in [-1, 1] with `dvdgan_tf.util.pixels.to_uint8` "
            "first."
        )
    return videos


def resize_videos(videos, height, width, preprocessing, pre_crop_size=128):
    """Resizes uint8 videos frame by frame to the classifier's input size.

    Args:
        videos: uint8 [N, T, H, W, 3].
        height: output height.
        width: output width.
        preprocessing: a `Preprocessing` (or its string value).
        pre_crop_size: square size before the centre crop (TGAN only).

    Returns:
        float32 [N, T, height, width, 3], values in [0, 255] (bicubic can
        overshoot slightly; the result is clipped to [0, 255]).
    """
    videos = _check_videos(videos, "resize_videos")
    preprocessing = Preprocessing(preprocessing)
    num, frames = videos.shape[:2]
    images = tf.reshape(
        tf.cast(videos, tf.float32), [num * frames, *videos.shape[2:]]
    )
    if preprocessing is Preprocessing.TGANV2:
        images = tf.compat.v1.image.resize_bilinear(
            images, [height, width], align_corners=True
        )
    elif preprocessing is Preprocessing.BILINEAR:
        images = tf.image.resize(images, [height, width], method="bilinear")
    else:
        images = tf.image.resize(
            images, [pre_crop_size, pre_crop_size], method="bicubic"
        )
        top = (pre_crop_size - height) // 2
        left = (pre_crop_size - width) // 2
        images = images[:, top : top + height, left : left + width, :]
    images = tf.clip_by_value(images, 0.0, 255.0)
    return tf.reshape(images, [num, frames, height, width, 3]).numpy()


@functools.lru_cache(maxsize=4)
def _read_mean_clip(path):
    with tf.io.gfile.GFile(path, "rb") as f:
        return np.load(io.BytesIO(f.read())).astype(np.float32)


def _load_mean_clip(path, clip_shape):
    mean = _read_mean_clip(path)
    try:
        np.broadcast_shapes(mean.shape, clip_shape)
    except ValueError:
        raise ValueError(
            f"The mean clip {path} of shape {mean.shape} does not broadcast "
            f"to the classifier input [T, h, w, 3] = {tuple(clip_shape)}."
        ) from None
    return mean


@functools.lru_cache(maxsize=2)
def _c3d_mean_clip(path):
    return c3d.read_mean_clip(path)


def prepare_input(videos, classifier: VideoClassifier):
    """Turns uint8 videos into the tensor a classifier's signature takes.

    Args:
        videos: uint8 [N, T, H, W, 3].
        classifier: the classifier's `VideoClassifier` settings.

    Returns:
        float32 [N, T, h, w, 3] (or [N, 3, T, h, w] for NCTHW) in the
        classifier's value range, channel order and mean.

    Raises:
        ValueError: if T differs from `classifier.num_frames` (when set).
    """
    videos = _check_videos(videos, "prepare_input")
    if classifier.num_frames and videos.shape[1] != classifier.num_frames:
        raise ValueError(
            f"Classifier {classifier.name!r} takes {classifier.num_frames} "
            f"frames; received videos of shape {videos.shape} "
            f"(T={videos.shape[1]}). Generate/evaluate clips of "
            f"{classifier.num_frames} frames."
        )
    x = resize_videos(
        videos,
        classifier.height,
        classifier.width,
        classifier.preprocessing,
        classifier.pre_crop_size,
    )
    if classifier.value_range is ValueRange.ZERO_TO_256:
        x = x * (256.0 / 255.0)
    elif classifier.value_range is ValueRange.ZERO_TO_ONE:
        x = x / 255.0
    elif classifier.value_range is ValueRange.MINUS_ONE_TO_ONE:
        x = x * (2.0 / 255.0) - 1.0
    if classifier.channel_order is ChannelOrder.BGR:
        x = x[..., ::-1]
    if classifier.mean:
        x = x - np.asarray(classifier.mean, np.float32)
    if classifier.mean_path:
        x = x - _load_mean_clip(classifier.mean_path, x.shape[1:])
    if classifier.c3d_mean:
        x = x - _c3d_mean_clip(classifier.c3d_mean)
    if classifier.layout is Layout.CHANNELS_FIRST:
        x = np.transpose(x, (0, 4, 1, 2, 3))
    return np.ascontiguousarray(x, dtype=np.float32)


class LoadedVideoClassifier:
    """A `VideoClassifier` with its SavedModel signature loaded.

    Args:
        classifier: the settings.

    Raises:
        ValueError: the SavedModel, signature, input or an output key named
            in the settings does not exist (the message lists what does).
    """

    def __init__(self, classifier: VideoClassifier):
        self.classifier = classifier
        if classifier.c3d_weights:
            self._load_c3d(classifier)
        else:
            self._load_saved_model(classifier)
        outputs = sorted(self._output_keys)
        for field in ("logits_key", "probabilities_key", "features_key"):
            key = getattr(classifier, field)
            if key and key not in outputs:
                raise ValueError(
                    f"`{field}`={key!r} is not an output of "
                    f"{self._described}; its outputs: {outputs}"
                )

    def _load_c3d(self, classifier):
        if not tf.io.gfile.exists(classifier.c3d_weights):
            raise ValueError(
                f"C3D weights not found: c3d_weights="
                f"{classifier.c3d_weights!r} (TGAN's conv3d_deepnetA_ucf.npz;"
                " docs/EVALUATION.md)"
            )
        model = c3d.c3d_from_chainer_npz(classifier.c3d_weights)
        self._function = tf.function(
            lambda video: model(video, training=False), reduce_retracing=True
        )
        self._input_key = "video"
        self._output_keys = list(model.output)
        self._described = f"the C3D of {classifier.c3d_weights}"

    def _load_saved_model(self, classifier):
        if not tf.io.gfile.exists(classifier.saved_model_dir):
            raise ValueError(
                f"Classifier SavedModel not found: saved_model_dir="
                f"{classifier.saved_model_dir!r}"
            )
        self._module = tf.saved_model.load(classifier.saved_model_dir)
        signatures = dict(self._module.signatures)
        if classifier.signature_key not in signatures:
            raise ValueError(
                f"SavedModel {classifier.saved_model_dir} has no signature "
                f"{classifier.signature_key!r}; available: "
                f"{sorted(signatures)}"
            )
        self._function = signatures[classifier.signature_key]
        inputs = sorted(self._function.structured_input_signature[1])
        if classifier.input_key:
            if classifier.input_key not in inputs:
                raise ValueError(
                    f"Signature {classifier.signature_key!r} has no input "
                    f"{classifier.input_key!r}; its inputs: {inputs}"
                )
            self._input_key = classifier.input_key
        elif len(inputs) == 1:
            self._input_key = inputs[0]
        else:
            raise ValueError(
                f"Signature {classifier.signature_key!r} has inputs {inputs}; "
                "set `input_key` to the video input."
            )
        self._output_keys = list(self._function.structured_outputs)
        self._described = f"signature {classifier.signature_key!r}"

    def predict(self, videos, progress: bool = False):
        """Runs the classifier over uint8 videos in batches.

        Args:
            videos: uint8 [M, T, H, W, 3].
            progress: show a tqdm bar over clips.

        Returns:
            dict with float64 arrays: "probabilities" [M, classes] when the
            classifier declares logits or probabilities, "features" [M, D]
            when it declares features.
        """
        videos = _check_videos(videos, "LoadedVideoClassifier.predict")
        settings = self.classifier
        collected = {"probabilities": [], "features": []}
        bar = tqdm.tqdm(
            total=len(videos),
            unit="clip",
            disable=not progress,
            desc=f"classifier {settings.name}",
        )
        for start in range(0, len(videos), settings.batch_size):
            batch = prepare_input(
                videos[start : start + settings.batch_size], settings
            )
            outputs = self._function(**{self._input_key: tf.constant(batch)})
            if settings.logits_key:
                logits = tf.cast(outputs[settings.logits_key], tf.float64)
                collected["probabilities"].append(
                    tf.nn.softmax(logits, axis=-1).numpy()
                )
            elif settings.probabilities_key:
                collected["probabilities"].append(
                    np.asarray(outputs[settings.probabilities_key], np.float64)
                )
            if settings.features_key:
                features = np.asarray(
                    outputs[settings.features_key], np.float64
                )
                collected["features"].append(
                    features.reshape(features.shape[0], -1)
                )
            bar.update(len(batch))
        bar.close()
        return {
            key: np.concatenate(value, axis=0)
            for key, value in collected.items()
            if value
        }
