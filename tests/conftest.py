"""Shared test set-up: two logical CPU devices, gin hygiene, fixed seeds.

The CPU is split into two logical devices once, before TensorFlow creates
its context, so `MirroredStrategy(["/cpu:0", "/cpu:1"])` tests run in the same
pytest process as everything else. Single-device code only ever sees /cpu:0.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

import gin  # noqa: E402
import keras  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402

# The module-scoped `tiny_model_dir` fixture, for every test module.
pytest_plugins = ["tests.model_dir_fixture"]

NUM_LOGICAL_CPUS = 2


def _split_cpu() -> None:
    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(
            cpus[0],
            [tf.config.LogicalDeviceConfiguration()] * NUM_LOGICAL_CPUS,
        )
    except RuntimeError:
        # The context already exists (e.g. a plugin touched TF first); the
        # distributed tests then skip themselves via `logical_cpus`.
        pass


_split_cpu()


@pytest.fixture
def logical_cpus():
    """Names of the two logical CPU devices, for MirroredStrategy tests."""
    devices = [d.name for d in tf.config.list_logical_devices("CPU")]
    if len(devices) < NUM_LOGICAL_CPUS:
        pytest.skip("two logical CPU devices are not available")
    return devices[:NUM_LOGICAL_CPUS]


# TF caches collective-op parameters per (group key, instance key) for the
# whole process, and every MirroredStrategy numbers its keys from the class
# attribute `_collective_key_base` ("only set this in tests"; TF's own
# strategy_combinations does the same). Without a fresh base, the second
# strategy of a pytest process reuses the first one's keys and its all-reduce
# fails with "Shape mismatch in the collective instance 100".
_KEY_BASE_STEP = 100_000


@pytest.fixture(autouse=True)
def _fresh_collective_keys():
    """Fresh collective keys for the MirroredStrategy instances of each test."""
    tf.distribute.MirroredStrategy._collective_key_base += _KEY_BASE_STEP
    yield


@pytest.fixture
def mirrored_strategy(logical_cpus):
    """A MirroredStrategy over the two logical CPUs with its own keys."""
    tf.distribute.MirroredStrategy._collective_key_base += _KEY_BASE_STEP
    strategy = tf.distribute.MirroredStrategy(logical_cpus)
    # Leave a fresh base for strategies created later in the same test.
    tf.distribute.MirroredStrategy._collective_key_base += _KEY_BASE_STEP
    return strategy


@pytest.fixture(autouse=True)
def _clean_gin_and_seed():
    gin.clear_config()
    keras.utils.set_random_seed(0)
    yield
    gin.clear_config()
