"""Gin registrations: the only place that exposes code to gin.

Only top-level builders are configurable (docs/DESIGN.md K13); Keras classes are
never decorated (that crashes Keras 3, docs/DESIGN.md K13). Importing this
module registers everything below under module-qualified names, e.g.
`generator.build_generator.channel_multiplier = %CHANNEL_MULTIPLIER`.
"""

import logging
import os

import gin
import keras
import tensorflow as tf

from dvdgan_tf.data import pipeline
from dvdgan_tf.gan import dvdgan as gan
from dvdgan_tf.gan import losses
from dvdgan_tf.metrics import classifier
from dvdgan_tf.models import discriminators
from dvdgan_tf.models import generator
from dvdgan_tf.training import trainer as training  # noqa: F401  (registers training.run)

# --- models ---
# The returned wrappers read their bindings; tools call these, not the
# undecorated functions of `dvdgan_tf.models`.
build_generator = gin.external_configurable(
    generator.build_generator, module="generator"
)
build_spatial_discriminator = gin.external_configurable(
    discriminators.build_spatial_discriminator, module="discriminators"
)
build_temporal_discriminator = gin.external_configurable(
    discriminators.build_temporal_discriminator, module="discriminators"
)

# --- data, GAN step, optimizers (training; the root training.run is
# decorated in training.py) ---
gin.external_configurable(pipeline.make_dataset, module="pipeline")
gin.external_configurable(gan.build_dvdgan, module="gan")
gin.constants_from_enum(losses.GANLoss, module="losses")
# Reached only through scoped references, e.g.
# `training.run.generator_optimizer = @generator/keras.optimizers.Adam`.
gin.external_configurable(keras.optimizers.Adam, module="keras.optimizers")

# --- evaluation: the IS/FID classifier (dvdgan_tf.evaluate) ---
build_video_classifier = gin.external_configurable(
    classifier.build_video_classifier, module="classifier"
)
for _enum in (
    classifier.Preprocessing,
    classifier.ValueRange,
    classifier.ChannelOrder,
    classifier.Layout,
):
    gin.constants_from_enum(_enum, module="classifier")

# --- gin file lookup shared by the CLIs ---
# The experiment configs ship inside the package (gin/ in a checkout links
# here), so an installed wheel finds them too.
GIN_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs")


class _GinResourceLookupFilter(logging.Filter):
    """Drops gin's ERROR "Path not found: base.gin" lines.

    gin 0.5.0 tries every `include` first as a Python-package resource and
    logs a (root-logger) error when that fails, before it finds the file on
    the search path. Users then see an "E ... Path not found" line on every
    successful run; real missing files still raise an IOError from gin.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.levelno == logging.ERROR
            and record.pathname.endswith(
                os.path.join("gin", "resource_reader.py")
            )
        )


def add_gin_search_path(*extra_dirs: str) -> None:
    """Makes `include 'base.gin'` and bare `--gin_file=k600_64.gin` resolve
    among the package's configs (gin/ of a checkout; and `extra_dirs`),
    without gin's spurious resource-lookup error lines."""
    for directory in (GIN_DIR,) + extra_dirs:
        gin.add_config_file_search_path(directory)
    root = logging.getLogger()
    if not any(isinstance(f, _GinResourceLookupFilter) for f in root.filters):
        root.addFilter(_GinResourceLookupFilter())


def unused_macros() -> list[str]:
    """Macros defined in the parsed config that nothing references.

    A defined-but-unused macro is almost always a typo (``NUM_CLASES =
    12`` next to the real ``NUM_CLASSES``), which gin itself accepts
    silently.
    """
    config = gin.config._CONFIG  # gin 0.5.0 has no public walk of bindings.
    defined = {selector for selector, name in config if name == "gin.macro"}
    used = set()

    def walk(value):
        if isinstance(value, gin.config.ConfigurableReference):
            if value.selector == "gin.macro":
                used.add(repr(value).lstrip("%"))
        elif isinstance(value, (list, tuple, set)):
            for item in value:
                walk(item)
        elif isinstance(value, dict):
            for item in value.values():
                walk(item)

    for bindings in config.values():
        walk(bindings)
    return sorted(defined - used)


def build_training_model(strategy=None):
    """The compiled `DVDGAN` exactly as the parsed config's `training.run`
    builds it (its generator, discriminator, GAN and optimizer bindings),
    without data, checkpoints or a model dir: for tools that inspect or
    time a config's step (`tools/plan.py`, `bench/train_step.py`,
    `bench/xla_compile.py`).

    Args:
        strategy: built inside its scope; None = the current strategy.
    """

    def binding(name):
        reference = gin.query_parameter(f"training.run.{name}")
        return reference.scoped_configurable_fn()

    strategy = strategy or tf.distribute.get_strategy()
    with strategy.scope():
        model = gin.get_configurable("gan.build_dvdgan")(
            binding("generator_builder"),
            binding("spatial_discriminator_builder"),
            binding("temporal_discriminator_builder"),
        )
        model.compile(
            generator_optimizer=binding("generator_optimizer"),
            discriminator_optimizer=binding("discriminator_optimizer"),
        )
    return model
