"""Checkpoint saves that fail: a disk that fills up, a filesystem that is
briefly (or for good) unavailable. The previous checkpoint stays loadable,
no half-written checkpoint stays behind, and the error says what to do."""

from __future__ import annotations

import os

import pytest
import tensorflow as tf

from dvdgan_tf.store import checkpointing


class _FlakyManager(tf.train.CheckpointManager):
    """Fails `save` with the queued errors first (after leaving partial
    files, as an interrupted write does), then saves for real."""

    def __init__(self, checkpoint, directory, failures):
        super().__init__(checkpoint, directory, max_to_keep=3)
        self.failures = list(failures)
        self.attempts = 0

    def save(self, checkpoint_number=None, **kwargs):
        self.attempts += 1
        if self.failures:
            prefix = os.path.join(self.directory, f"ckpt-{checkpoint_number}")
            with open(prefix + ".data-00000-of-00001", "wb") as f:
                f.write(b"half")
            os.makedirs(prefix + "_temp/part-00000", exist_ok=True)
            raise self.failures.pop(0)
        return super().save(checkpoint_number=checkpoint_number, **kwargs)


def _model_dir_with_first_checkpoint(tmp_path, failures):
    model_dir = str(tmp_path)
    variable = tf.Variable(1.0)
    checkpoint = tf.train.Checkpoint(v=variable)
    manager = _FlakyManager(
        checkpoint, checkpointing.checkpoint_dir(model_dir), []
    )
    checkpointing.save_with_retries(manager, 1, sleep=lambda s: None)
    variable.assign(2.0)
    manager.failures = list(failures)
    return model_dir, variable, checkpoint, manager


def _files(model_dir):
    return sorted(os.listdir(checkpointing.checkpoint_dir(model_dir)))


def test_a_full_disk_keeps_the_previous_checkpoint_and_says_so(tmp_path):
    model_dir, variable, checkpoint, manager = _model_dir_with_first_checkpoint(
        tmp_path,
        [tf.errors.ResourceExhaustedError(None, None, "No space left")],
    )
    with pytest.raises(checkpointing.CheckpointSaveError) as raised:
        checkpointing.save_with_retries(manager, 2, sleep=lambda s: None)
    message = str(raised.value)
    assert "ckpt-2" in message and "No space left" in message
    assert (
        "ckpt-1 is intact" in message and "re-run the same command" in message
    )
    assert manager.attempts == 2  # not retried: a full disk stays full
    # No partial ckpt-2 left; ckpt-1 is what a resume restores.
    assert not [name for name in _files(model_dir) if "ckpt-2" in name]
    variable.assign(5.0)
    path = checkpointing.restore_latest(checkpoint, model_dir)
    assert path.endswith("ckpt-1") and float(variable.numpy()) == 1.0


def test_a_briefly_unavailable_filesystem_is_retried(tmp_path):
    unavailable = tf.errors.UnavailableError(None, None, "connection reset")
    model_dir, _, _, manager = _model_dir_with_first_checkpoint(
        tmp_path, [unavailable, OSError(5, "Input/output error")]
    )
    waits = []
    path = checkpointing.save_with_retries(manager, 2, sleep=waits.append)
    assert path.endswith("ckpt-2") and waits == [2.0, 4.0]
    assert checkpointing.list_checkpoint_steps(model_dir) == [1, 2]
    assert not [name for name in _files(model_dir) if "_temp" in name]


def test_a_filesystem_that_stays_away_is_a_clear_error_after_retries(
    tmp_path,
):
    failures = [tf.errors.UnavailableError(None, None, "gone")] * 4
    model_dir, _, _, manager = _model_dir_with_first_checkpoint(
        tmp_path, failures
    )
    waits = []
    with pytest.raises(checkpointing.CheckpointSaveError, match="after 4"):
        checkpointing.save_with_retries(manager, 2, sleep=waits.append)
    assert waits == [2.0, 4.0, 8.0]
    assert checkpointing.list_checkpoint_steps(model_dir) == [1]
