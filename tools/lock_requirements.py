"""Writes requirements/{cpu,gpu,dev}.lock from the .in files next to them.

    python tools/lock_requirements.py [--constraint=FILE] [--target=cpu ...]

A lock lists every distribution one target installs, direct and
transitive, at one exact version: what `make venv [TF=cpu|gpu]` installs, so
every machine gets the versions CI tested. The .in files hold the direct
dependencies at the versions the project decided (setup.cfg states the
compatible ranges a library user installs from instead).

Resolution is pip's own (`pip install --dry-run --ignore-installed
--report`), for the Python running this script, on this platform: the
committed locks are for CPython 3.11 on Linux x86-64. It needs the package
index (network), nothing is installed. `dev.lock` holds what the test tools
add on top of `cpu.lock`; a tool that would move a version the runtime lock
pins is an error, so dev.lock installs on top of either target unchanged.

`--constraint` (e.g. `pip freeze` of a tested venv) keeps transitive versions
where they are instead of taking the newest that fits.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile

REQUIREMENTS_DIR = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
    "requirements",
)
RUNTIME_TARGETS = ("cpu", "gpu")


def canonical(name: str) -> str:
    """PEP 503 name: lower case, runs of -_. as one '-'."""
    out = []
    for char in name.lower():
        if char in "-_.":
            if not out or out[-1] != "-":
                out.append("-")
        else:
            out.append(char)
    return "".join(out)


def resolve(in_files: list[str], constraint: str | None) -> dict[str, str]:
    """{canonical name: version} pip would install for `in_files`."""
    with tempfile.TemporaryDirectory() as tmp:
        report = os.path.join(tmp, "report.json")
        command = [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--quiet",
            "--disable-pip-version-check",
            "--report",
            report,
        ]
        for path in in_files:
            command += ["-r", path]
        if constraint:
            command += ["-c", constraint]
        subprocess.run(command, check=True)
        with open(report) as f:
            installs = json.load(f)["install"]
    return {
        canonical(item["metadata"]["name"]): item["metadata"]["version"]
        for item in installs
    }


def lock_text(target: str, pins: dict[str, str]) -> str:
    """The lock file's content: a header, then sorted `name==version`."""
    header = [
        f"# requirements/{target}.lock: written by tools/lock_requirements.py "
        f"from {target}.in; do not edit.",
        f"# Resolved for CPython {platform.python_version()} on "
        f"{platform.system()} {platform.machine()}.",
    ]
    return (
        "\n".join(header + [f"{name}=={pins[name]}" for name in sorted(pins)])
        + "\n"
    )


def read_lock(path: str) -> dict[str, str]:
    """{canonical name: version} of a lock file."""
    pins = {}
    with open(path) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                name, version = line.split("==")
                pins[canonical(name.split("[")[0])] = version
    return pins


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # the project's one-line usage error, exit 2
        print(f"error: {message} (--help lists the flags)", file=sys.stderr)
        raise SystemExit(2)


def main(argv: list[str] | None = None) -> int:
    parser = _Parser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--constraint", default=None)
    parser.add_argument(
        "--target",
        action="append",
        choices=[*RUNTIME_TARGETS, "dev"],
        help="Default: all of them.",
    )
    args = parser.parse_args(argv)
    targets = args.target or [*RUNTIME_TARGETS, "dev"]

    def path(name):
        return os.path.join(REQUIREMENTS_DIR, name)

    for target in targets:
        if target == "dev":
            base = read_lock(path("cpu.lock"))
            both = resolve([path("cpu.in"), path("dev.in")], args.constraint)
            moved = {
                name: (base[name], version)
                for name, version in both.items()
                if name in base and base[name] != version
            }
            if moved:
                raise SystemExit(
                    f"dev.in moves runtime pins (lock, dev): {moved}; change "
                    "a tool's version or relock the runtime targets."
                )
            pins = {n: v for n, v in both.items() if n not in base}
        else:
            pins = resolve([path(f"{target}.in")], args.constraint)
        with open(path(f"{target}.lock"), "w") as f:
            f.write(lock_text(target, pins))
        print(f"requirements/{target}.lock: {len(pins)} distributions")
    return 0


if __name__ == "__main__":
    sys.exit(main())
