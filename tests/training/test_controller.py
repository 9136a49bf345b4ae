"""dvdgan_tf.training.controller: host-call scheduling and stop requests."""

import os
import signal

import pytest
import tensorflow as tf

from dvdgan_tf import cli
from dvdgan_tf.training import controller


class _FakeTrainFn:
    """Records the requested steps; logs are the step counts."""

    def __init__(self):
        self.calls = []

    def __call__(self, iterator, num_steps):
        num_steps = int(num_steps)
        self.calls.append(num_steps)
        totals = {"loss": tf.constant(float(num_steps))}
        return totals, tf.constant(num_steps), {"loss": tf.constant(1.0)}


class _Recorder:
    def __init__(self, every):
        self.every = every
        self.outputs = []

    def __call__(self, output):
        self.outputs.append(output)


class _NoStop:
    triggered = False


def test_each_host_call_stops_where_the_next_action_is_due():
    train_fn = _FakeTrainFn()
    every_3, every_5 = _Recorder(3), _Recorder(5)
    loop = controller.Controller(
        train_fn,
        iterator=None,
        train_steps=12,
        steps_per_loop=10,
        actions=[every_3, every_5],
    )
    assert loop.train(0, _NoStop()) == 12
    # Boundaries at 3, 5, 6, 9, 10, 12: never run past a due step.
    assert train_fn.calls == [3, 2, 1, 3, 1, 2]
    steps = [output.step for output in every_3.outputs]
    assert steps == [3, 5, 6, 9, 10, 12]
    assert [o.finished for o in every_3.outputs] == [False] * 5 + [True]


def test_steps_per_loop_bounds_a_call_without_actions():
    train_fn = _FakeTrainFn()
    loop = controller.Controller(train_fn, None, 7, 3, actions=[])
    assert loop.train(1, _NoStop()) == 7
    assert train_fn.calls == [3, 3]


def test_a_stop_request_ends_the_loop_after_the_current_call():
    stop = cli.StopRequest()
    train_fn = _FakeTrainFn()

    def train_and_request_stop(iterator, num_steps):
        stop.triggered = True  # as if SIGTERM arrived during the call
        return train_fn(iterator, num_steps)

    recorder = _Recorder(None)
    loop = controller.Controller(
        train_and_request_stop, None, 100, 4, [recorder]
    )
    assert loop.train(0, stop) == 4
    assert train_fn.calls == [4]
    (output,) = recorder.outputs
    assert output.stopping and not output.finished and output.final


def test_already_trained_runs_no_call():
    train_fn = _FakeTrainFn()
    loop = controller.Controller(train_fn, None, 5, 2, [])
    assert loop.train(5, _NoStop()) == 5
    assert train_fn.calls == []


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_sigterm_or_first_ctrl_c_sets_the_flag_and_handlers_come_back(signum):
    before = signal.getsignal(signum)
    with cli.StopRequest() as stop:
        os.kill(os.getpid(), signum)
        assert stop.triggered
        assert stop.signal_name == signal.Signals(signum).name
    assert signal.getsignal(signum) is before


def test_a_second_ctrl_c_aborts_at_once():
    with pytest.raises(KeyboardInterrupt):
        with cli.StopRequest():
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)
