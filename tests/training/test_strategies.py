"""training.strategies + gan.replicas: strategies, seeds, loss scale."""

import json

import numpy as np
import pytest
import tensorflow as tf

from dvdgan_tf.gan import replicas
from dvdgan_tf.training import strategies


def test_default_strategy_has_one_replica():
    strategy = strategies.make_strategy()
    assert strategy.num_replicas_in_sync == 1
    assert strategies.is_chief(strategy)


@pytest.mark.distributed
def test_mirrored_strategy_uses_the_given_devices(logical_cpus):
    strategy = strategies.make_strategy(
        strategy="mirrored", devices=logical_cpus
    )
    assert strategy.num_replicas_in_sync == 2


def test_unknown_strategy_name_lists_the_choices():
    with pytest.raises(ValueError, match="'horovod'.*mirrored"):
        strategies.make_strategy(strategy="horovod")


def test_devices_without_mirrored_strategy_are_rejected():
    with pytest.raises(ValueError, match="only applies to the 'mirrored'"):
        strategies.make_strategy(strategy="default", devices=["/cpu:0"])


def test_multi_worker_without_tf_config_explains_what_to_set(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ValueError, match="TF_CONFIG"):
        strategies.make_strategy(strategy="multi_worker")


def test_malformed_tf_config_is_rejected(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", '{"cluster": {}}')
    with pytest.raises(ValueError, match="cluster.worker and task.index"):
        strategies.make_strategy(strategy="multi_worker")


class _Recorder:
    def __init__(self, events):
        self.events = events

    def configure(self, **kwargs):
        self.events.append(("configure", kwargs))

    def strategy(self, cluster_resolver):
        self.events.append(("strategy", cluster_resolver))
        return "the strategy"


def _multi_worker(monkeypatch, cluster, **kwargs):
    """make_strategy('multi_worker') with TF's two calls recorded."""
    from tensorflow.python.eager import context

    events = []
    recorder = _Recorder(events)
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {"cluster": cluster, "task": {"type": "worker", "index": 0}}
        ),
    )
    monkeypatch.setattr(
        context.context(), "configure_coordination_service", recorder.configure
    )
    monkeypatch.setattr(
        tf.distribute, "MultiWorkerMirroredStrategy", recorder.strategy
    )
    result = strategies.make_strategy(strategy="multi_worker", **kwargs)
    assert result == "the strategy"
    return events


def test_multi_worker_sets_the_heartbeat_timeout_before_the_strategy(
    monkeypatch,
):
    workers = ["127.0.0.1:1", "127.0.0.1:2"]
    events = _multi_worker(
        monkeypatch,
        {"chief": ["127.0.0.1:0"], "worker": workers},
        heartbeat_timeout_s=42.5,
    )
    assert [name for name, _ in events] == ["configure", "strategy"]
    config = events[0][1]
    assert config["heartbeat_timeout_in_ms"] == 42_500
    assert config["service_type"] == "standalone"
    assert config["service_leader"] == "/job:chief/replica:0/task:0"
    assert [
        (job.name, job.num_tasks) for job in config["coordinated_jobs"]
    ] == [
        ("chief", 1),
        ("worker", 2),
    ]
    resolver = events[1][1]
    assert resolver.cluster_spec().as_dict()["worker"] == workers


def test_multi_worker_heartbeat_defaults_to_a_minute_led_by_worker_0(
    monkeypatch,
):
    events = _multi_worker(
        monkeypatch, {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    )
    config = events[0][1]
    assert strategies.DEFAULT_HEARTBEAT_TIMEOUT_S == 60
    assert config["heartbeat_timeout_in_ms"] == 60_000
    assert config["service_leader"] == "/job:worker/replica:0/task:0"
    assert [
        (job.name, job.num_tasks) for job in config["coordinated_jobs"]
    ] == [("worker", 2)]


def test_heartbeat_timeout_under_a_second_is_refused(monkeypatch):
    monkeypatch.setenv(
        "TF_CONFIG",
        json.dumps(
            {
                "cluster": {"worker": ["a:1"]},
                "task": {"type": "worker", "index": 0},
            }
        ),
    )
    with pytest.raises(ValueError, match="at least 1 second; received: 0.5"):
        strategies.make_strategy(
            strategy="multi_worker", heartbeat_timeout_s=0.5
        )


def test_per_replica_loss_is_scaled_by_the_global_batch():
    loss = replicas.scale_per_example_loss(
        tf.constant([1.0, 3.0]), global_batch_size=8
    )
    assert float(loss) == pytest.approx(0.5)


def test_global_batch_must_split_evenly_over_replicas():
    strategy = strategies.make_strategy()
    assert strategies.per_replica_batch_size(strategy, 6) == 6
    with pytest.raises(ValueError, match="global_batch_size=0"):
        strategies.per_replica_batch_size(strategy, 0)


def test_replica_seed_depends_on_every_salt():
    seed = tf.constant([3, 4], tf.int64)
    first = replicas.replica_seed(seed, 1, 2)
    assert not np.array_equal(first, replicas.replica_seed(seed, 1, 3))
    assert not np.array_equal(first, replicas.replica_seed(seed, 2, 2))
    np.testing.assert_array_equal(first, replicas.replica_seed(seed, 1, 2))
