"""Flags given on the command line over a preset that would otherwise contradict it.

A preset sets flags that belong together (`print.cfg`: four scales and a four-share split).
Overriding one of them on the command line should not stop the run on the other:
- `--scales=N` without `--scale_split`, over a preset whose split has another count: the
  preset's split is dropped, so the iterations are split by the default halving for N scales.
- the video mode (one scale per frame) over a preset with `--scales` > 1 that the command line
  did not set: the preset's scales are set to 1.
Each change is returned as a one-line note for the log; the command line itself always wins.
"""

from __future__ import annotations


def last_value(args: list[str], name: str) -> str | None:
    """The value of the last `--name=value` (or `--name value`) in `args`; None if absent."""
    value = None
    for index, argument in enumerate(args):
        if argument.startswith(f"--{name}="):
            value = argument.split("=", 1)[1]
        elif argument == f"--{name}" and index + 1 < len(args):
            value = args[index + 1]
    return value


def reconcile(
    command_line: list[str], expanded: list[str], one_scale: bool = False
) -> tuple[list[str], list[str]]:
    """(`expanded` with the flags that resolve a contradiction appended, notes for the log).

    `command_line`: the arguments as typed, flagfiles unexpanded; `expanded`: the same with
    every flagfile's flags in place (the preset's first, so appended flags win); `one_scale`:
    the command runs one scale only (the video mode)."""
    typed_scales = last_value(command_line, "scales")
    typed_split = last_value(command_line, "scale_split")
    preset_scales = last_value(expanded, "scales")
    split = last_value(expanded, "scale_split")
    added, notes = [], []
    if one_scale and typed_scales is None and preset_scales not in (None, "1"):
        added += ["--scales=1", "--scale_split="]
        notes.append(
            f"the video mode stylises each frame at one scale: the preset's "
            f"--scales={preset_scales} is set to 1"
        )
    elif typed_scales is not None and typed_split is None and _split_misfits(split, typed_scales):
        added.append("--scale_split=")
        notes.append(
            f"--scales={typed_scales} without --scale_split: the preset's "
            f"--scale_split={split} is dropped; the iterations halve from one scale to the next"
        )
    return expanded + added, notes


def _split_misfits(split: str | None, scales: str) -> bool:
    """Whether a preset's non-empty `split` has another count than `scales` (not a number
    counts as a misfit: the flag parser then names the bad value)."""
    if not split:
        return False
    try:
        return len(split.split(",")) != int(scales)
    except ValueError:
        return True
