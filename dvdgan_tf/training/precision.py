"""The training dtype policy: float32, mixed_bfloat16, or "auto".

``training.run.precision`` takes

* ``"float32"`` (gin/base.gin's default, decision 8);
* ``"mixed_bfloat16"``: bfloat16 compute, float32 weights (Keras'
  ``mixed_bfloat16`` policy), the paper's TPU setting;
* ``"auto"``: ``mixed_bfloat16`` where the devices compute bfloat16
  natively (TPU, GPU, a CPU with AVX512_BF16 or AMX-BF16), ``float32``
  elsewhere.

**Why bfloat16 is refused on some CPUs.** With TF 2.21's oneDNN kernels on
an x86 CPU *without* native bfloat16 (AVX-512 but no AVX512_BF16 / AMX),
the bfloat16 ``Conv3DBackpropFilter`` reads memory it never wrote when the
clip has 2 frames left (D_T's second block at 32x32 and smaller): its
kernel gradient changes from call to call on identical inputs and is
sometimes 1e38 or NaN (measured: tests/training/test_precision.py; with
``TF_ENABLE_ONEDNN_OPTS=0`` the same op is exact and repeatable). Training
would silently diverge, so ``mixed_bfloat16`` on such a CPU with oneDNN on
stops with an error that names both ways out; ``auto`` picks float32
there. Emulated bfloat16 is slower than float32 on those CPUs anyway.
"""

from __future__ import annotations

import functools
import os

import tensorflow as tf

FLOAT32 = "float32"
MIXED_BFLOAT16 = "mixed_bfloat16"
AUTO = "auto"
CHOICES = (FLOAT32, MIXED_BFLOAT16, AUTO)

# /proc/cpuinfo flags of x86 CPUs that compute bfloat16 natively.
_NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU feature flags of this host (empty where unknown)."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith(("flags", "Features")):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_has_native_bfloat16(flags=None) -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512_BF16 / AMX).

    A non-x86 CPU (no flags known, e.g. Arm) counts as native: the oneDNN
    fault below was seen on x86 only.
    """
    flags = cpu_flags() if flags is None else frozenset(flags)
    x86 = "sse2" in flags
    return not x86 or any(flag in flags for flag in _NATIVE_BF16_FLAGS)


def onednn_enabled(environ=None) -> bool:
    """Whether TF's oneDNN CPU kernels are on (TF_ENABLE_ONEDNN_OPTS)."""
    environ = os.environ if environ is None else environ
    value = environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower()
    return value not in ("0", "false", "no", "off")


def _device_types(strategy) -> set[str]:
    """Device types the strategy computes on (all local ones if unknown)."""
    try:
        devices = list(strategy.extended.worker_devices)
    except (AttributeError, RuntimeError):  # The default strategy.
        devices = [d.name for d in tf.config.list_logical_devices()]
    return {
        (tf.DeviceSpec.from_string(d).device_type or "CPU").upper()
        for d in devices
    }


def resolve(precision: str, strategy, flags=None, environ=None) -> str:
    """The Keras dtype policy for `precision` on `strategy`'s devices.

    Args:
        precision: one of `CHOICES`.
        strategy: the `tf.distribute` strategy training runs under.
        flags, environ: CPU flags and environment (tests); default: this
            host's.

    Returns:
        "float32" or "mixed_bfloat16".

    Raises:
        ValueError: an unknown precision, or mixed_bfloat16 on CPU devices
            where TF's oneDNN bfloat16 Conv3D gradient is unreliable (the
            message says what to do).
    """
    if precision not in CHOICES:
        raise ValueError(
            f"Expected training.run.precision in {CHOICES}; received: "
            f"precision={precision!r}"
        )
    accelerated = bool(_device_types(strategy) & {"GPU", "TPU"})
    native = accelerated or cpu_has_native_bfloat16(flags)
    safe_cpu = native or not onednn_enabled(environ)
    if precision == AUTO:
        return MIXED_BFLOAT16 if native else FLOAT32
    if precision == MIXED_BFLOAT16 and not safe_cpu:
        raise ValueError(
            "training.run.precision = 'mixed_bfloat16' on a CPU without "
            "native bfloat16 (no AVX512_BF16 / AMX flag in /proc/cpuinfo): "
            "TF's oneDNN bfloat16 Conv3D gradient gives garbage there "
            "(dvdgan_tf/training/precision.py). Use precision 'float32' or "
            "'auto' (float32 on this CPU), or start with "
            "TF_ENABLE_ONEDNN_OPTS=0 to use TF's own kernels."
        )
    return precision
