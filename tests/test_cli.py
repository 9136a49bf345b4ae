"""dvdgan_tf.cli: the one-line error contract shared by every CLI."""

import glob
import os

import gin
import pytest
import tensorflow as tf

from dvdgan_tf import cli
from dvdgan_tf import configurables


def _exit_of(main, capsys, monkeypatch, traceback=False):
    if traceback:
        monkeypatch.setenv(cli.TRACEBACK_ENV, "1")
    else:
        monkeypatch.delenv(cli.TRACEBACK_ENV, raising=False)
    with pytest.raises(SystemExit) as exited:
        cli.run_main(main)(["prog"])
    return exited.value.code, capsys.readouterr().err


def test_usage_errors_exit_2_with_one_line(capsys, monkeypatch):
    def main(argv):
        raise cli.UsageError("--fps must be a positive frame rate")

    code, err = _exit_of(main, capsys, monkeypatch)
    assert code == 2
    assert err == "error: --fps must be a positive frame rate\n"


def test_runtime_errors_exit_1_and_hint_at_the_traceback(capsys, monkeypatch):
    def main(argv):
        raise OSError("disk full")

    code, err = _exit_of(main, capsys, monkeypatch)
    assert code == 1
    assert err.startswith("error: OSError: disk full (set DVDGAN_TF_TRACEBACK")
    assert "Traceback" not in err


def test_the_environment_variable_shows_the_traceback(capsys, monkeypatch):
    def main(argv):
        raise ValueError("bad data")

    code, err = _exit_of(main, capsys, monkeypatch, traceback=True)
    assert code == 1
    assert "Traceback (most recent call last)" in err
    assert err.rstrip().endswith("error: bad data")


def test_a_second_ctrl_c_exits_130(capsys, monkeypatch):
    def main(argv):
        raise KeyboardInterrupt

    code, err = _exit_of(main, capsys, monkeypatch)
    assert (code, err) == (130, "error: interrupted\n")


def test_graph_errors_are_reduced_to_the_failing_assertion():
    def check(x):
        with tf.control_dependencies(
            [tf.debugging.assert_less(x, 2, message="label too big")]
        ):
            return tf.identity(x)

    dataset = tf.data.Dataset.from_tensors(tf.constant([3])).map(check)

    @tf.function
    def first(iterator):
        return next(iterator)

    with pytest.raises(tf.errors.InvalidArgumentError) as error:
        first(iter(dataset))
    line = cli.describe(error.value)
    assert line.startswith("InvalidArgumentError: [label too big]")
    assert "\n" not in line and "Detected at node" not in line


def test_output_dir_checks(tmp_path):
    target = tmp_path / "out" / "nested"
    assert cli.check_output_dir(str(target), "--output", create=False)
    assert not target.exists()
    cli.check_output_dir(str(target), "--output")
    assert target.is_dir()
    a_file = tmp_path / "f"
    a_file.write_text("")
    with pytest.raises(cli.UsageError, match="--output=.* is a file"):
        cli.check_output_dir(str(a_file), "--output")
    with pytest.raises(cli.UsageError, match="is a file"):
        cli.check_output_dir(str(a_file / "below"), "--output")
    with pytest.raises(cli.UsageError, match="--output is required"):
        cli.check_output_dir("", "--output")


@pytest.mark.parametrize(
    "path", sorted(glob.glob(os.path.join(configurables.GIN_DIR, "*.gin")))
)
def test_every_shipped_gin_file_parses_without_undefined_macros(path):
    """The undefined-macro check must not flag the project's own configs
    (gin constants such as %losses.GANLoss.HINGE are not macros)."""
    configurables.add_gin_search_path()
    try:
        cli.parse_gin([path], ["training.run.model_dir = 'unused'"])
    finally:
        gin.clear_config()


def test_an_undefined_macro_is_a_one_line_usage_error(tmp_path):
    path = tmp_path / "typo.gin"
    path.write_text("include 'test_tiny.gin'\nLATENT_DIM = %LATENT_DIMS\n")
    configurables.add_gin_search_path()
    try:
        with pytest.raises(
            cli.UsageError, match="%LATENT_DIMS used but never defined"
        ):
            cli.parse_gin([str(path)])
    finally:
        gin.clear_config()
