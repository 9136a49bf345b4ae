"""Tests of the model_dir layout and strict, path-keyed checkpoints."""

import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.store import checkpointing
from dvdgan_tf.store.metadata import RunMetadata


class _Block(keras.layers.Layer):
    def __init__(self, width, **kwargs):
        super().__init__(**kwargs)
        # Held in a list on purpose: Keras 3 hides these from TF's
        # object-graph checkpointing; path-keyed checkpoints must not.
        self.dense_layers = [
            keras.layers.Dense(width, name=f"dense_{i}") for i in range(2)
        ]

    def call(self, x):
        for layer in self.dense_layers:
            x = layer(x)
        return x


class _Model(keras.Model):
    def __init__(self, width=3, **kwargs):
        super().__init__(**kwargs)
        self.blocks = [_Block(width, name=f"block_{i}") for i in range(2)]
        self.norm = keras.layers.BatchNormalization(name="norm")

    def call(self, x, training=False):
        for block in self.blocks:
            x = block(x)
        return self.norm(x, training=training)


def _built(width=3, name="generator"):
    model = _Model(width, name=name)
    model(tf.zeros([1, 3]))
    return model


def _save(model_dir, step, **objects):
    checkpoint = checkpointing.build_checkpoint(
        step=tf.Variable(step, dtype=tf.int64), **objects
    )
    manager = checkpointing.make_manager(checkpoint, model_dir)
    return manager.save(checkpoint_number=step)


def test_list_held_layers_round_trip_between_differently_named_models(tmp_path):
    source = _built(name="generator")
    for variable in source.variables:
        variable.assign(np.random.RandomState(1).randn(*variable.shape))
    path = _save(str(tmp_path), 7, ema_generator=source)
    target = _built(name="ema_generator")
    checkpointing.restore_objects(path, ema_generator=target)
    assert len(target.variables) == 12  # 2 blocks x 2 dense x 2 + BN 4
    for a, b in zip(source.variables, target.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_restore_names_variables_of_another_shape(tmp_path):
    path = _save(str(tmp_path), 1, ema_generator=_built(width=3))
    with pytest.raises(checkpointing.CheckpointError) as error:
        checkpointing.restore_objects(path, ema_generator=_built(width=4))
    message = str(error.value)
    assert "block_0/dense_0/kernel: shape [3, 3] in the checkpoint" in message
    assert "[3, 4] in the model" in message


def test_restore_reports_a_missing_object(tmp_path):
    path = _save(str(tmp_path), 1, generator=_built())
    with pytest.raises(
        checkpointing.CheckpointError, match="no `ema_generator`"
    ):
        checkpointing.restore_objects(path, ema_generator=_built())


def test_duplicate_variable_paths_are_rejected():
    class _Twins(keras.Model):
        def __init__(self):
            super().__init__(name="twins")
            self.first = keras.layers.Dense(2, name="same")
            self.second = keras.layers.Dense(2, name="same")

        def call(self, x):
            return self.second(self.first(x))

    model = _Twins()
    model(tf.zeros([1, 2]))
    with pytest.raises(ValueError, match="share the path"):
        checkpointing.model_variables(model)


def test_resolve_checkpoint_latest_and_by_step(tmp_path):
    model_dir = str(tmp_path)
    model = _built()
    _save(model_dir, 3, generator=model)
    _save(model_dir, 5, generator=model)
    assert checkpointing.list_checkpoint_steps(model_dir) == [3, 5]
    assert checkpointing.resolve_checkpoint(model_dir)[1] == 5
    path, step = checkpointing.resolve_checkpoint(model_dir, step=3)
    assert step == 3 and path.endswith("ckpt-3")
    with pytest.raises(
        checkpointing.CheckpointError, match=r"available steps: \[3, 5\]"
    ):
        checkpointing.resolve_checkpoint(model_dir, step=4)


def test_resolve_checkpoint_errors_without_checkpoints(tmp_path):
    with pytest.raises(checkpointing.CheckpointError, match="No checkpoint"):
        checkpointing.resolve_checkpoint(str(tmp_path))
    with pytest.raises(checkpointing.CheckpointError, match="does not exist"):
        checkpointing.resolve_checkpoint(str(tmp_path / "nope"))


def test_partial_checkpoint_is_reported(tmp_path):
    model_dir = str(tmp_path)
    path = _save(model_dir, 2, generator=_built())
    for data in tf.io.gfile.glob(path + ".data-*"):
        os.remove(data)
    with pytest.raises(checkpointing.CheckpointError, match="partial"):
        checkpointing.resolve_checkpoint(model_dir)


def test_unknown_object_name_is_rejected():
    with pytest.raises(ValueError, match="Unknown checkpoint object names"):
        checkpointing.build_checkpoint(generater=_built())


def test_model_spec_files_are_written_atomically_and_read_back(tmp_path):
    class _Spec:
        def get_config(self):
            return {"resolution": 16}

    checkpointing.write_model_spec(str(tmp_path), _Spec(), {"fps": 25.0})
    assert checkpointing.read_generator_config(str(tmp_path)) == {
        "resolution": 16
    }
    # The metadata reader is typed (store.metadata): the given key comes
    # back, every other field with its default.
    metadata = checkpointing.read_metadata(str(tmp_path))
    assert metadata.fps == 25.0 and metadata == RunMetadata(fps=25.0)
    assert sorted(os.listdir(tmp_path)) == [
        "generator_config.json",
        "metadata.json",
    ]
    (tmp_path / "metadata.json").write_text("{broken")
    with pytest.raises(checkpointing.CheckpointError, match="not valid JSON"):
        checkpointing.read_metadata(str(tmp_path))
    json.loads((tmp_path / "generator_config.json").read_text())
