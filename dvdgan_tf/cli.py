"""What every command line of the project shares: errors, Ctrl-C, outputs.

One error contract for every command line of the project: `train`,
`evaluate`, `sample`, every `tools/*.py` and every `bench/*.py`
(tests/test_cli_contract.py runs each):

* a failure prints **one line**, ``error: <what, where, what to do>``, on
  stderr and no traceback;
* exit status **2** for usage errors (`UsageError`: a bad flag value, an
  unusable output path), **1** for runtime failures (missing or damaged
  data and checkpoints, NaN losses, ...), **130** after a second Ctrl-C;
* ``DVDGAN_TF_TRACEBACK=1`` in the environment (or absl's ``--verbosity=1``)
  also prints the traceback.

`run(main)` runs an absl ``main(argv)`` under that contract, flag parsing
included: an unknown flag or a missing required one is a usage error (one
line, exit 2; absl alone prints a usage screen and exits 1). `run_main` is
the wrapper for callers that parse flags themselves. `check_output_dir`
validates an output directory before any work. `StopRequest` turns SIGTERM
and the first Ctrl-C (SIGINT) into a flag that long-running loops poll, so
they stop at a safe point and save; a second Ctrl-C aborts at once.
"""

from __future__ import annotations

import functools
import os
import sys
import traceback
from typing import Callable

from absl import app
from absl import flags
from absl import logging

from dvdgan_tf.util.errors import ConfigValueError
from dvdgan_tf.util.errors import describe  # noqa: F401  (cli.describe)
from dvdgan_tf.util.preemption import StopRequest  # noqa: F401  (cli.StopRequest)

TRACEBACK_ENV = "DVDGAN_TF_TRACEBACK"
USAGE_EXIT = 2
RUNTIME_EXIT = 1
INTERRUPTED_EXIT = 130


class UsageError(ValueError):
    """The command line is wrong (exit status 2)."""


def _show_traceback() -> bool:
    return os.environ.get(TRACEBACK_ENV, "") not in ("", "0") or (
        logging.level_debug()
    )


def fail(error: BaseException, status: int) -> None:
    """Prints ``error: ...`` (and the traceback if asked); exits."""
    hint = ""
    if _show_traceback():
        traceback.print_exception(error, file=sys.stderr)
    elif status == RUNTIME_EXIT:  # Usage errors need no traceback.
        hint = f" (set {TRACEBACK_ENV}=1 for the traceback)"
    text = str(error) if isinstance(error, app.UsageError) else describe(error)
    print(f"error: {text}{hint}", file=sys.stderr, flush=True)
    sys.exit(status)


def run_main(main: Callable) -> Callable:
    """Wraps an absl ``main(argv)`` with the error contract above."""

    @functools.wraps(main)
    def wrapped(argv):
        try:
            return main(argv)
        except SystemExit:
            raise
        except (UsageError, app.UsageError, ConfigValueError) as error:
            fail(error, USAGE_EXIT)
        except KeyboardInterrupt:
            print("error: interrupted", file=sys.stderr, flush=True)
            sys.exit(INTERRUPTED_EXIT)
        except Exception as error:  # noqa: BLE001 - the one CLI boundary.
            fail(error, RUNTIME_EXIT)

    return wrapped


def parse_flags(argv: list[str]) -> list[str]:
    """absl's flag parsing with the usage-error half of the contract.

    ``--help`` and friends print as in absl but exit 0 (absl exits 1, which
    shells and wrappers read as a failure); a flag error prints one
    ``error:`` line and exits with `USAGE_EXIT`.
    """
    try:
        return flags.FLAGS(argv)
    except SystemExit as exit_:
        asked = {"-?", "-h", "--help", "--helpshort", "--helpfull"}
        if exit_.code == 1 and asked & set(argv[1:]):
            sys.exit(0)
        raise
    except flags.Error as error:
        print(
            f"error: {error} (--helpshort lists the flags)",
            file=sys.stderr,
            flush=True,
        )
        sys.exit(USAGE_EXIT)


def run(main: Callable) -> None:
    """``absl.app.run`` of `main` under the error contract (flags included)."""
    # --help lists the "key flags" of sys.argv[0]. Run as a console command
    # (bin/dvdgan-train) that is the script, not the module that defined the
    # flags: make them the script's key flags too.
    for flag in flags.FLAGS.get_key_flags_for_module(main.__module__):
        flags.FLAGS.register_key_flag_for_module(sys.argv[0], flag)
    app.run(run_main(main), flags_parser=parse_flags)


