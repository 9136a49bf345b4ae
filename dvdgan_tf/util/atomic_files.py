"""Atomic file writes: a reader sees the old file or the new one, never half.

Every small file the project writes next to long-running state (dataset
manifests and shard markers, generator_config.json, metadata.json,
operative_config.gin, evaluation results, sample GIF/PNG files) goes through
here: the bytes are written under a temporary name in the same directory and
then renamed over the target, so a `kill -9` at any moment cannot leave a
truncated file under the final name. Works for local paths and for every
file system `tf.io.gfile` knows (gs:// included; there the rename is a copy
plus delete, which is still all-or-nothing for the reader of the final name).

A leaf module: it imports nothing from the package, so `dvdgan_tf.data` can
use it and still depend on no other part of the project.
"""

from __future__ import annotations

import json
import os

import tensorflow as tf


def temporary_path(path: str) -> str:
    """The temp name used while `path` is written (same directory)."""
    return f"{path}.tmp-{os.getpid()}"


def write_bytes(path: str, data: bytes) -> None:
    """Writes `data` to `path` atomically."""
    tmp = temporary_path(path)
    try:
        with tf.io.gfile.GFile(tmp, "wb") as f:
            f.write(data)
        tf.io.gfile.rename(tmp, path, overwrite=True)
    finally:
        if tf.io.gfile.exists(tmp):
            tf.io.gfile.remove(tmp)


def write_text(path: str, text: str) -> None:
    """Writes `text` (UTF-8) to `path` atomically."""
    write_bytes(path, text.encode("utf-8"))


def write_json(path: str, obj, indent: int | None = 2) -> None:
    """Writes `obj` as JSON (sorted keys, trailing newline) atomically."""
    write_text(path, json.dumps(obj, indent=indent, sort_keys=True) + "\n")
