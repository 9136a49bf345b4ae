"""The package as users install it: the wheel, its commands, the locks.

The wheel is built from this checkout (`python -m build --no-isolation`),
installed with `--no-deps` into a scratch folder (its dependencies are this
venv's), and its console commands run from a folder outside the checkout,
so the code and configs that run are the wheel's.
"""

import configparser
import email.parser
import importlib.metadata
import os
import subprocess
import sys
import zipfile

import pytest
from packaging.requirements import Requirement
from packaging.specifiers import SpecifierSet

from dvdgan_tf.data import convert
from tests import cli_process
from tools import lock_requirements

REPO = cli_process.REPO
COMMANDS = ("train", "evaluate", "sample", "export", "convert")
REQUIREMENTS = os.path.join(REPO, "requirements")


def _lock(target):
    return lock_requirements.read_lock(
        os.path.join(REQUIREMENTS, f"{target}.lock")
    )


def _direct_pins():
    pins = {}
    with open(os.path.join(REQUIREMENTS, "runtime.in")) as f:
        for line in f:
            line = line.split("#", 1)[0].strip()
            if line:
                name, version = line.split("==")
                pins[lock_requirements.canonical(name)] = version
    return pins


def _setup_cfg():
    config = configparser.ConfigParser()
    config.read(os.path.join(REPO, "setup.cfg"))
    return config


def _requirements(text):
    return [Requirement(line) for line in text.strip().splitlines()]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "build",
            "--wheel",
            "--no-isolation",
            f"--outdir={out}",
            REPO,
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    (path,) = out.glob("*.whl")
    return str(path)


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory):
    """(prefix with bin/ and the package, environment to run it in)."""
    target = str(tmp_path_factory.mktemp("site"))
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--no-index",
            f"--target={target}",
            wheel,
        ],
        check=True,
        timeout=300,
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=target)
    return target, env


def test_wheel_metadata_declares_ranges_and_tensorflow_extras(wheel):
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith("/METADATA")]
        metadata = email.parser.Parser().parsestr(archive.read(name).decode())
        names = archive.namelist()
    requires = [Requirement(r) for r in metadata.get_all("Requires-Dist")]
    unconditional = {r.name for r in requires if r.marker is None}
    # No TensorFlow build without an extra: cpu / gpu / tpu pick one.
    assert not unconditional & {"tensorflow", "tensorflow-cpu"}
    assert {"keras", "gin-config", "av", "numpy"} <= unconditional
    for r in requires:
        if r.marker is None:
            assert not any(s.operator == "==" for s in r.specifier), r
    by_extra = {
        extra: [
            r
            for r in requires
            if r.marker and r.marker.evaluate({"extra": extra})
        ]
        for extra in ("cpu", "gpu", "tpu")
    }
    gpu = [r for r in by_extra["gpu"] if r.name == "tensorflow"]
    assert gpu and gpu[0].extras == {"and-cuda"}
    assert [r.name for r in by_extra["cpu"]] == ["tensorflow-cpu"]
    for extra in ("cpu", "gpu", "tpu"):
        (tf,) = [r for r in by_extra[extra] if r.name.startswith("tensorflow")]
        assert "2.21.0" in tf.specifier and "2.22.0" not in tf.specifier
    python = SpecifierSet(metadata["Requires-Python"])
    assert all(f"3.{minor}.0" in python for minor in (10, 11, 12, 13))
    assert "3.14.0" not in python and "3.9.0" not in python
    assert "dvdgan_tf/configs/demo_cpu.gin" in names
    assert "dvdgan_tf/configs/base.gin" in names


