"""Cache of real-side statistics (Gaussian fits, judge floors, labels).

The real side of a metric is the same for every checkpoint of a run, and
for FVD-2048 it costs as much as the fake side, so it is computed once and
stored as an `.npz` file whose name holds everything it depends on:

    <dataset>-<res>px-fs<frame stride>-<source>-<protocol><suffix>.npz

`source` is "rendered" (synthetic clips made in memory) or "files" plus a
hash of the real file pattern, so the train and test splits never share a
cache; `suffix` carries what else a metric depends on (the judge's id).
Files are written through `atomic_files` (a killed job leaves no half
file); a file that cannot be read back (damaged, truncated) is named in a
warning and recomputed.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from typing import Callable

import numpy as np
import tensorflow as tf
from absl import logging

from dvdgan_tf.util import atomic_files


class StatsCache:
    """Real-statistics files of one model's data under `cache_dir`.

    Args:
        cache_dir: directory of the cache files (local or gs://).
        dataset: the model's dataset name (metadata).
        resolution: H = W of the clips.
        frame_stride: step between stored frames of a clip.
        real_file_pattern: TFRecords of the real clips; empty when they are
            rendered in memory (synthetic dataset).
    """

    def __init__(
        self,
        cache_dir: str,
        dataset: str,
        resolution: int,
        frame_stride: int,
        real_file_pattern: str = "",
    ):
        self.cache_dir = cache_dir
        source = (
            "rendered"
            if not real_file_pattern
            else "files"
            + hashlib.sha1(real_file_pattern.encode()).hexdigest()[:8]
        )
        self._prefix = f"{dataset}-{int(resolution)}px-fs{int(frame_stride)}"
        self._source = source

    def path(self, protocol: str, suffix: str = "") -> str:
        """The cache file of `protocol` (+ `suffix`)."""
        name = f"{self._prefix}-{self._source}-{protocol}{suffix}.npz"
        return os.path.join(
            self.cache_dir, re.sub(r"[^A-Za-z0-9_.+-]", "_", name)
        )

    def get_or_compute(
        self,
        protocol: str,
        compute: Callable[[], dict],
        suffix: str = "",
    ) -> dict:
        """The cached arrays of `protocol`, or `compute()`d, saved, returned.

        Args:
            protocol: the metric's protocol name.
            compute: ``() -> {name: array}``.
            suffix: see the module docstring.

        Returns:
            {name: NumPy array}.
        """
        path = self.path(protocol, suffix)
        arrays = _read(path)
        if arrays is not None:
            logging.info("Real statistics from cache %s", path)
            return arrays
        arrays = compute()
        _write(path, arrays)
        logging.info("Cached real statistics in %s", path)
        return arrays

    # A long real-side computation (a whole split) saves its progress
    # under the final file's name + ".partial.npz" and resumes from it.

    def read_partial(self, protocol: str) -> dict | None:
        """The saved progress of `protocol`'s real side, if any."""
        return _read(self._partial_path(protocol))

    def write_partial(self, protocol: str, arrays: dict) -> None:
        """Saves progress atomically (a kill leaves the previous save)."""
        _write(self._partial_path(protocol), arrays)

    def drop_partial(self, protocol: str) -> None:
        path = self._partial_path(protocol)
        if tf.io.gfile.exists(path):
            tf.io.gfile.remove(path)

    def _partial_path(self, protocol: str) -> str:
        return self.path(protocol).removesuffix(".npz") + ".partial.npz"


def _write(path: str, arrays: dict) -> None:
    tf.io.gfile.makedirs(os.path.dirname(path))
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_files.write_bytes(path, buffer.getvalue())


def _read(path: str) -> dict | None:
    if not tf.io.gfile.exists(path):
        return None
    # Through bytes: GFile (gs:// paths) is not seekable the way zipfile,
    # which np.load uses, needs.
    try:
        with tf.io.gfile.GFile(path, "rb") as f:
            with np.load(io.BytesIO(f.read())) as data:
                return {key: data[key] for key in data.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as error:
        logging.warning(
            "The statistics cache file %s is damaged (%s); recomputing it.",
            path,
            error,
        )
        return None
