"""One training process per model_dir (store.run_lock), and resuming from
the newest checkpoint on disk when the checkpoint index lags behind it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
import tensorflow as tf

from dvdgan_tf.store import checkpointing
from dvdgan_tf.store import run_lock
from dvdgan_tf.training import trainer as training
from tests import tiny_gan

REPO = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))


def test_a_second_holder_is_refused_with_the_first_ones_pid(tmp_path):
    with run_lock.hold(str(tmp_path)):
        with pytest.raises(run_lock.ModelDirBusyError) as raised:
            with run_lock.hold(str(tmp_path)):
                pass
    message = str(raised.value)
    assert f"pid {os.getpid()}" in message
    assert str(tmp_path) in message and "another model_dir" in message


def test_the_lock_is_free_again_after_the_run(tmp_path):
    with run_lock.hold(str(tmp_path)):
        pass
    with run_lock.hold(str(tmp_path)):
        pass
    assert (tmp_path / run_lock.LOCK_FILE).read_text() == ""


def test_non_chief_workers_do_not_lock(tmp_path):
    with run_lock.hold(str(tmp_path)):
        with run_lock.hold(str(tmp_path), enabled=False):
            pass


def test_a_killed_holder_leaves_no_lock_behind(tmp_path):
    code = (
        "import sys, time\n"
        "from dvdgan_tf.store import run_lock\n"
        "with run_lock.hold(sys.argv[1]):\n"
        "    print('held', flush=True)\n"
        "    time.sleep(60)\n"
    )
    holder = subprocess.Popen(
        [sys.executable, "-c", code, str(tmp_path)],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO),
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(run_lock.ModelDirBusyError, match=str(holder.pid)):
            with run_lock.hold(str(tmp_path)):
                pass
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    finally:
        if holder.poll() is None:
            holder.kill()
    # The stale text is still in the file; the lock is not.
    assert str(holder.pid) in (tmp_path / run_lock.LOCK_FILE).read_text()
    with run_lock.hold(str(tmp_path)):
        pass


def test_training_into_a_busy_model_dir_is_refused_before_building(tmp_path):
    model_dir = str(tmp_path)
    built = []

    def generator_builder():
        built.append(1)
        return tiny_gan.build_generator()

    with run_lock.hold(model_dir):
        with pytest.raises(run_lock.ModelDirBusyError, match="being trained"):
            training.run(
                None,
                **tiny_gan.run_kwargs(
                    model_dir, 1, generator_builder=generator_builder
                ),
            )
    assert not built
    assert checkpointing.list_checkpoint_steps(model_dir) == []


def test_resume_uses_a_complete_checkpoint_the_index_does_not_name(tmp_path):
    """Ctrl-C twice between a save and the index update left ckpt-2 on disk
    with `checkpoint` still naming ckpt-1: resume from 2, not 1."""
    model_dir = str(tmp_path)
    tf.config.run_functions_eagerly(True)
    try:
        training.run(
            None, **tiny_gan.run_kwargs(model_dir, 2, checkpoint_every=1)
        )
        directory = checkpointing.checkpoint_dir(model_dir)
        with open(os.path.join(directory, "ckpt-2.index"), "rb") as f:
            saved = f.read()
        with open(os.path.join(directory, "checkpoint"), "w") as f:
            f.write(
                'model_checkpoint_path: "ckpt-1"\n'
                'all_model_checkpoint_paths: "ckpt-1"\n'
            )
        assert checkpointing.list_checkpoint_steps(model_dir) == [1, 2]
        mtime = os.path.getmtime(os.path.join(directory, "ckpt-2.index"))
        time.sleep(0.01)
        result = training.run(
            None, **tiny_gan.run_kwargs(model_dir, 3, checkpoint_every=1)
        )
    finally:
        tf.config.run_functions_eagerly(False)
    assert (result.initial_step, result.step) == (2, 3)
    with open(os.path.join(directory, "ckpt-2.index"), "rb") as f:
        assert f.read() == saved  # not overwritten
    assert os.path.getmtime(os.path.join(directory, "ckpt-2.index")) == mtime
    assert checkpointing.list_checkpoint_steps(model_dir)[-1] == 3
