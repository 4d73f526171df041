"""absl flags derived from the config dataclasses, flagfiles that resolve from any folder, and
the one-line error of a bad flag.

Every field of StyleConfig, RunConfig (and, for sweeps, SweepConfig) is a flag of the same
name, type, default and help; a tuple field is a comma-separated list, or a repeatable flag
where its metadata says `repeat`. Flagfiles hold one flag a line (`#` and `//` comments) and
nest with `--flagfile=`; the last value given wins. A flagfile path is read from the working
directory, or else, for the presets nst_tf ships (`configs/NAME.cfg`), from the installed
package (`resources`), so `--flagfile=configs/offline.cfg` works in any folder.
"""

from __future__ import annotations

import dataclasses
import sys
from typing import TypeVar

from absl import flags, logging

from nst_tf import resources
from nst_tf.cli import overrides
from nst_tf.cli.run_config import RunConfig, check_pair
from nst_tf.config import StyleConfig

USAGE_ERROR = 2
Config = TypeVar("Config")
_FLAGFILE = "--flagfile="
_DEFINERS = {
    "int": flags.DEFINE_integer,
    "float": flags.DEFINE_float,
    "str": flags.DEFINE_string,
    "bool": flags.DEFINE_boolean,
}


def define_flags(flag_values: flags.FlagValues, config_class: type) -> None:
    """One absl flag per field of `config_class`, with the field's default and help."""
    for spec in dataclasses.fields(config_class):
        help_text = spec.metadata["help"]
        if spec.metadata.get("repeat"):
            flags.DEFINE_multi_string(
                spec.name, list(spec.default), help_text, flag_values=flag_values
            )
        elif spec.type.startswith("tuple"):
            default = [str(value) for value in spec.default]
            flags.DEFINE_list(spec.name, default, help_text, flag_values=flag_values)
        else:
            _DEFINERS[spec.type](spec.name, spec.default, help_text, flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues, config_class: type[Config]) -> Config:
    """The validated `config_class` instance the parsed flags describe (ValueError naming the
    flag)."""
    values = {}
    for spec in dataclasses.fields(config_class):
        value = flag_values[spec.name].value
        if spec.metadata.get("repeat"):
            value = tuple(value)
        elif spec.type == "tuple[float, ...]":
            value = tuple(_parse_number(spec.name, item, float) for item in value)
        elif spec.type == "tuple[int, ...]":
            value = tuple(_parse_number(spec.name, item, int) for item in value)
        elif spec.type.startswith("tuple"):
            value = tuple(item.strip() for item in value if item.strip())
        values[spec.name] = value
    return config_class(**values).validate()


def run_configs_from_flags(flag_values: flags.FlagValues) -> tuple[StyleConfig, RunConfig]:
    """(StyleConfig, RunConfig) of a run, checked together (`run_config.check_pair`)."""
    config = config_from_flags(flag_values, StyleConfig)
    run = config_from_flags(flag_values, RunConfig)
    check_pair(config, run)
    return config, run


def _parse_number(name: str, text: str, kind: type) -> float | int:
    try:
        return kind(text)
    except ValueError:
        what = "a number" if kind is float else "a whole number"
        raise ValueError(f"--{name}: {text!r} is not {what}") from None


def expand_flagfiles(argv: list[str], _open: tuple[str, ...] = ()) -> list[str]:
    """`argv` with every `--flagfile=PATH` replaced by that file's flags, nested files
    included, in order (so later flags still win). ValueError for a missing or unreadable
    file or a file that includes itself."""
    expanded = []
    for argument in argv:
        if not argument.startswith(_FLAGFILE):
            expanded.append(argument)
            continue
        path = resources.resolve(argument[len(_FLAGFILE) :])
        if path in _open:
            raise ValueError(f"--flagfile={path} includes itself")
        expanded += expand_flagfiles(_flagfile_lines(path), (*_open, path))
    return expanded


def _flagfile_lines(path: str) -> list[str]:
    try:
        with open(path, encoding="utf-8") as handle:
            lines = [line.strip() for line in handle]
    except OSError as error:
        raise ValueError(f"--flagfile={path}: {error.strerror or error}") from None
    return [line for line in lines if line and not line.startswith(("#", "//"))]


def usage_error(message: str) -> int:
    """Print `error: message` (one line, on stderr) and return the bad-input exit status, 2."""
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def parse_flags(argv: list[str], one_scale: bool = False) -> list[str]:
    """absl's parser for `app.run` (on absl's global FLAGS), flagfiles expanded first and the
    command line reconciled with the preset (`overrides`, each change logged in one line;
    `one_scale` for the video mode); a bad flag or flagfile is one `error:` line and exit
    status 2."""
    try:
        expanded, notes = overrides.reconcile(argv[1:], expand_flagfiles(argv[1:]), one_scale)
        remaining = flags.FLAGS([argv[0], *expanded])
        for note in notes:
            logging.info(note)
        return remaining
    except (flags.Error, ValueError) as error:
        sys.exit(usage_error(str(error).splitlines()[0]))
