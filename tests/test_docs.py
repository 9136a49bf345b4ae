"""The docs: links resolve, every evaluate flag is documented, and the
claims corrected once (issue 23) do not come back."""

import glob
import os
import re

import pytest
from absl import flags

from dvdgan_tf import evaluate
from tests import cli_process

REPO = cli_process.REPO
DOCS = sorted(
    glob.glob(os.path.join(REPO, "*.md"))
    + glob.glob(os.path.join(REPO, "docs", "*.md"))
    + glob.glob(os.path.join(REPO, "bench", "*.md"))
)
# Text that was wrong once, with what is true instead.
STALE = (
    ("BUILD.md", "split into README.md, docs/*.md and CONTRIBUTING.md"),
    ("checkpoints_iterator", "the job polls list_checkpoint_steps"),
    ("about 3 clips/s", "I3D runs at 6.56 clips/s (bench/README.md)"),
    ("requirements-dev.txt", "requirements/dev.lock"),
    ("requirements.txt", "requirements/*.lock"),
    ("SPEC decision", "docs/DESIGN.md rows"),
    ("tests/test_train_cli.py", "tests/test_train.py"),
)


def _read(path):
    with open(path) as f:
        return f.read()


@pytest.mark.parametrize("path", DOCS, ids=os.path.basename)
def test_relative_links_resolve(path):
    text = _read(path)
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", text):
        if "://" in target:
            continue
        resolved = os.path.join(os.path.dirname(path), target)
        assert os.path.exists(resolved), f"{path}: broken link {target}"


def test_every_evaluate_flag_is_documented():
    values = flags.FlagValues()
    evaluate.define_flags(values)
    text = _read(os.path.join(REPO, "docs", "EVALUATION.md"))
    missing = [name for name in values if f"`--{name}`" not in text]
    assert not missing, f"docs/EVALUATION.md lacks {missing}"


def test_corrected_claims_do_not_come_back():
    paths = DOCS + glob.glob(os.path.join(REPO, "gin", "*.gin"))
    paths += glob.glob(
        os.path.join(REPO, "dvdgan_tf", "**", "*.py"), recursive=True
    )
    found = [
        (os.path.relpath(path, REPO), stale, truth)
        for path in paths
        if not path.endswith("RESULTS.md")  # a dated log, quoted as it was
        for stale, truth in STALE
        if stale in _read(path)
    ]
    assert not found, found


def test_docs_named_in_code_and_configs_exist():
    paths = glob.glob(os.path.join(REPO, "gin", "*.gin"))
    paths += glob.glob(
        os.path.join(REPO, "dvdgan_tf", "**", "*.py"), recursive=True
    )
    for path in paths:
        for name in re.findall(r"docs/([A-Z_]+\.md)", _read(path)):
            assert os.path.exists(os.path.join(REPO, "docs", name)), (
                f"{path} names docs/{name}"
            )


def test_license_and_citation_ship():
    assert "Apache License" in _read(os.path.join(REPO, "LICENSE"))
    citation = _read(os.path.join(REPO, "CITATION.cff"))
    assert "arXiv:1907.06571" in citation and "cff-version" in citation
