"""The README's flags table and test command are derived facts: keep them true."""

import os
import re

from scripts.flags_table import flags_table
from tests.conftest import REPO


def read(name):
    with open(os.path.join(REPO, name), encoding="utf-8") as handle:
        return handle.read()


def test_readme_flags_tables_match_the_configs():
    from nst_tf.sweep import SweepConfig
    from nst_tf.video.config import VideoConfig

    for table in (flags_table(), flags_table(SweepConfig), flags_table(VideoConfig)):
        assert table in read("README.md"), "run: python scripts/flags_table.py --write"


def test_ci_runs_the_readme_test_command():
    match = re.search(r"^(.*-m pytest.*)$", read("README.md"), re.MULTILINE)
    assert match, "README.md shows no pytest command"
    assert match.group(1).strip() in read(".ci/run").splitlines()


def test_ci_runs_the_readme_install_command():
    match = re.search(
        r"^python3 -m venv \.venv && (.*pip install.*)$", read("README.md"), re.MULTILINE
    )
    assert match, "README.md shows no install command"
    assert match.group(1).strip() in read(".ci/run").splitlines()
