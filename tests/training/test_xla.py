"""TPU/XLA requirements: the step lowers to XLA, the input is static.

A TPU runs only XLA: every op of the per-replica step needs an XLA kernel
(no py_func, string or host-side op) and every input shape must be static.
bench/xla_compile.py lowers every paper config; these tests keep the tiny
models and the input pipeline honest on every run.
"""

import importlib.util
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.data import pipeline
from dvdgan_tf.gan import dvdgan as gan
from dvdgan_tf.training import costs
from tests import tiny_config as tiny
from tests import tiny_gan
from tests.data import fixtures
from tests.model_dir_fixture import build_tiny_generator

_BENCH = os.path.join(
    os.path.dirname(os.path.dirname(os.path.dirname(__file__))),
    "bench",
    "xla_compile.py",
)


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("xla_compile_bench", _BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow  # ~1 min of XLA compilation
def test_the_bfloat16_fp_step_passes_xlas_verifier(bench):
    # A TPU runs mixed_bfloat16 under XLA; DVD-GAN-FP exercises every
    # network (context encoder, G, D_S, D_T). Until models.blocks resized in
    # float32, the upsampling gradient failed XLA's HLO verifier here.
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = gan.build_dvdgan(
            build_tiny_generator(num_conditioning_frames=1),
            tiny_gan.build_spatial_discriminator(),
            tiny_gan.build_temporal_discriminator(),
            num_discriminator_steps=2,
        )
        model.compile(
            generator_optimizer=tiny_gan.make_generator_optimizer(),
            discriminator_optimizer=tiny_gan.make_discriminator_optimizer(),
        )
        spec = costs.step_input_spec(model, batch_size=1)
        assert spec["video"].shape.as_list() == [2, tiny.FRAMES, 16, 16, 3]
        hlo = bench.lower(model, spec, stage="optimized_hlo")
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert "HloModule" in hlo
    assert "bf16[" in hlo  # the step really computes in bfloat16


def test_an_op_without_an_xla_kernel_is_reported_by_name(bench):
    @tf.function(jit_compile=True)
    def host_side(x):
        return tf.py_function(lambda v: v * 2, [x], tf.float32)

    with pytest.raises(Exception) as raised:
        host_side.experimental_get_compiler_ir(tf.ones([2]))(stage="hlo")
    assert bench.unsupported_ops(str(raised.value)) == ["EagerPyFunc"]


def test_training_batches_are_static_when_the_clips_do_not_divide(tmp_path):
    # 5 clips, per-replica batch 2: a TPU needs every batch to be [2, ...].
    pattern, _, _ = fixtures.write_synthetic_shards(
        str(tmp_path), 1, 5, num_frames=tiny.FRAMES
    )
    context = tf.distribute.InputContext(
        num_input_pipelines=1, input_pipeline_id=0, num_replicas_in_sync=2
    )
    dataset = pipeline.make_dataset(
        context,
        file_pattern=pattern,
        global_batch_size=4,
        num_frames=tiny.FRAMES,
        resolution=tiny.RESOLUTION,
        seed=0,
    )
    spec = dataset.element_spec
    assert spec["video"].shape.is_fully_defined()
    assert spec["label"].shape.is_fully_defined()
    batches = list(dataset.take(6).as_numpy_iterator())
    assert [b["video"].shape[0] for b in batches] == [2] * 6
    assert all(np.isfinite(b["video"]).all() for b in batches)
