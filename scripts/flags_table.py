"""Print the README's flags table from StyleConfig: `python scripts/flags_table.py`.

tests/test_readme.py checks that README.md contains exactly this table.
"""

import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nst_tf.config import StyleConfig  # noqa: E402


def flags_table() -> str:
    """A markdown table: flag, default, meaning."""
    rows = ["| flag | default | meaning |", "| --- | --- | --- |"]
    for spec in dataclasses.fields(StyleConfig):
        default = spec.default
        if isinstance(default, tuple):
            default = ",".join(str(value) for value in default) or "(empty)"
        rows.append(f"| `--{spec.name}` | `{default}` | {spec.metadata['help']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(flags_table())
