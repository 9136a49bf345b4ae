"""`RunMetadata`: what a model_dir's metadata.json says, typed, with defaults.

One dataclass for the facts about a trained generator that its weights do
not carry: the data it learnt (class names, fps, dataset name, split), the
clip it makes (T, C, size, frame stride) and, in an exported SavedModel's
``assets/metadata.json``, the export facts (step, Z, which generator, when).
Every reader parses with `RunMetadata.from_dict`, so each field has its
default here and nowhere else. The model_dir file is written and read by
`store.checkpointing` (`write_model_spec`, `read_metadata`), the SavedModel
asset by `inference.export`.

    metadata = RunMetadata.from_data(data_dir, "train", frame_stride=2,
                                     num_frames=8, resolution=32,
                                     num_classes=12)
    checkpointing.write_model_spec(model_dir, generator, metadata)
    metadata = checkpointing.read_metadata(model_dir)     # RunMetadata
    metadata.class_names, metadata.clip_frames, metadata.playback_fps

The JSON form (`to_dict`) holds the core fields always and the optional
ones when set; keys this version does not know are kept and written back.
A `RunMetadata` is also a read-only mapping of that JSON form
(``metadata["class_names"]`` is the stored list), for scripts written
against the plain dict of earlier versions.
"""

from __future__ import annotations

import collections.abc
import dataclasses
from typing import Any
from typing import Mapping

from dvdgan_tf.data import manifest as manifest_lib

# Playback rate of generated clips when the data's fps is unknown.
DEFAULT_PLAYBACK_FPS = 8.0

# Fields written even when None (a reader sees "fps": null = unknown).
_CORE = (
    "num_frames",
    "resolution",
    "frame_stride",
    "num_conditioning_frames",
    "class_names",
    "fps",
    "dataset",
)


@dataclasses.dataclass(frozen=True, eq=False)
class RunMetadata(collections.abc.Mapping):
    """The metadata of a trained (or exported) generator.

    Attributes:
        num_frames: T, the frames the generator makes (0 = unknown).
        resolution: frame H = W (0 = unknown).
        frame_stride: stored frames between two of the model's frames.
        num_conditioning_frames: C, the real context frames a DVD-GAN-FP
            model continues (0 = synthesis).
        class_names: N class names (generic "0".. when trained without a
            data directory; empty when unconditional).
        fps: the stored data's frame rate; None = unknown.
        dataset: the converted dataset's name (`data.convert.dataset_name`,
            e.g. "synthetic-s64-25fps-q90"); None = no data directory.
        split: the split trained on.
        step, latent_dim, num_classes, generator, dvdgan_tf_version,
            exported_at, source_model_dir: set by `inference.export` in a
            SavedModel's metadata (None in a model_dir).
        extra: keys of the JSON this version does not know, kept as read.
    """

    num_frames: int = 0
    resolution: int = 0
    frame_stride: int = 1
    num_conditioning_frames: int = 0
    class_names: tuple[str, ...] = ()
    fps: float | None = None
    dataset: str | None = None
    split: str | None = None
    step: int | None = None
    latent_dim: int | None = None
    num_classes: int | None = None
    generator: str | None = None
    dvdgan_tf_version: str | None = None
    exported_at: str | None = None
    source_model_dir: str | None = None
    extra: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    # --- derived facts ---
    @property
    def clip_frames(self) -> int:
        """Frames of the clips the model is judged on: C context + T."""
        return self.num_conditioning_frames + self.num_frames

    @property
    def playback_fps(self) -> float:
        """Frame rate to play generated clips at: fps / frame_stride."""
        if not self.fps or self.fps <= 0:
            return DEFAULT_PLAYBACK_FPS
        return float(self.fps) / max(1, self.frame_stride)

    @property
    def dataset_or_unknown(self) -> str:
        """The dataset name for file names and logs ("unknown" if None)."""
        return self.dataset or "unknown"

    # --- JSON form ---
    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> RunMetadata:
        """Parses the JSON form; missing keys take the defaults above.

        Raises:
            ValueError: a field has a value of the wrong kind.
        """
        if isinstance(values, RunMetadata):
            return values
        known = {field.name for field in dataclasses.fields(cls)} - {"extra"}
        kwargs = {k: v for k, v in values.items() if k in known}
        extra = {k: v for k, v in values.items() if k not in known}
        try:
            for name in (
                "num_frames",
                "resolution",
                "num_conditioning_frames",
                "step",
                "latent_dim",
                "num_classes",
            ):
                if kwargs.get(name) is not None:
                    kwargs[name] = int(kwargs[name])
            # null / 0 strides in old files mean consecutive frames.
            kwargs["frame_stride"] = int(kwargs.get("frame_stride") or 1)
            if kwargs.get("fps") is not None:
                kwargs["fps"] = float(kwargs["fps"])
            kwargs["class_names"] = tuple(
                str(name) for name in kwargs.get("class_names") or ()
            )
        except (TypeError, ValueError) as e:
            raise ValueError(f"Invalid run metadata {dict(values)}: {e}") from e
        return cls(**kwargs, extra=dict(extra))

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: core fields always, optional ones when set."""
        out = {}
        for field in dataclasses.fields(self):
            if field.name == "extra":
                continue
            value = getattr(self, field.name)
            if field.name == "class_names":
                value = list(value)
            if value is not None or field.name in _CORE:
                out[field.name] = value
        out.update(self.extra)
        return out

    def replace(self, **changes) -> RunMetadata:
        return dataclasses.replace(self, **changes)

    # --- read-only mapping of the JSON form ---
    def __getitem__(self, key: str) -> Any:
        return self.to_dict()[key]

    def __iter__(self):
        return iter(self.to_dict())

    def __len__(self) -> int:
        return len(self.to_dict())

    def __eq__(self, other) -> bool:
        if isinstance(other, collections.abc.Mapping):
            return self.to_dict() == dict(other)
        return NotImplemented

    __hash__ = None

    # --- the metadata of a new training run ---
    @classmethod
    def from_data(
        cls,
        data_dir: str | None,
        split: str,
        frame_stride: int,
        num_frames: int,
        resolution: int,
        num_classes: int,
        num_conditioning_frames: int = 0,
    ) -> RunMetadata:
        """The metadata of a model trained on `data_dir`'s `split`.

        `num_frames` is the generator's T; a DVD-GAN-FP model also records
        its `num_conditioning_frames` C (its clips have C + T frames).
        Class names and fps come from the manifest; without a data
        directory the classes get generic names ("0", "1", ...) and fps
        and dataset are unknown (None).

        Raises:
            ValueError: the data's class count differs from `num_classes`.
        """
        metadata = cls(
            num_frames=int(num_frames),
            resolution=int(resolution),
            frame_stride=int(frame_stride),
            num_conditioning_frames=int(num_conditioning_frames),
            class_names=tuple(str(i) for i in range(num_classes)),
        )
        if data_dir is None:
            return metadata
        manifest = manifest_lib.read_manifest(data_dir)
        class_names = tuple(manifest.class_names)
        if num_classes and len(class_names) != num_classes:
            raise ValueError(
                f"The dataset in {data_dir!r} has {len(class_names)} classes "
                f"but the generator was built with num_classes={num_classes}; "
                f"set NUM_CLASSES = {len(class_names)}."
            )
        return metadata.replace(
            class_names=class_names,
            fps=float(manifest.fps),
            dataset=manifest.dataset_name,
            split=split,
        )