# The experiment configs shipped inside the package (gin/ in a checkout is a
# link to this folder), so an installed wheel has them too.
BUNDLED_GIN_DIR = os.path.join(os.path.dirname(__file__), "configs")


def resolve_gin_file(path: str) -> str:
    """`path` if it exists, else the bundled config of that name.

    `--gin_file=demo_cpu.gin` and `--gin_file=gin/demo_cpu.gin` work from
    any directory once the package is installed: a relative path that does
    not exist, whose folder part is empty or ``gin``, is looked up among the
    package's configs. Anything else is returned unchanged (gin reports a
    missing file itself).
    """
    if os.path.exists(path) or os.path.isabs(path):
        return path
    folder, name = os.path.split(os.path.normpath(path))
    bundled = os.path.join(BUNDLED_GIN_DIR, name)
    if folder in ("", "gin") and os.path.isfile(bundled):
        return bundled
    return path


def parse_gin(gin_files, gin_params=(), **parse_kwargs) -> None:
    """``gin.parse_config_files_and_bindings`` as a usage error on failure.

    A missing file, a syntax error, an unknown configurable or parameter
    and a bad binding all name the sources in one line (exit 2). Keyword
    arguments go to gin (``skip_unknown``, ``finalize_config``).

    Raises:
        UsageError: gin could not parse the configuration.
    """
    import tokenize

    import gin  # Local: keep `import cli` cheap.

    gin_files = [resolve_gin_file(path) for path in gin_files]
    sources = ", ".join(
        [f"--gin_file={path}" for path in gin_files]
        + [f"--gin_param={param!r}" for param in gin_params]
    )
    try:
        gin.parse_config_files_and_bindings(
            list(gin_files), list(gin_params), **parse_kwargs
        )
    except (
        ValueError,
        KeyError,
        SyntaxError,
        OSError,
        tokenize.TokenError,
    ) as error:
        raise UsageError(
            f"Invalid gin configuration ({sources or 'no file'}): "
            f"{describe(error)}"
        ) from None
    undefined = _undefined_macros(gin)
    if undefined:
        raise UsageError(
            f"Invalid gin configuration ({sources}): macro(s) "
            f"{', '.join('%' + name for name in undefined)} used but never "
            "defined (a typo, or a missing include?)."
        )


def _undefined_macros(gin) -> list[str]:
    """Names of the ``%MACRO`` references in the parsed config with no value
    (gin only notices them when a configurable is called, and then prints
    the whole config on one line)."""
    import re

    names = sorted(
        set(re.findall(r"(?<![\w%])%([A-Za-z_][\w.]*)", gin.config_str()))
    )
    missing = []
    for name in names:
        # `%name` also names gin constants (gin.constant, enum values).
        if gin.config._CONSTANTS.matching_selectors(name):
            continue
        try:
            gin.query_parameter(f"%{name}")
        except ValueError:
            missing.append(name)
    return missing


def check_output_dir(path: str | None, flag: str, create: bool = True) -> str:
    """An output directory that exists or can be created, and is writable.

    Args:
        path: the directory (local or a `tf.io.gfile` URL such as gs://).
        flag: the flag that gave it, for the message.
        create: create it now; False only checks (for a directory the job
            creates later, after its own checks, e.g. training's model_dir).

    Raises:
        UsageError: no path, a path that is a file, or one that cannot be
            created or written (the message names the flag).
    """
    import tensorflow as tf  # Local: keep `import cli` cheap for the tools.

    if not path:
        raise UsageError(f"{flag} is required.")
    if tf.io.gfile.exists(path) and not tf.io.gfile.isdir(path):
        raise UsageError(
            f"{flag}={path} is a file, not a directory; pass a directory "
            "(it is created if missing)."
        )
    if "://" in path:
        if create:
            tf.io.gfile.makedirs(path)
        return path
    existing = os.path.abspath(path)
    while not os.path.exists(existing):
        existing = os.path.dirname(existing)
    if not os.path.isdir(existing):
        raise UsageError(
            f"{flag}={path} cannot be created: {existing} is a file."
        )
    if not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(
            f"{flag}={path} is not writable by this user ({existing} is "
            "not); choose another directory or fix its permissions."
        )
    if create:
        os.makedirs(path, exist_ok=True)
    return path
