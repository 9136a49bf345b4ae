"""Fixtures of the model tests."""

import pytest
import tensorflow as tf

# TF caches collective-op parameters per (group key, instance key) for the
# whole process, and every MirroredStrategy numbers its keys from the class
# attribute `_collective_key_base` ("only set this in tests", TF's own
# strategy_combinations does the same). Without a fresh base, the second
# strategy of a pytest process reuses the first one's keys and its all-reduce
# fails with "Shape mismatch in the collective instance 100".
_KEY_BASE_STEP = 100_000


@pytest.fixture
def mirrored_strategy(logical_cpus):
    """A MirroredStrategy over the two logical CPUs with its own keys."""
    tf.distribute.MirroredStrategy._collective_key_base += _KEY_BASE_STEP
    strategy = tf.distribute.MirroredStrategy(logical_cpus)
    # Leave a fresh base for strategies created later in the process.
    tf.distribute.MirroredStrategy._collective_key_base += _KEY_BASE_STEP
    return strategy
