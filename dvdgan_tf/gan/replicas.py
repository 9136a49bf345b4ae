"""What a training step needs to know about replicas: seeds and loss scale.

Both functions run in a replica context (inside ``strategy.run``), under
any `tf.distribute` strategy, including the default one:

* `replica_seed`: every replica draws different noise (docs/DESIGN.md K5);
* `scale_per_example_loss` / `scale_regularization_loss`: the summed
  gradients of all replicas equal the full-batch gradient on one device
  (docs/DESIGN.md K4);
* `num_replicas`: the replicas in sync, to turn a per-replica batch into
  the global one.

Strategy construction is `training.strategies`'.
"""

from __future__ import annotations

import tensorflow as tf


def num_replicas() -> int:
    """Replicas in sync, from the current replica context."""
    return tf.distribute.get_replica_context().num_replicas_in_sync


def replica_seed(seed, *salts) -> tf.Tensor:
    """A stateless seed distinct per replica and per purpose.

    Must be called in a replica context (inside ``strategy.run``): the
    replica id is folded in with `tf.random.experimental.stateless_fold_in`
    so every replica draws different noise (a mirrored seed variable would
    give identical draws, docs/DESIGN.md K5).

    Args:
        seed: int32/int64 [2] stateless seed.
        *salts: ints/int tensors folded in after the replica id (e.g. the
            step and a purpose code).

    Returns:
        int64 [2].
    """
    replica_id = tf.distribute.get_replica_context().replica_id_in_sync_group
    seed = tf.cast(seed, tf.int64)
    seed = tf.random.experimental.stateless_fold_in(
        seed, tf.cast(replica_id, tf.int64)
    )
    for salt in salts:
        seed = tf.random.experimental.stateless_fold_in(
            seed, tf.cast(salt, tf.int64)
        )
    return seed


def scale_per_example_loss(
    per_example_loss: tf.Tensor, global_batch_size: int
) -> tf.Tensor:
    """Sum of per-replica losses divided by the *global* batch size.

    `apply_gradients` in a replica context all-reduce-SUMs gradients, so a
    replica-local mean would be `num_replicas` times too large
    (docs/DESIGN.md K4; Model Garden `Task.train_step`). With this scaling
    the summed gradients equal those of the full-batch mean on one device.

    Args:
        per_example_loss: float [B] (B = per-replica batch).
        global_batch_size: B * num_replicas_in_sync.

    Returns:
        float32 scalar.
    """
    return tf.nn.compute_average_loss(
        tf.cast(per_example_loss, tf.float32),
        global_batch_size=global_batch_size,
    )


def scale_regularization_loss(loss: tf.Tensor) -> tf.Tensor:
    """A batch-independent loss term divided by the number of replicas."""
    return tf.nn.scale_regularization_loss(tf.cast(loss, tf.float32))
