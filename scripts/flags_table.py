"""The README's flag tables, made from StyleConfig and RunConfig (every run flag), SweepConfig
(the sweep's own flags) and VideoConfig (the video mode's own flags).

`python scripts/flags_table.py` prints them; `--write` replaces them in README.md (between the
`flags:start`/`flags:end`, `sweep-flags:start`/`sweep-flags:end` and
`video-flags:start`/`video-flags:end` markers).
tests/test_readme.py checks README.md holds these tables.
"""

import dataclasses
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from nst_tf.cli.run_config import RunConfig  # noqa: E402
from nst_tf.config import StyleConfig  # noqa: E402
from nst_tf.sweep.config import SweepConfig  # noqa: E402
from nst_tf.video.config import VideoConfig  # noqa: E402

TABLES = {
    "flags": (StyleConfig, RunConfig),
    "sweep-flags": (SweepConfig,),
    "video-flags": (VideoConfig,),
}


def flags_table(*config_classes: type) -> str:
    """A markdown table of the fields of `config_classes` (default: a run's, StyleConfig then
    RunConfig): flag, default, meaning."""
    rows = ["| flag | default | meaning |", "| --- | --- | --- |"]
    specs = [spec for cls in config_classes or TABLES["flags"] for spec in dataclasses.fields(cls)]
    for spec in specs:
        default = spec.default
        if isinstance(default, tuple):
            default = ",".join(str(value) for value in default) or "(empty)"
        rows.append(f"| `--{spec.name}` | `{default}` | {spec.metadata['help']} |")
    return "\n".join(rows)


def write_into_readme(path: str) -> None:
    """Replace the text between each pair of markers of `path` with the current table."""
    with open(path, encoding="utf-8") as handle:
        text = handle.read()
    for marker, config_classes in TABLES.items():
        head, _, rest = text.partition(f"<!-- {marker}:start -->\n")
        _, _, tail = rest.partition(f"<!-- {marker}:end -->")
        table = flags_table(*config_classes)
        text = f"{head}<!-- {marker}:start -->\n{table}\n<!-- {marker}:end -->{tail}"
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


if __name__ == "__main__":
    if "--write" in sys.argv[1:]:
        write_into_readme(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md"))
    else:
        for config_classes in TABLES.values():
            print(flags_table(*config_classes), end="\n\n")
