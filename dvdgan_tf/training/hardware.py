"""Accelerator kinds the planner knows: memory and dense peak per replica.

One replica is one TPU v3 core (the paper's unit), one TPU v4 chip or one
GPU. `tools/plan.py` divides a step's FLOPs by these peaks (at an assumed
utilisation) and compares its memory with `memory_gib`;
`bench/accelerator_report.py` maps an ``nvidia-smi`` name to a kind. The
numbers are the vendors' published figures (see each `source`), not
measurements.
"""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class Hardware:
    """One accelerator = one replica.

    Attributes:
        name: the --hardware key.
        label: what it is.
        memory_gib: memory per replica (HBM of one TPU core / chip, or one
            GPU), before framework reserves.
        bfloat16_tflops: dense bfloat16 matmul peak per replica.
        float32_tflops: dense peak of float32 matmuls as TensorFlow runs
            them by default (TF32 tensor cores on A100/H100; on TPU, XLA's
            default precision runs float32 matmuls as bfloat16 passes).
        source: where the numbers are from.
    """

    name: str
    label: str
    memory_gib: float
    bfloat16_tflops: float
    float32_tflops: float
    source: str


HARDWARE = {
    h.name: h
    for h in (
        Hardware(
            "tpu-v3",
            "TPU v3, one core (the paper's replica)",
            16.0,
            61.5,
            61.5,
            "Google Cloud TPU v3: 123 bf16 TFLOP/s and 32 GiB HBM per chip "
            "of 2 cores",
        ),
        Hardware(
            "tpu-v4",
            "TPU v4, one chip",
            32.0,
            275.0,
            275.0,
            "Google Cloud TPU v4: 275 bf16 TFLOP/s, 32 GiB HBM per chip",
        ),
        Hardware(
            "a100-40g",
            "NVIDIA A100 40 GB",
            40.0,
            312.0,
            156.0,
            "NVIDIA A100 datasheet: 312 bf16 / 156 TF32 dense TFLOP/s",
        ),
        Hardware(
            "a100-80g",
            "NVIDIA A100 80 GB",
            80.0,
            312.0,
            156.0,
            "NVIDIA A100 datasheet: 312 bf16 / 156 TF32 dense TFLOP/s",
        ),
        Hardware(
            "h100-80g",
            "NVIDIA H100 SXM 80 GB",
            80.0,
            989.0,
            494.0,
            "NVIDIA H100 SXM datasheet: 989 bf16 / 494 TF32 dense TFLOP/s",
        ),
    )
}


def kind_for_gpu_name(name: str) -> str:
    """The `HARDWARE` key of an ``nvidia-smi --query-gpu=name`` string.

    Raises:
        ValueError: a GPU this table has no figures for.
    """
    upper = name.upper()
    if "H100" in upper:
        return "h100-80g"
    if "A100" in upper:
        return "a100-80g" if "80GB" in upper.replace(" ", "") else "a100-40g"
    raise ValueError(
        f"No peak figures for the GPU {name!r}; known kinds: "
        f"{', '.join(HARDWARE)}. Add it to dvdgan_tf/training/hardware.py "
        "(memory and dense bf16/TF32 peaks from the datasheet)."
    )
