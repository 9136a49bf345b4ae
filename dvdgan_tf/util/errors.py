"""One line for an exception, for messages that wrap another error.

The CLIs print it after ``error:`` (`cli.fail`); library code uses it where
it re-raises a TensorFlow error with what to do next (the training loop's
corrupt-record message). It knows TF's graph-error layout and gin's
"In call to configurable" suffix.
"""

from __future__ import annotations

import re


class ConfigValueError(ValueError):
    """A setting (a flag or a gin binding) has a value outside its range.

    Library code raises it where it validates its arguments; the command
    lines report it as a usage error (exit status 2, `dvdgan_tf.cli`), since
    the fix is in the command line or the gin file, not in the data.
    """


def describe(error: BaseException) -> str:
    """One line for an exception: its message, or its type and message.

    ValueError / FileNotFoundError messages are ours and stand alone; other
    types are prefixed with their name. For TensorFlow errors only the line
    that says what failed is kept (`_tf_error_line`); gin's "In call to
    configurable" suffix is dropped.
    """
    text = getattr(error, "message", None) or str(error)
    message = text.split("\n  In call to configurable")[0].strip()
    # TF op errors start with "{{function_node ...}}".
    message = re.sub(r"^\{\{function_node [^}]*\}\}\s*", "", message)
    # Gin appends the whole configuration to some errors (kilobytes).
    message = re.sub(r"\s+in config string:.*$", "", message, flags=re.S)
    undefined = re.match(
        r"No bindings specified for '([^'/]+)/gin\.macro'", message
    )
    if undefined:
        message = (
            f"macro %{undefined.group(1)} used but never defined (a typo, or "
            "a missing include?)"
        )
    if not message:
        message = type(error).__name__
    if type(error).__module__.startswith("tensorflow"):
        message = _tf_error_line(message)
    if not isinstance(error, (ValueError, FileNotFoundError)):
        message = f"{type(error).__name__}: {message}"
    return " ".join(message.split())


def _tf_error_line(message: str) -> str:
    """The line of a TF error that says what failed.

    Graph-mode errors read "Graph execution error: / Detected at node ... /
    <stack> / <the op's message> / [[{{node ...}}]]"; an assertion's own
    message sits after "assertion failed:".
    """
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if "assertion failed:" in message:
        text = message.split("assertion failed:", 1)[1]
        return text.split("\n")[0].strip()
    useful = [
        line
        for line in lines
        if not line.startswith(("Graph execution error", "Detected at node"))
        and not line.startswith(("<stack", "[[", "File "))
    ]
    return useful[0] if useful else (lines[0] if lines else "")
