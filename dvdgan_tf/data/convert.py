"""Dataset conversion: sources -> clips -> sharded TFRecords + manifest.

One `convert_*` function per dataset, each a thin composition of
`sources.list_*` (what to convert), a clip loader (how one input becomes a
`records.Clip`: PyAV decode at a fixed fps and storage size, the BAIR record
parser, or the synthetic renderer) and `writer.write_split` (sharded, atomic,
resumable). `tools/make_tfrecords.py` is the command line over these.

Inputs that cannot be used are never fatal: missing files, undecodable,
truncated, zero-frame and too-short videos are skipped, counted and listed in
the manifest with the reason. A missing input path or an empty class set is
an error.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
from typing import Any
from typing import Callable

import numpy as np
import tensorflow as tf
from absl import logging
from PIL import Image

from dvdgan_tf.data import decode
from dvdgan_tf.data import manifest as manifest_lib
from dvdgan_tf.data import records
from dvdgan_tf.data import sources as sources_lib
from dvdgan_tf.data import synthetic
from dvdgan_tf.data import writer

SYNTHETIC_FPS = 25.0
BAIR_FPS = 10.0  # nominal; BAIR frames are stored as recorded, not resampled
BAIR_SIZE = 64
BAIR_CAMERAS = ("image_aux1", "image_main")
APPEARANCE_INDEX_KEY = "clip/appearance/index"
MOTION_INDEX_KEY = "clip/motion/index"
BAIR_ACTION_KEY = "robot/action"
BAIR_ENDEFFECTOR_KEY = "robot/endeffector_pos"


@dataclasses.dataclass(frozen=True)
class ConvertOptions:
    """Options shared by every converter.

    Attributes:
        fps: stored frame rate (video sources are resampled to it).
        size: short side of the stored frames in pixels.
        jpeg_quality: JPEG quality of the stored frames.
        min_frames: videos with fewer stored frames are skipped.
        max_frames: keep at most this many frames per clip (None: all).
        num_shards: shards per split; None targets `shard_size_mb`.
        shard_size_mb: target shard size.
        seed: shuffles clips before sharding.
        num_workers: parallel worker processes.
        progress: show progress bars.
        keep_truncated: keep the frames that decode from a video that breaks
            off (skipped as "truncated" by default); the clip still needs
            `min_frames` frames.
        clip_frames: cut each video into clips of this many stored frames
            (None: one clip per video, the whole video up to `max_frames`).
            A video with fewer frames (but >= `min_frames`) becomes one
            shorter clip, noted as "short" in the manifest.
        clip_stride: frames between the starts of consecutive clips
            (None: `clip_frames`, i.e. back to back, no overlap).
        max_clips_per_video: keep at most this many clips of a video (the
            first ones; None: all).
        should_stop: polled between shards (e.g.
            `util.preemption.StopRequest`); when it returns True the
            conversion stops with `ConversionInterrupted` and keeps the
            finished shards.
    """

    fps: float = 25.0
    size: int = 128
    jpeg_quality: int = records.DEFAULT_JPEG_QUALITY
    min_frames: int = 16
    max_frames: int | None = None
    num_shards: int | None = None
    shard_size_mb: float = 200.0
    seed: int = 0
    num_workers: int = 1
    progress: bool = True
    keep_truncated: bool = False
    clip_frames: int | None = None
    clip_stride: int | None = None
    max_clips_per_video: int | None = None
    should_stop: Callable[[], bool] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )

    def __post_init__(self):
        if self.fps <= 0:
            raise ValueError(f"Expected fps > 0; received: fps={self.fps}")
        if self.size < 1:
            raise ValueError(f"Expected size >= 1; received: size={self.size}")
        if not 1 <= self.jpeg_quality <= 100:
            raise ValueError(
                "Expected jpeg_quality in [1, 100]; received: "
                f"jpeg_quality={self.jpeg_quality}"
            )
        if self.min_frames < 1:
            raise ValueError(
                f"Expected min_frames >= 1; received: {self.min_frames}"
            )
        if self.max_frames is not None and self.max_frames < self.min_frames:
            raise ValueError(
                f"Expected max_frames >= min_frames={self.min_frames}; "
                f"received: max_frames={self.max_frames}"
            )
        for name in ("clip_frames", "clip_stride", "max_clips_per_video"):
            value = getattr(self, name)
            if value is not None and value < 1:
                raise ValueError(
                    f"Expected {name} >= 1; received: {name}={value}"
                )
        if self.clip_frames is None and (
            self.clip_stride is not None or self.max_clips_per_video is not None
        ):
            raise ValueError(
                "clip_stride and max_clips_per_video cut videos into clips: "
                "give clip_frames too; received: clip_frames=None"
            )
        if self.clip_frames is not None and self.clip_frames < self.min_frames:
            raise ValueError(
                f"Expected clip_frames >= min_frames={self.min_frames}; "
                f"received: clip_frames={self.clip_frames}"
            )
        if self.num_shards is not None and self.num_shards < 1:
            raise ValueError(
                f"Expected num_shards >= 1; received: {self.num_shards}"
            )


@dataclasses.dataclass(frozen=True)
class VideoClipLoader:
    """Decodes a `sources.VideoSource` into its clips (picklable for
    workers): the whole video as one clip, or with `clip_frames` windows of
    that many frames every `clip_stride` frames (at most
    `max_clips_per_video`). Besides the clips it returns `writer.ClipNote`s:
    "upsampled" when the source is smaller than `size` (stored frames are
    enlarged, so blurrier than the size says) and "short" when a video has
    fewer than `clip_frames` frames (kept as one clip that training loops
    or skips, `short_clip_policy`)."""

    fps: float
    size: int
    min_frames: int
    max_frames: int | None
    keep_truncated: bool = False
    clip_frames: int | None = None
    clip_stride: int | None = None
    max_clips_per_video: int | None = None

    def _decode_frames(self) -> int | None:
        """Frames to decode at most: enough for the clips kept."""
        if self.clip_frames is None or self.max_clips_per_video is None:
            return self.max_frames
        stride = self.clip_stride or self.clip_frames
        needed = (self.max_clips_per_video - 1) * stride + self.clip_frames
        return (
            needed if self.max_frames is None else min(needed, self.max_frames)
        )

    def __call__(self, source: sources_lib.VideoSource) -> list:
        try:
            video = decode.decode_video(
                source.path,
                fps=self.fps,
                short_side=self.size,
                start_seconds=source.start_seconds,
                end_seconds=source.end_seconds,
                max_frames=self._decode_frames(),
                keep_truncated=self.keep_truncated,
            )
        except FileNotFoundError as e:
            raise writer.ClipSkipped(f"missing: {e}") from e
        except decode.DecodeFailure as e:
            raise writer.ClipSkipped(str(e)) from e
        num_frames = video.frames.shape[0]
        if num_frames < self.min_frames:
            raise writer.ClipSkipped(
                f"too_short: {num_frames} frames at {self.fps:g} fps < "
                f"min_frames={self.min_frames}"
            )
        notes = []
        short_side = min(video.source_shape)
        if 0 < short_side < self.size:
            notes.append(
                writer.ClipNote(
                    f"upsampled: source short side {short_side} px < "
                    f"size {self.size}"
                )
            )
        windows = [(0, num_frames)]
        if self.clip_frames is not None:
            if num_frames < self.clip_frames:
                notes.append(
                    writer.ClipNote(
                        f"short: {num_frames} frames < clip_frames="
                        f"{self.clip_frames} (one shorter clip)"
                    )
                )
            else:
                stride = self.clip_stride or self.clip_frames
                starts = range(0, num_frames - self.clip_frames + 1, stride)
                windows = [(s, s + self.clip_frames) for s in starts]
                windows = windows[: self.max_clips_per_video]
        clips = [
            records.Clip(
                frames=video.frames[start:end],
                label=source.label,
                label_name=source.label_name,
                # One example per clip; media_id names the video it came
                # from (every clip of a video lands in the same split).
                example_id=(
                    source.key
                    if self.clip_frames is None
                    else f"{source.key}#{index:04d}"
                ),
                media_id=source.media_id,
                fps=video.fps,
                timestamps_us=video.timestamps_us[start:end],
            )
            for index, (start, end) in enumerate(windows)
        ]
        return clips + notes


@dataclasses.dataclass(frozen=True)
class SyntheticSource:
    """Clip `index` of the synthetic set drawn with `seed`."""

    key: str
    seed: int
    index: int
    label: int
    num_frames: int
    size: int


def load_synthetic_clip(source: SyntheticSource) -> records.Clip:
    """Renders one synthetic clip (module-level: picklable for workers)."""
    appearance, motion = synthetic.class_factors(source.label)
    return records.Clip(
        frames=synthetic.render_clip(
            source.seed,
            source.index,
            source.label,
            source.num_frames,
            source.size,
        ),
        label=source.label,
        label_name=synthetic.CLASS_NAMES[source.label],
        example_id=source.key,
        media_id=source.key,
        fps=SYNTHETIC_FPS,
        int_context={
            APPEARANCE_INDEX_KEY: appearance,
            MOTION_INDEX_KEY: motion,
        },
    )


def _bair_frame(data: bytes, key: str) -> np.ndarray:
    if len(data) == BAIR_SIZE * BAIR_SIZE * 3:
        return np.frombuffer(data, np.uint8).reshape(BAIR_SIZE, BAIR_SIZE, 3)
    # Some re-packaged copies store encoded PNG/JPEG instead of raw bytes.
    try:
        return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))
    except OSError as e:
        raise ValueError(
            f"{key}: {len(data)} bytes are neither raw 64x64x3 uint8 nor an "
            "image file"
        ) from e


@dataclasses.dataclass(frozen=True)
class BairClipLoader:
    """Parses every trajectory of one BAIR TFRecord file into clips.

    Reads the original layout: everything in the (Sequence)Example
    context/features, keyed per time step: `{t}/<camera>/encoded` raw
    64x64x3 uint8 bytes, `{t}/action` float[4], `{t}/endeffector_pos`
    float[3]. (A tf.train.Example parses as a SequenceExample whose context
    is the Example's features, so both containers work.)
    """

    camera: str
    min_frames: int

    def __call__(self, source: sources_lib.BairSource) -> list:
        results = []
        try:
            for index, serialized in enumerate(
                tf.data.TFRecordDataset(source.path).as_numpy_iterator()
            ):
                name = f"{source.key}#{index}"
                try:
                    results.append(self._parse(serialized, name))
                except (ValueError, KeyError) as e:
                    results.append(
                        writer.ClipSkipped(f"undecodable: {e}", input_name=name)
                    )
        except tf.errors.OpError as e:
            if not results:
                raise writer.ClipSkipped(f"undecodable: {e.message}") from e
            results.append(
                writer.ClipSkipped(
                    f"truncated: read error after {len(results)} records "
                    f"({e.message})",
                    input_name=f"{source.key}#{len(results)}",
                )
            )
        if not results:
            raise writer.ClipSkipped("zero_frames: the file holds no records")
        return results

    def _parse(self, serialized: bytes, name: str):
        features = tf.train.SequenceExample.FromString(
            serialized
        ).context.feature
        frames, actions, positions = [], [], []
        t = 0
        while f"{t}/{self.camera}/encoded" in features:
            key = f"{t}/{self.camera}/encoded"
            frames.append(_bair_frame(features[key].bytes_list.value[0], key))
            if f"{t}/action" in features:
                actions.append(list(features[f"{t}/action"].float_list.value))
            if f"{t}/endeffector_pos" in features:
                positions.append(
                    list(features[f"{t}/endeffector_pos"].float_list.value)
                )
            t += 1
        if not frames:
            cameras = sorted(
                {k.split("/")[1] for k in features if k.count("/") == 2}
            )
            raise ValueError(
                f"no '0/{self.camera}/encoded' key (cameras: {cameras})"
            )
        if len(frames) < self.min_frames:
            return writer.ClipSkipped(
                f"too_short: {len(frames)} frames < min_frames="
                f"{self.min_frames}",
                input_name=name,
            )
        float_features = {}
        if len(actions) == len(frames):
            float_features[BAIR_ACTION_KEY] = np.asarray(actions, np.float32)
        if len(positions) == len(frames):
            float_features[BAIR_ENDEFFECTOR_KEY] = np.asarray(
                positions, np.float32
            )
        return records.Clip(
            frames=np.stack(frames),
            label=0,
            label_name="robot_pushing",
            example_id=name,
            media_id=name,
            fps=BAIR_FPS,
            float_features=float_features,
        )


def dataset_name(name: str, size: int, fps: float, jpeg_quality: int) -> str:
    """e.g. "ucf101-s128-25fps-q90"."""
    return f"{name}-s{size}-{fps:g}fps-q{jpeg_quality}"


def convert_sources(
    sources: sources_lib.Sources,
    output_dir: str,
    *,
    name: str,
    load_clip: Callable[[Any], Any],
    options: ConvertOptions,
    storage_size: int,
    fps: float,
    source_description: dict[str, str],
) -> manifest_lib.Manifest:
    """Writes every split of `sources` and the manifest; resumable.

    Returns:
        The manifest written to `<output_dir>/manifest.json`.

    Raises:
        ValueError: no split has any usable input, or the output dir holds a
            different conversion.
    """
    if not sources.class_names:
        raise ValueError(f"{name}: the class set is empty.")
    splits = {k: v for k, v in sources.splits.items() if v}
    if not splits:
        raise ValueError(
            f"{name}: no usable inputs in any split "
            f"({len(sources.unusable)} unusable, e.g. "
            f"{[s.input + ': ' + s.reason for s in sources.unusable[:3]]})."
        )
    tf.io.gfile.makedirs(output_dir)
    full_name = dataset_name(name, storage_size, fps, options.jpeg_quality)
    described = (
        options.fps,
        options.size,
        options.min_frames,
        options.max_frames,
        storage_size,
        fps,
        sorted(source_description.items()),
    )
    # Appended only when on, so conversions written before the option
    # existed keep their fingerprint (re-running them resumes).
    if options.keep_truncated:
        described += (("keep_truncated", True),)
    if options.clip_frames is not None:
        described += (
            (
                "clips",
                options.clip_frames,
                options.clip_stride,
                options.max_clips_per_video,
            ),
        )
    settings = repr(described)
    split_infos, skipped, notes = {}, list(sources.unusable), []
    for split in sorted(splits):
        info, split_skipped, split_notes = writer.write_split(
            output_dir,
            split,
            splits[split],
            load_clip,
            writer.WriterOptions(
                dataset_name=full_name,
                jpeg_quality=options.jpeg_quality,
                num_shards=options.num_shards,
                shard_size_mb=options.shard_size_mb,
                seed=options.seed,
                num_workers=options.num_workers,
                progress=options.progress,
                settings=settings,
                should_stop=options.should_stop,
            ),
        )
        split_infos[split] = info
        skipped.extend(split_skipped)
        notes.extend(split_notes)
        logging.info(
            "%s/%s: %d clips in %d shards (%.1f MB), %d skipped.",
            name,
            split,
            info.num_examples,
            len(info.shards),
            info.num_bytes / 2**20,
            len(split_skipped),
        )
    manifest = manifest_lib.Manifest(
        dataset_name=full_name,
        class_names=tuple(sources.class_names),
        splits=split_infos,
        storage_size=storage_size,
        fps=fps,
        jpeg_quality=options.jpeg_quality,
        skipped=tuple(skipped),
        source=dict(source_description),
        notes=tuple(notes),
    )
    manifest_lib.write_manifest(output_dir, manifest)
    if manifest.skipped:
        logging.warning(
            "%s: skipped %d inputs %s; see %s.",
            name,
            len(manifest.skipped),
            manifest.skipped_by_reason,
            os.path.join(output_dir, manifest_lib.MANIFEST_NAME),
        )
    if manifest.notes:
        logging.warning(
            '%s: %s; the inputs are listed under "notes" in %s.',
            name,
            describe_notes(manifest.notes_by_reason),
            os.path.join(output_dir, manifest_lib.MANIFEST_NAME),
        )
    return manifest


_NOTE_TEXT = {
    "upsampled": "{n} video(s) smaller than --size (frames enlarged: "
    "blurrier than the stored size suggests; lower --size?)",
    "short": "{n} video(s) shorter than --clip_frames (one shorter clip "
    "each, which training loops or skips: short_clip_policy)",
}


def describe_notes(counts: dict[str, int]) -> str:
    """One phrase per note category, e.g. '3 video(s) smaller than ...'."""
    return "; ".join(
        _NOTE_TEXT.get(reason, "{n} " + reason).format(n=n)
        for reason, n in counts.items()
    )


def _video_loader(options: ConvertOptions) -> VideoClipLoader:
    return VideoClipLoader(
        options.fps,
        options.size,
        options.min_frames,
        options.max_frames,
        options.keep_truncated,
        options.clip_frames,
        options.clip_stride,
        options.max_clips_per_video,
    )


def split_by_video(
    items: list, fraction: float, seed: int = 0
) -> tuple[list, list]:
    """(kept, held out): about `fraction` of each class's videos held out.

    Deterministic and by video, never by clip: each video's place comes
    from a hash of its key and `seed` (not from the listing order), so
    re-running, or adding videos, moves no existing video across; all the
    clips cut from one video land in the same split. Per class, the
    `round(fraction * n)` videos with the smallest hashes are held out (at
    least one when the class has two or more videos and fraction > 0; a
    class with one video keeps it for training).
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(
            f"Expected eval_fraction in [0, 1); received: {fraction}"
        )
    by_class: dict[int, list] = {}
    for item in items:
        by_class.setdefault(item.label, []).append(item)
    held = set()
    for videos in by_class.values():
        count = round(fraction * len(videos))
        if fraction > 0 and len(videos) >= 2:
            count = min(max(count, 1), len(videos) - 1)
        ranked = sorted(
            videos,
            key=lambda v: hashlib.sha256(f"{seed}:{v.key}".encode()).digest(),
        )
        held.update(v.key for v in ranked[:count])
    kept = [item for item in items if item.key not in held]
    return kept, [item for item in items if item.key in held]


def convert_folder(
    root: str,
    output_dir: str,
    *,
    split: str = "train",
    eval_fraction: float = 0.0,
    eval_split: str = "test",
    options: ConvertOptions = ConvertOptions(),
) -> manifest_lib.Manifest:
    """Converts `<root>/<class_name>/*.<video>` into `split`, and with
    `eval_fraction` > 0 a held-out `eval_split` of whole videos
    (`split_by_video`) in the same run."""
    # The output may lie inside the input: never list it as input.
    sources = sources_lib.list_folder(root, split, exclude=(output_dir,))
    description = {"kind": "folder", "root": os.path.abspath(root)}
    if eval_fraction:
        if eval_split == split:
            raise ValueError(
                f"eval_split must differ from split; both are {split!r}."
            )
        kept, held = split_by_video(
            sources.splits[split], eval_fraction, options.seed
        )
        sources = dataclasses.replace(
            sources, splits={split: kept, eval_split: held}
        )
        description["eval_fraction"] = f"{eval_fraction:g}"
    return convert_sources(
        sources,
        output_dir,
        name="folder",
        load_clip=_video_loader(options),
        options=options,
        storage_size=options.size,
        fps=options.fps,
        source_description=description,
    )


def convert_ucf101(
    video_root: str,
    splits_dir: str,
    output_dir: str,
    *,
    split_number: int = 1,
    options: ConvertOptions = ConvertOptions(),
) -> manifest_lib.Manifest:
    """Converts UCF-101 (train and test of one official split)."""
    return convert_sources(
        sources_lib.list_ucf101(video_root, splits_dir, split_number),
        output_dir,
        name=f"ucf101_split{split_number}",
        load_clip=_video_loader(options),
        options=options,
        storage_size=options.size,
        fps=options.fps,
        source_description={
            "kind": "ucf101",
            "video_root": os.path.abspath(video_root),
            "splits_dir": os.path.abspath(splits_dir),
            "split_number": str(split_number),
        },
    )


def convert_kinetics(
    annotation_paths: list[str],
    video_dir: str,
    output_dir: str,
    *,
    name: str = "kinetics",
    options: ConvertOptions = ConvertOptions(),
) -> manifest_lib.Manifest:
    """Converts Kinetics clips listed in annotation CSVs (one split each)."""
    return convert_sources(
        sources_lib.list_kinetics(annotation_paths, video_dir),
        output_dir,
        name=name,
        load_clip=_video_loader(options),
        options=options,
        storage_size=options.size,
        fps=options.fps,
        source_description={
            "kind": "kinetics",
            "annotations": ",".join(
                os.path.abspath(p) for p in annotation_paths
            ),
            "video_dir": os.path.abspath(video_dir),
        },
    )


def convert_bair(
    root: str,
    output_dir: str,
    *,
    camera: str = "image_aux1",
    options: ConvertOptions = ConvertOptions(),
) -> manifest_lib.Manifest:
    """Converts the original BAIR robot-pushing TFRecords (no resampling).

    Frames keep their native 64x64 size (`options.size`/`fps` do not apply);
    the single class is "robot_pushing" (label 0), since BAIR has no labels.
    """
    if camera not in BAIR_CAMERAS:
        raise ValueError(
            f"Expected camera in {BAIR_CAMERAS}; received: camera={camera!r}"
        )
    return convert_sources(
        sources_lib.list_bair(root),
        output_dir,
        name="bair",
        load_clip=BairClipLoader(camera, options.min_frames),
        options=options,
        storage_size=BAIR_SIZE,
        fps=BAIR_FPS,
        source_description={
            "kind": "bair",
            "root": os.path.abspath(root),
            "camera": camera,
        },
    )


def convert_synthetic(
    output_dir: str,
    *,
    num_clips: int = 1200,
    num_test_clips: int = 240,
    num_frames: int = 24,
    size: int = 64,
    seed: int = 0,
    options: ConvertOptions = ConvertOptions(min_frames=1, num_shards=4),
) -> manifest_lib.Manifest:
    """Writes the built-in synthetic set (train and test splits).

    The test split is drawn with a different seed, so no clip is shared.
    `options.size`, `fps` and `min_frames` do not apply (clips are rendered
    at `size` and `num_frames`).
    """
    for arg, value in (("num_clips", num_clips), ("num_frames", num_frames)):
        if value < 1 or (arg == "num_frames" and value < 2):
            raise ValueError(f"Expected {arg} >= 2; received: {arg}={value}")
    if size < 8:
        raise ValueError(f"Expected size >= 8; received: size={size}")
    splits = {}
    test_seed = seed + 1_000_003
    for split, count, split_seed in (
        ("train", num_clips, seed),
        ("test", num_test_clips, test_seed),
    ):
        if count <= 0:
            continue
        labels = synthetic.balanced_labels(count, split_seed)
        splits[split] = [
            SyntheticSource(
                key=f"{split}-{i:06d}",
                seed=split_seed,
                index=i,
                label=int(label),
                num_frames=num_frames,
                size=size,
            )
            for i, label in enumerate(labels)
        ]
    return convert_sources(
        sources_lib.Sources(synthetic.CLASS_NAMES, splits),
        output_dir,
        name="synthetic",
        load_clip=load_synthetic_clip,
        options=options,
        storage_size=size,
        fps=SYNTHETIC_FPS,
        source_description={
            "kind": "synthetic",
            "seed": str(seed),
            "num_frames": str(num_frames),
        },
    )