def test_wheel_commands_answer_help(installed, tmp_path):
    target, env = installed
    for command in COMMANDS:
        script = os.path.join(target, "bin", f"dvdgan-{command}")
        result = subprocess.run(
            [script, "--help"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )
        assert result.returncode == 0, (command, result.stderr[-2000:])
        assert "--" in result.stdout, command
    help_text = subprocess.run(
        [os.path.join(target, "bin", "dvdgan-train"), "--help"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    ).stdout
    assert "--gin_file" in help_text and "--worker_heartbeat_s" in help_text


def test_wheel_trains_with_its_bundled_config(installed, tmp_path):
    target, env = installed
    data_dir = str(tmp_path / "data")
    convert.convert_synthetic(
        data_dir, num_clips=12, num_test_clips=0, num_frames=6, size=16
    )
    model_dir = str(tmp_path / "run")
    where = subprocess.run(
        [sys.executable, "-c", "import dvdgan_tf; print(dvdgan_tf.__file__)"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert where.startswith(target), where  # the wheel's code, not REPO's
    result = subprocess.run(
        [
            os.path.join(target, "bin", "dvdgan-train"),
            # A bare name: found among the wheel's configs, not in a checkout.
            "--gin_file=test_tiny.gin",
            f"--gin_param=DATA_DIR='{data_dir}'",
            f"--model_dir={model_dir}",
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    checkpoints = os.listdir(os.path.join(model_dir, "checkpoints"))
    assert "ckpt-2.index" in checkpoints
    with open(os.path.join(model_dir, "operative_config.gin")) as f:
        assert "train_steps = 2" in f.read()


def test_cpu_and_gpu_locks_hold_the_same_versions_but_the_tf_build():
    cpu, gpu = _lock("cpu"), _lock("gpu")
    assert cpu["tensorflow-cpu"] == gpu["tensorflow"] == "2.21.0"
    assert "tensorflow" not in cpu and "tensorflow-cpu" not in gpu
    cuda = {name for name in gpu if name.startswith("nvidia-")}
    assert {"nvidia-cudnn-cu12", "nvidia-cublas-cu12"} <= cuda
    assert not any(name.startswith("nvidia-") for name in cpu)
    shared = set(cpu) & set(gpu)
    assert {n: cpu[n] for n in shared} == {n: gpu[n] for n in shared}
    for name, version in _direct_pins().items():
        assert cpu[name] == gpu[name] == version, name


def test_dev_lock_adds_tools_without_moving_runtime_pins():
    cpu, dev = _lock("cpu"), _lock("dev")
    assert not set(cpu) & set(dev)
    assert {"pytest", "pytest-xdist", "ruff", "build"} <= set(dev)


def test_locked_versions_fall_in_the_declared_ranges():
    options = _setup_cfg()
    ranges = _requirements(options["options"]["install_requires"])
    extras = options["options.extras_require"]
    cpu, gpu = _lock("cpu"), _lock("gpu")
    for requirement in ranges:
        name = lock_requirements.canonical(requirement.name)
        assert cpu[name] in requirement.specifier, requirement
    (cpu_tf,) = _requirements(extras["cpu"])
    (gpu_tf,) = _requirements(extras["gpu"])
    assert cpu["tensorflow-cpu"] in cpu_tf.specifier
    assert gpu["tensorflow"] in gpu_tf.specifier and gpu_tf.extras == {
        "and-cuda"
    }


def test_this_venv_holds_exactly_its_targets_lock():
    """`make venv [TF=gpu]` installed the lock: every pinned distribution,
    that version, and one TensorFlow build (CI builds its venv from the CPU
    lock, so this is what it tests)."""
    installed = {
        lock_requirements.canonical(d.metadata["Name"]): d.version
        for d in importlib.metadata.distributions()
    }
    target = "gpu" if "tensorflow" in installed else "cpu"
    expected = {**_lock(target), **_lock("dev")}
    wrong = {
        name: (version, installed.get(name))
        for name, version in expected.items()
        if installed.get(name) != version
    }
    assert not wrong, f"(lock, installed): {wrong}; run `make venv`."
    assert not {"tensorflow", "tensorflow-cpu"} <= set(installed)


def test_make_venv_tf_gpu_installs_the_gpu_lock_and_drops_the_cpu_build():
    result = subprocess.run(
        ["make", "-n", "-B", "venv", "TF=gpu", "VENV=/nonexistent-venv"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
    )
    lines = result.stdout.splitlines()
    uninstall = [line for line in lines if "pip uninstall" in line]
    install = [line for line in lines if "-r requirements/" in line]
    assert uninstall and " tensorflow-cpu" in uninstall[0]
    assert "-r requirements/gpu.lock" in install[0]
    assert "cpu.lock" not in " ".join(lines)
    refused = subprocess.run(
        ["make", "-B", "venv", "TF=cuda", "VENV=/nonexistent-venv"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0 and "choose cpu or gpu" in refused.stderr


@pytest.mark.slow
@pytest.mark.network
def test_gpu_lock_installs_the_cuda_build(tmp_path):
    """Installs requirements/gpu.lock into a fresh venv (~3 GB from the
    index) and reads what it got: the `tensorflow` distribution (the CUDA
    build) at the CPU lock's version, cuDNN, and no tensorflow-cpu."""
    venv = str(tmp_path / "venv")
    subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    python = os.path.join(venv, "bin", "python")
    subprocess.run(
        [
            python,
            "-m",
            "pip",
            "install",
            "-q",
            "-r",
            os.path.join(REQUIREMENTS, "gpu.lock"),
        ],
        check=True,
        timeout=3000,
    )
    probe = (
        "import importlib.metadata as m, json, tensorflow as tf;"
        "names={d.metadata['Name'].lower() for d in m.distributions()};"
        "print(json.dumps({'tf': m.version('tensorflow'),"
        "'cpu_build': 'tensorflow-cpu' in names or 'tensorflow_cpu' in names,"
        "'cudnn': m.version('nvidia-cudnn-cu12'),"
        "'cuda': tf.test.is_built_with_cuda()}))"
    )
    out = (
        subprocess.run(
            [python, "-c", probe], capture_output=True, text=True, check=True
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    import json

    got = json.loads(out)
    assert got["tf"] == _lock("cpu")["tensorflow-cpu"]
    assert got["cudnn"] == _lock("gpu")["nvidia-cudnn-cu12"]
    assert got["cuda"] is True and got["cpu_build"] is False


def test_import_without_tensorflow_names_the_extras():
    probe = (
        "import importlib.util as u; find = u.find_spec;"
        "u.find_spec = lambda n, *a: None if n == 'tensorflow' "
        "else find(n, *a); import dvdgan_tf"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: dvdgan_tf needs TensorFlow 2.21")
    assert "dvdgan_tf[gpu]" in last and "make venv TF=" in last
