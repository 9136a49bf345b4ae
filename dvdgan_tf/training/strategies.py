"""Distribution strategies: which one, which devices, which worker writes.

The training loop is the project's own (Model Garden / orbit style): a
`tf.function` that runs ``steps_per_loop`` steps of ``strategy.run(step_fn)``
per host call. Keras 3's ``fit`` is not used because it breaks under
multi-replica strategies (docs/DESIGN.md K2: ``steps_per_execution > 1``
fails under Mirrored, MultiWorkerMirrored needs private-API patches).

Strategies (`make_strategy`):

* ``tpu=NAME`` (or ``"local"``): `TPUClusterResolver` ->
  ``experimental_connect_to_cluster`` -> ``initialize_tpu_system`` ->
  `TPUStrategy`.
* ``"default"``: the default (single-device, no-op) strategy.
* ``"mirrored"``: `MirroredStrategy` over all local GPUs (or the CPU when
  there is none), or over the given ``devices``.
* ``"multi_worker"``: `MultiWorkerMirroredStrategy`; the cluster comes from
  the ``TF_CONFIG`` environment variable.

Multi-worker runs first configure TF's coordination service themselves, for
one reason: its heartbeat timeout. The service declares a worker lost when
it has not heard from it for that long, and every collective then aborts.
TF's default is 10 s, and a busy host misses that: on the 2-core CI box a
worker that was only building its model was declared lost by its own leader
("Task ... heartbeat timeout") and the run failed. `make_strategy` sets
`DEFAULT_HEARTBEAT_TIMEOUT_S` (60 s) instead; ``train --worker_heartbeat_s``
changes it (docs/DESIGN.md K21). A killed worker is still noticed at once
(its connections close); a host that vanishes silently is reported by the
survivors' ``WorkerLostError`` after a minute instead of TF's 10 s. TF has
no public API for this setting, so `_configure_coordination_service` uses
the two private calls that MultiWorkerMirroredStrategy itself makes (it
skips its own configuration when one is already set).
"""

from __future__ import annotations

import enum
import json
import os
from typing import Callable
from typing import Sequence

import tensorflow as tf
from absl import logging

# Seconds without a heartbeat after which a worker is declared lost.
DEFAULT_HEARTBEAT_TIMEOUT_S = 60.0


class StrategyKind(enum.Enum):
    """`--strategy` values (TPU is chosen by `--tpu` instead)."""

    DEFAULT = "default"
    MIRRORED = "mirrored"
    MULTI_WORKER = "multi_worker"


def make_strategy(
    tpu: str | None = None,
    strategy: StrategyKind | str = StrategyKind.DEFAULT,
    devices: Sequence[str] | None = None,
    heartbeat_timeout_s: float = DEFAULT_HEARTBEAT_TIMEOUT_S,
) -> tf.distribute.Strategy:
    """Builds the distribution strategy. Call before building any variable.

    Args:
        tpu: TPU name or address (``"local"`` on a TPU VM). When set,
            `strategy` and `devices` are ignored.
        strategy: a `StrategyKind` or its value.
        devices: for "mirrored" only: explicit device names (e.g.
            ``["/gpu:0", "/gpu:1"]``); default all local GPUs.
        heartbeat_timeout_s: for "multi_worker" only: seconds without a
            heartbeat after which the coordination service declares a
            worker lost (TF's own default, 10 s, fails on busy hosts).

    Returns:
        The strategy.

    Raises:
        ValueError: on an unknown strategy name, devices given for a
            strategy other than "mirrored", "multi_worker" without a
            usable TF_CONFIG, or a heartbeat timeout under 1 s.
    """
    if tpu:
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        logging.info("TPU %s: %s", tpu, resolver.cluster_spec().as_dict())
        return tf.distribute.TPUStrategy(resolver)
    try:
        kind = StrategyKind(getattr(strategy, "value", strategy))
    except ValueError:
        raise ValueError(
            f"Unknown strategy {strategy!r}; expected one of "
            f"{[k.value for k in StrategyKind]} (or --tpu=NAME)."
        ) from None
    if devices and kind is not StrategyKind.MIRRORED:
        raise ValueError(
            "`devices` only applies to the 'mirrored' strategy; received "
            f"devices={list(devices)} with strategy={kind.value!r}."
        )
    if kind is StrategyKind.DEFAULT:
        return tf.distribute.get_strategy()
    if kind is StrategyKind.MIRRORED:
        if devices:
            _check_devices_exist(devices)
        return tf.distribute.MirroredStrategy(
            devices=list(devices) if devices else None
        )
    _check_tf_config()
    if not heartbeat_timeout_s >= 1:
        raise ValueError(
            "The worker heartbeat timeout must be at least 1 second; "
            f"received: {heartbeat_timeout_s!r}."
        )
    resolver = tf.distribute.cluster_resolver.TFConfigClusterResolver()
    _configure_coordination_service(
        resolver.cluster_spec(), heartbeat_timeout_s
    )
    return tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=resolver)


