"""Why does (or doesn't) a synthetic-set model move? Three measurements.

    python tools/diagnose_motion.py --model_dir=runs/demo1500 \\
        --judge_dir=runs/judge [--step=N] [--num_clips=240] [--json=out.json]

For a model trained on the built-in synthetic dataset (see
`dvdgan_tf/evaluation/motion.py`):

1. motion energy per time step (mean |x_{t+1} - x_t|, uint8 units) of EMA
   samples next to real clips;
2. the D_T direction probe: D_T's score gap between real clips and their
   time reversals, and between the true label and its twin label;
3. the judge's motion confusion on the EMA samples, split into the translate
   and scale families.

D_T is rebuilt from the run's `operative_config.gin` and restored from the
checkpoint; G is the EMA generator.

For a DVD-GAN-FP model the generated clips continue the real clips' first C
frames under their labels (whole clips are scored), and a fourth
measurement asks whether the prediction follows the context frames:
the real clips are played backwards (a clip of the twin class,
`synthetic.reversed_label`) and their first C frames conditioned on, (a)
with the twin label (a consistent input) and (b) with the original label
(frames and label disagree); the judge's motion accuracy is scored against
the twin class, whose motion the reversed frames show.
"""

from __future__ import annotations

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import gin  # noqa: E402
import numpy as np  # noqa: E402
from absl import flags  # noqa: E402

from dvdgan_tf import cli  # noqa: E402
from dvdgan_tf import configurables  # noqa: E402
from dvdgan_tf.data import synthetic  # noqa: E402
from dvdgan_tf.evaluation import motion  # noqa: E402
from dvdgan_tf.evaluation import real_clips  # noqa: E402
from dvdgan_tf.inference import generation  # noqa: E402
from dvdgan_tf.metrics import judge as judge_lib  # noqa: E402
from dvdgan_tf.models import generator as generator_lib
from dvdgan_tf.store import checkpointing  # noqa: E402

flags.DEFINE_string("model_dir", None, "Training directory.")
flags.DEFINE_string("judge_dir", os.path.join("runs", "judge"), "Judge.")
flags.DEFINE_integer("step", None, "Checkpoint step; default latest.")
flags.DEFINE_integer("num_clips", 240, "Clips per measurement.", lower_bound=1)
flags.DEFINE_string("json", None, "Also write the results here.")
FLAGS = flags.FLAGS


def load_temporal_discriminator(model_dir: str, path: str):
    """D_T as the run built it (its operative gin config), restored."""
    config = os.path.join(model_dir, checkpointing.OPERATIVE_CONFIG_FILE)
    if not os.path.exists(config):
        raise ValueError(
            f"{config} is missing: D_T is rebuilt from the run's operative "
            "gin config, written after the first training step."
        )
    gin.clear_config()
    gin.parse_config_file(config, skip_unknown=True)
    temporal = configurables.build_temporal_discriminator()
    gin.clear_config()
    checkpointing.restore_objects(path, temporal_discriminator=temporal)
    return temporal


