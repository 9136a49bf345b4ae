"""dvdgan_tf.training.precision: which dtype policy a run gets, and why."""

import pytest
import tensorflow as tf

from dvdgan_tf.training import precision
from dvdgan_tf.training import trainer as training
from tests import tiny_gan

_AVX512 = {"sse2", "avx2", "avx512f"}  # x86 without native bfloat16
_AMX = _AVX512 | {"amx_bf16", "amx_tile"}
_ONEDNN_ON = {}
_ONEDNN_OFF = {"TF_ENABLE_ONEDNN_OPTS": "0"}


def _cpu():
    return tf.distribute.OneDeviceStrategy("/cpu:0")


@pytest.mark.parametrize(
    "flags, expected",
    [
        (_AMX, True),
        (_AVX512 | {"avx512_bf16"}, True),
        (_AVX512, False),
        (set(), True),  # not x86 (flags unknown): the fault is x86-only
    ],
)
def test_native_bfloat16_is_read_from_the_cpu_flags(flags, expected):
    assert precision.cpu_has_native_bfloat16(flags) is expected


def test_auto_picks_bfloat16_only_where_it_is_native():
    assert precision.resolve("auto", _cpu(), _AMX, _ONEDNN_ON) == (
        "mixed_bfloat16"
    )
    assert precision.resolve("auto", _cpu(), _AVX512, _ONEDNN_ON) == "float32"
    # Also with oneDNN off: emulated bfloat16 is no faster than float32.
    assert precision.resolve("auto", _cpu(), _AVX512, _ONEDNN_OFF) == (
        "float32"
    )


def test_explicit_policies_pass_where_they_are_safe():
    cpu = _cpu()
    assert precision.resolve("float32", cpu, _AVX512, _ONEDNN_ON) == "float32"
    assert precision.resolve("mixed_bfloat16", cpu, _AMX, _ONEDNN_ON) == (
        "mixed_bfloat16"
    )
    assert precision.resolve("mixed_bfloat16", cpu, _AVX512, _ONEDNN_OFF) == (
        "mixed_bfloat16"
    )


def test_bfloat16_on_a_cpu_where_onednn_breaks_it_says_what_to_do():
    with pytest.raises(ValueError, match="TF_ENABLE_ONEDNN_OPTS=0") as error:
        precision.resolve("mixed_bfloat16", _cpu(), _AVX512, _ONEDNN_ON)
    assert "'auto'" in str(error.value) and "float32" in str(error.value)


def test_onednn_switch_reads_the_documented_values():
    assert precision.onednn_enabled({}) is True
    for value in ("0", "false", "OFF"):
        assert not precision.onednn_enabled({"TF_ENABLE_ONEDNN_OPTS": value})


def test_unknown_precision_is_rejected_by_training_run(tmp_path):
    kwargs = tiny_gan.run_kwargs(str(tmp_path), 1, precision="float16")
    with pytest.raises(ValueError, match="training.run.precision in"):
        training.run(None, **kwargs)
    assert not list(tmp_path.iterdir())  # refused before writing anything


def test_training_run_refuses_unsafe_bfloat16_before_building(
    tmp_path, monkeypatch
):
    monkeypatch.setattr(precision, "cpu_flags", lambda: frozenset(_AVX512))
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    kwargs = tiny_gan.run_kwargs(str(tmp_path), 1, precision="mixed_bfloat16")
    with pytest.raises(ValueError, match="without native bfloat16"):
        training.run(None, **kwargs)
    assert tf.keras.mixed_precision.global_policy().name == "float32"