def _configure_coordination_service(
    cluster_spec: tf.train.ClusterSpec, heartbeat_timeout_s: float
) -> None:
    """What MultiWorkerMirroredStrategy would configure, with our heartbeat.

    The same leader (the chief, else worker 0) and coordinated jobs as
    `tf.distribute.MultiWorkerMirroredStrategy._initialize_multi_worker`;
    only ``heartbeat_timeout_in_ms`` differs. Must run before the eager
    context is initialised (i.e. before the strategy is built).
    """
    # Private TF APIs: there is no public way to set the heartbeat timeout.
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.distribute import multi_worker_util
    from tensorflow.python.eager import context

    jobs = [
        coordination_config_pb2.CoordinatedJob(
            name=job, num_tasks=cluster_spec.num_tasks(job)
        )
        for job in ("chief", "worker")
        if job in cluster_spec.jobs
    ]
    context.context().configure_coordination_service(
        service_type="standalone",
        service_leader=multi_worker_util.coordination_leader(cluster_spec),
        coordinated_jobs=jobs,
        heartbeat_timeout_in_ms=int(heartbeat_timeout_s * 1000),
    )
    logging.info(
        "Coordination service: a worker silent for %.0f s is declared lost.",
        heartbeat_timeout_s,
    )


def _check_devices_exist(devices: Sequence[str]) -> None:
    """Refuses device names this host does not have.

    MirroredStrategy would otherwise place a missing /gpu:N on the CPU
    without a word (soft placement).
    """

    def short_name(name: str) -> str:  # "/job:.../device:GPU:1" -> "/gpu:1"
        spec = tf.DeviceSpec.from_string(name)
        return f"/{(spec.device_type or '').lower()}:{spec.device_index}"

    available = {short_name(d.name) for d in tf.config.list_logical_devices()}
    missing = [d for d in devices if short_name(d) not in available]
    if missing:
        raise ValueError(
            f"Device(s) {missing} do not exist on this host; it has "
            f"{sorted(available)}. Pass --devices from that list, or "
            "omit --devices to use every local GPU."
        )


def _check_tf_config() -> None:
    raw = os.environ.get("TF_CONFIG")
    if not raw:
        raise ValueError(
            "strategy='multi_worker' needs the TF_CONFIG environment variable "
            '(e.g. {"cluster": {"worker": ["host1:port", "host2:port"]}, '
            '"task": {"type": "worker", "index": 0}}); it is not set.'
        )
    try:
        config = json.loads(raw)
        config["cluster"]["worker"]
        config["task"]["index"]
    except (ValueError, KeyError, TypeError) as error:
        raise ValueError(
            "TF_CONFIG must be JSON with cluster.worker and task.index; "
            f"received: TF_CONFIG={raw!r} ({error})."
        ) from None


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """True on the worker that writes checkpoints, summaries and files.

    Under MultiWorkerMirroredStrategy every worker must still take part in
    checkpoint saves (they are collective); only the chief's go to the real
    model_dir.
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ):
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    return task_type in (None, "chief") or (
        task_type == "worker"
        and task_id == 0
        and "chief" not in resolver.cluster_spec().as_dict()
    )


def worker_model_dir(strategy: tf.distribute.Strategy, model_dir: str) -> str:
    """Where this worker writes: model_dir on the chief, a scratch dir else.

    Multi-worker checkpointing requires every worker to save (the save is
    collective), but non-chief copies must not clobber the chief's; the
    standard recipe writes them to a per-worker temporary directory.
    """
    if is_chief(strategy):
        return model_dir
    resolver = strategy.cluster_resolver
    return os.path.join(
        model_dir, "workers", f"{resolver.task_type}_{resolver.task_id}"
    )


def remove_worker_dir(strategy: tf.distribute.Strategy, model_dir: str):
    """Deletes a non-chief worker's scratch directory (no-op on the chief).

    Also removes the shared ``workers/`` parent once it is empty. Called at
    the end of a run and at its start (a killed run's stale scratch
    checkpoint must not be restored), so a missing directory is fine.
    """
    if is_chief(strategy):
        return
    write_dir = worker_model_dir(strategy, model_dir)
    if tf.io.gfile.exists(write_dir):
        tf.io.gfile.rmtree(write_dir)
    parent = os.path.dirname(write_dir)
    try:
        if not tf.io.gfile.listdir(parent):
            tf.io.gfile.rmtree(parent)
    except tf.errors.NotFoundError:
        pass  # Another worker removed it first.


def distribute_dataset(
    strategy: tf.distribute.Strategy,
    dataset_fn: Callable[[tf.distribute.InputContext], tf.data.Dataset],
):
    """Per-host input: ``dataset_fn(input_context)`` on every input pipeline.

    Args:
        strategy: the strategy.
        dataset_fn: returns the per-replica-batched dataset for one input
            pipeline (e.g. `pipeline.make_dataset`).

    Returns:
        A `tf.distribute.DistributedDataset`.
    """
    return strategy.distribute_datasets_from_function(dataset_fn)


def per_replica_batch_size(
    strategy: tf.distribute.Strategy, global_batch_size: int
) -> int:
    """The per-replica batch, validating divisibility.

    Raises:
        ValueError: if the global batch does not split evenly.
    """
    replicas = strategy.num_replicas_in_sync
    if global_batch_size <= 0 or global_batch_size % replicas:
        raise ValueError(
            "Expected a positive global batch size divisible by the number of "
            f"replicas ({replicas}); received: global_batch_size="
            f"{global_batch_size}."
        )
    return global_batch_size // replicas
