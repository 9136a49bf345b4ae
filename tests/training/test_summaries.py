"""TensorBoard output: scalars, animated GIF samples, gin text."""

import glob

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing import event_accumulator

from dvdgan_tf.training import summaries


def _read_events(logdir):
    accumulator = event_accumulator.EventAccumulator(
        glob.glob(f"{logdir}/events.*")[0],
        size_guidance={event_accumulator.TENSORS: 0},
    )
    accumulator.Reload()
    return accumulator


class _ConstantGenerator:
    """Returns videos whose pixels equal the class index / 10."""

    def __call__(self, z, labels, training=False):
        assert training is False
        batch = z.shape[0]
        values = tf.cast(tf.reshape(labels, [batch, 1, 1, 1, 1]), tf.float32)
        return tf.ones([batch, 3, 4, 4, 3]) * values / 10.0


def test_video_grid_places_videos_row_major_with_padding():
    videos = np.stack(
        [np.full((2, 3, 3, 3), value, np.uint8) for value in (10, 20, 30, 40)]
    )
    grid = summaries.make_video_grid(videos, rows=2, pad=1)
    assert grid.shape == (2, 7, 7, 3)
    assert grid[0, 0, 0, 0] == 10 and grid[0, 0, 4, 0] == 20
    assert grid[1, 4, 0, 0] == 30 and grid[1, 6, 6, 0] == 40
    assert grid[0, 3, 3, 0] == 0  # padding


def test_video_grid_rejects_rows_that_do_not_divide_count():
    with pytest.raises(ValueError, match="rows=3"):
        summaries.make_video_grid(np.zeros((4, 1, 2, 2, 3)), rows=3)


def test_sample_grid_has_one_row_per_class_capped_and_shared_latents():
    grid = summaries.SampleGrid(num_classes=20, latent_dim=5, columns=3)
    assert grid.rows == summaries.MAX_SAMPLE_ROWS
    assert grid.z.shape == (36, 5)
    np.testing.assert_array_equal(grid.z[0:3], grid.z[3:6])
    np.testing.assert_array_equal(grid.labels[:6], [0, 0, 0, 1, 1, 1])


def test_unconditional_sample_grid_has_one_row_without_labels():
    grid = summaries.SampleGrid(num_classes=0, latent_dim=5, columns=2)
    assert grid.rows == 1 and grid.labels is None


def test_gif_scalar_and_text_summaries_read_back_with_event_accumulator(
    tmp_path,
):
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        summaries.write_scalars({"losses/generator": 1.5}, step=3)
        summaries.SampleGrid(num_classes=2, latent_dim=4, columns=2).write(
            _ConstantGenerator(), step=3
        )
        summaries.write_gin_config("a.b = 1", step=3)
    writer.flush()
    events = _read_events(tmp_path)
    tags = events.Tags()["tensors"]
    assert {
        "losses/generator",
        "samples/ema_generator",
        "config/operative_gin",
    } <= set(tags)
    (scalar,) = events.Tensors("losses/generator")
    assert scalar.step == 3
    assert tf.make_ndarray(scalar.tensor_proto) == pytest.approx(1.5)
    (image,) = events.Tensors("samples/ema_generator")
    width, height, gif = tf.make_ndarray(image.tensor_proto)
    assert (int(width), int(height)) == (9, 9)  # 2 x 4 pixels + 1 padding
    assert gif.startswith(b"GIF89a")
    plugin = events.SummaryMetadata("samples/ema_generator").plugin_data
    assert plugin.plugin_name == "images"


def test_progress_line_lists_losses_and_speed():
    line = summaries.format_progress(
        7, 10, {"losses/generator": 0.5, "scores/spatial_real": 9.0}, 2.0, 8.0
    )
    assert line.startswith("step 7/10 generator=0.5")
    assert "spatial_real" not in line
    assert "2 steps/s, 8 examples/s" in line
