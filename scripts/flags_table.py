"""The README's flags table, made from StyleConfig.

`python scripts/flags_table.py` prints it; `--write` replaces it in README.md (between the
`flags:start` and `flags:end` markers). tests/test_readme.py checks README.md holds this table.
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


def write_into_readme(path: str) -> None:
    """Replace the text between the flags markers of `path` with the current table."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    head, _, rest = text.partition("<!-- flags:start -->\n")
    _, _, tail = rest.partition("<!-- flags:end -->")
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(f"{head}<!-- flags:start -->\n{flags_table()}\n<!-- flags:end -->{tail}")


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write_into_readme(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md"))
    else:
        print(flags_table())
