"""The paper's experiments in one table: what each paper config must be.

Every number here is from arXiv 1907.06571 v2 (tables and appendix) unless
a note says otherwise; `tests/test_paper_configs.py` parses each gin file
named here and checks its clip protocol, training length and data dir
against this table, and its header against the table/row, the metric and
the evaluate command. Nothing in the library imports this module.

Training length (appendix, via the SPEC review): synthesis about 300,000
steps, prediction up to 1,000,000. Frames: every 2nd frame for synthesis
(the paper's default), consecutive frames ("no skipping") for prediction
and for Table 4's 16-frame synthesis baseline.
"""

from __future__ import annotations

import dataclasses

SYNTHESIS_STEPS = 300_000
# Truncation levels of Table 1's "best over truncation levels" columns: the
# paper does not list them; BigGAN-style levels from 0.25 to the prior.
TRUNCATION_SWEEP = "0.25,0.5,0.75,1.0"
PREDICTION_STEPS = 1_000_000


@dataclasses.dataclass(frozen=True)
class PaperExperiment:
    """One paper result and the config that targets it.

    Attributes:
        gin_file: the config's name in gin/ (dvdgan_tf/configs/).
        table: where the paper reports it, e.g. "Table 1, 12/64x64".
        metric: what it reports there.
        targets: the paper's numbers, as printed.
        num_frames: generated (synthesis) or predicted (FP) frames, T.
        resolution: H = W.
        num_classes: 0 = unconditional.
        frame_stride: stored frames between read frames.
        conditioning_frames: DVD-GAN-FP context frames C (0: synthesis).
        train_steps: the paper's training length.
        data_dir: the config's DATA_DIR (converted at `resolution`).
        evaluate: the evaluate command's metric flags for this result.
        supply: what the user must supply beyond the converted data.
        caveat: how a number computed here differs from the paper's.
    """

    gin_file: str
    table: str
    metric: str
    targets: str
    num_frames: int
    resolution: int
    num_classes: int
    frame_stride: int
    conditioning_frames: int
    train_steps: int
    data_dir: str
    evaluate: str
    supply: str
    caveat: str = ""


_K600_SUPPLY = (
    "a Kinetics-600 I3D classifier as a SavedModel, declared in "
    "i3d_k600.gin (docs/EVALUATION.md, IS / FID)"
)


_FVD_SUPPLY = "nothing (the I3D of FVD ships with the install)"


def _k600(frames, size, fid, is_, fid_t, is_t) -> PaperExperiment:
    suffix = "" if frames == 12 else f"_{frames}f"
    return PaperExperiment(
        gin_file=f"k600_{size}{suffix}.gin",
        table=f"Table 1, {frames}/{size}x{size}",
        metric="FID and IS with a Kinetics-600 I3D",
        targets=(
            f"FID {fid}, IS {is_} (best over truncation levels: FID "
            f"{fid_t}, IS {is_t})"
        ),
        num_frames=frames,
        resolution=size,
        num_classes=600,
        frame_stride=2,
        conditioning_frames=0,
        train_steps=SYNTHESIS_STEPS,
        data_dir=f"data/k600_s{size}",
        evaluate=(
            "--metrics=is,fid --gin_file=i3d_k600.gin --fid_real_stats=split "
            f"--truncation_sweep={TRUNCATION_SWEEP} "
            f"--real_file_pattern='data/k600_s{size}/train-*'"
        ),
        supply=_K600_SUPPLY,
        caveat=(
            "real statistics over the whole training split "
            "(--fid_real_stats=split) and the best over a truncation sweep "
            "(the _tbest results) follow the paper, but it states neither "
            "its truncation levels nor its number of generated clips; the "
            "levels here and the 2,048 generated clips are this project's "
            "choice, so the numbers are comparable only approximately"
        ),
    )


EXPERIMENTS = (
    _k600(12, 64, "0.85", "53.81", "7.13", "187.23"),
    _k600(12, 128, "1.16", "77.45", "13.04", "246.18"),
    _k600(12, 256, "2.05", "62.78", "10.17", "162.44"),
    _k600(48, 64, "13.75", "104.09", "47.86", "264.12"),
    _k600(48, 128, "28.44", "81.41", "45.79", "188.32"),
    PaperExperiment(
        gin_file="ucf101_128.gin",
        table="Table 2",
        metric="Inception Score with the TGAN/TGANv2 C3D",
        targets="IS 32.97 +- 1.7",
        num_frames=16,
        resolution=128,
        num_classes=101,
        frame_stride=2,  # not stated for UCF-101: the synthesis default
        conditioning_frames=0,
        train_steps=SYNTHESIS_STEPS,
        data_dir="data/ucf101_s128",
        evaluate="--metrics=is --is_protocol=tganv2 --gin_file=c3d_ucf101.gin",
        supply=(
            "TGAN's published C3D files, conv3d_deepnetA_ucf.npz and "
            "mean2.npz, where c3d_ucf101.gin's C3D_WEIGHTS and C3D_MEAN "
            "point (docs/EVALUATION.md, UCF-101 IS)"
        ),
    ),
    PaperExperiment(
        gin_file="bair_fp_64.gin",
        table="Table 3",
        metric="FVD (DVD-GAN-FP, 1 -> 15 frames)",
        targets="FVD 109.8",
        num_frames=15,
        resolution=64,
        num_classes=0,
        frame_stride=1,
        conditioning_frames=1,
        train_steps=PREDICTION_STEPS,
        data_dir="data/bair",
        evaluate="--metrics=fvd --real_file_pattern='data/bair/test-*'",
        supply=_FVD_SUPPLY,
    ),
    PaperExperiment(
        gin_file="k600_fp_64.gin",
        table="Table 4, DVD-GAN-FP",
        metric="FVD (DVD-GAN-FP, 5 -> 11 frames)",
        targets="FVD 69.15 +- 1.16 (test set), 68.66 +- 0.78 (train set)",
        num_frames=11,
        resolution=64,
        num_classes=600,
        frame_stride=1,
        conditioning_frames=5,
        train_steps=PREDICTION_STEPS,
        data_dir="data/k600_s64",
        evaluate="--metrics=fvd --real_file_pattern='data/k600_s64/test-*'",
        supply=_FVD_SUPPLY,
    ),
    PaperExperiment(
        gin_file="k600_64_16f.gin",
        table="Table 4, DVD-GAN (16-frame synthesis baseline)",
        metric="FVD of 16-frame synthesis (no context frames)",
        targets="FVD 31.1 +- 0.56 (test set), 32.3 +- 0.82 (train set)",
        num_frames=16,
        resolution=64,
        num_classes=600,
        frame_stride=1,
        conditioning_frames=0,
        train_steps=SYNTHESIS_STEPS,
        data_dir="data/k600_s64",
        evaluate="--metrics=fvd --real_file_pattern='data/k600_s64/test-*'",
        supply=_FVD_SUPPLY,
    ),
)