def diagnose(model_dir, judge_dir, step=None, num_clips=240) -> dict:
    generator, step, metadata = checkpointing.load_generator(model_dir, step)
    if not real_clips.is_synthetic(metadata.dataset):
        raise ValueError(
            f"{model_dir} was not trained on the synthetic dataset "
            f"(dataset {metadata.dataset!r})."
        )
    path, _ = checkpointing.resolve_checkpoint(model_dir, step)
    num_frames = generator_lib.clip_frames(generator)
    context = generator_lib.num_conditioning_frames(generator)
    resolution = int(generator.resolution)
    stride = metadata.frame_stride
    real, real_labels = real_clips.load_real_clips(
        num_clips, num_frames, stride, resolution, "synthetic"
    )
    judge = judge_lib.load_judge(judge_dir)
    extra = {}
    if context:
        fake, fake_labels = generation.generate_videos(
            generator,
            num_clips,
            seed=0,
            labels=real_labels,
            context=real[:, :context],
        )
        extra["reversed_context"] = _reversal(
            generator, judge, real, real_labels, context
        )
    else:
        fake, fake_labels = generation.generate_videos(
            generator, num_clips, seed=0
        )
    temporal = load_temporal_discriminator(model_dir, path)
    probe = motion.temporal_direction_probe(temporal, real, real_labels)
    probabilities, _ = judge.predict(fake)
    scores = judge.score_probabilities(probabilities, fake_labels)
    return extra | {
        "model_dir": model_dir,
        "step": int(step),
        "num_clips": int(num_clips),
        "motion_energy_generated": motion.motion_energy(fake).tolist(),
        "motion_energy_real": motion.motion_energy(real).tolist(),
        "energy_split_generated": motion.motion_energy_split(fake).__dict__,
        "energy_split_real": motion.motion_energy_split(real).__dict__,
        "direction_probe": probe.__dict__,
        "judge": {
            "accuracy": scores.accuracy,
            "appearance_accuracy": scores.appearance_accuracy,
            "motion_accuracy": scores.motion_accuracy,
        },
        "motion_confusion": motion.motion_confusion(probabilities, fake_labels),
        "classes": list(synthetic.class_names()),
    }


def _reversal(generator, judge, real, labels, context) -> dict:
    """FP: judge scores of predictions from time-reversed real context."""
    backwards, twins = synthetic.time_reversed(real, labels)
    result = {}
    for name, given in (("twin_label", twins), ("original_label", labels)):
        clips, _ = generation.generate_videos(
            generator,
            len(real),
            seed=0,
            labels=given,
            context=backwards[:, :context],
        )
        probabilities, _ = judge.predict(clips)
        scores = judge.score_probabilities(probabilities, twins)
        result[name] = {
            "accuracy": scores.accuracy,
            "motion_accuracy": scores.motion_accuracy,
        }
    return result


def main(argv):
    if len(argv) > 1:
        raise cli.UsageError(f"Unexpected arguments: {argv[1:]}")
    if not FLAGS.model_dir:
        raise cli.UsageError("--model_dir is required.")
    result = diagnose(
        FLAGS.model_dir, FLAGS.judge_dir, FLAGS.step, FLAGS.num_clips
    )
    energy = np.round(result["motion_energy_generated"], 2).tolist()
    real = np.round(result["motion_energy_real"], 2).tolist()
    probe = result["direction_probe"]
    confusion = result["motion_confusion"]
    print(f"step {result['step']}, {result['num_clips']} clips")
    print(f"motion energy per step, generated: {energy}")
    print(f"motion energy per step, real:      {real}")
    for name in ("generated", "real"):
        split = result[f"energy_split_{name}"]
        rounded = {
            key: np.round(split[key], 2).tolist()
            for key in ("object_region", "background", "background_share")
        }
        print(
            f"  {name}: object region {rounded['object_region']}, "
            f"background {rounded['background']} (share "
            f"{rounded['background_share']}), object area "
            f"{split['object_area']:.3f}"
        )
    print(
        "D_T direction probe: forward - reversed "
        f"{probe['forward_minus_reversed']:+.3f} (forward wins "
        f"{probe['forward_accuracy']:.2f}), label - twin label "
        f"{probe['label_minus_twin']:+.3f}"
    )
    print(f"judge: {result['judge']}")
    print(
        f"motion confusion (rows requested, cols predicted, "
        f"{confusion['motions']}): {confusion['matrix']}; translate "
        f"{confusion['translate_accuracy']:.2f}, scale "
        f"{confusion['scale_accuracy']:.2f}, right family "
        f"{confusion['family_accuracy']:.2f}, reversed "
        f"{confusion['reversed_rate']:.2f}"
    )
    if "reversed_context" in result:
        for name, scores in result["reversed_context"].items():
            print(
                f"reversed context, {name.replace('_', ' ')}: motion "
                f"accuracy vs the reversed motion "
                f"{scores['motion_accuracy']:.3f}, class accuracy "
                f"{scores['accuracy']:.3f}"
            )
    if FLAGS.json:
        with open(FLAGS.json, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    cli.run(main)
