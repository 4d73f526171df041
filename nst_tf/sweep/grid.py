"""The grid: axes over config fields and lists of images, expanded into cells.

An axis is written FIELD:V1,V2,... (`--grid=style_weight:0.01,0.1 --grid=init:content,noise`);
values are parsed by the field's type, list fields join their items with '+'. Content and
style images are axes too (`--contents`, `--styles`: files, folders or globs). The grid is the
product of the image axes and the --grid axes, in that order; every cell is the base configs
(StyleConfig and RunConfig) with its values set, its output in `<out_dir>/cells/`.
"""

from __future__ import annotations

import dataclasses
import glob
import hashlib
import itertools
import json
import os
import re
from dataclasses import dataclass

from nst_tf import resources
from nst_tf.cli.run_config import RUN_CONTROL_FIELDS, RunConfig, flat_settings
from nst_tf.config import StyleConfig
from nst_tf.sweep.config import SweepConfig

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp")
# Fields a cell sets itself or that do not change its result.
NOT_AXES = {"content": "use --contents", "style": "use --styles", "output": "set by the sweep",
            "tensorboard_dir": "set per cell"} | {name: "does not change a result"
                                                   for name in RUN_CONTROL_FIELDS}  # fmt: skip
CELLS_FOLDER = "cells"
_LIST_JOIN = "+"
_UNSAFE = re.compile(r"[^A-Za-z0-9.=+-]+")


@dataclass(frozen=True)
class Axis:
    """One dimension of the grid: a config field (or "content"/"style" for the image lists),
    the values as written (labels) and as typed."""

    name: str
    labels: tuple[str, ...]
    values: tuple


@dataclass(frozen=True)
class Cell:
    """One run of the grid. settings: (axis name, label) for every axis; name: a file-safe id,
    stable across invocations of the same sweep (it ends with a hash of the cell's config)."""

    index: int
    name: str
    settings: tuple[tuple[str, str], ...]
    config: StyleConfig
    run: RunConfig

    @property
    def label(self) -> str:
        """The settings as one short line, e.g. `tubingen the_scream style_weight=0.1`."""
        return " ".join(
            label if axis in ("content", "style") else f"{axis}={label}"
            for axis, label in self.settings
        )


def parse_axis(text: str) -> Axis:
    """`FIELD:V1,V2,...` -> Axis; ValueError naming the flag for an unknown field or a bad
    value."""
    name, colon, rest = text.partition(":")
    name = name.strip()
    fields = {spec.name: spec for spec in dataclasses.fields(StyleConfig)}
    fields |= {spec.name: spec for spec in dataclasses.fields(RunConfig)}
    if not colon or not name:
        raise ValueError(f"--grid={text}: write an axis as FIELD:VALUE1,VALUE2,...")
    if name not in fields:
        raise ValueError(f"--grid={text}: {name!r} is not a config field (see --helpfull)")
    if name in NOT_AXES:
        raise ValueError(f"--grid={text}: {name} cannot be an axis ({NOT_AXES[name]})")
    labels = tuple(label.strip() for label in rest.split(",") if label.strip())
    if not labels:
        raise ValueError(f"--grid={text}: no values")
    if len(set(labels)) != len(labels):
        raise ValueError(f"--grid={text}: a value is repeated")
    values = tuple(_typed(fields[name].type, label, text) for label in labels)
    return Axis(name, labels, values)


def _typed(type_name: str, label: str, text: str):
    try:
        if type_name == "int":
            return int(label)
        if type_name == "float":
            return float(label)
        if type_name == "tuple[float, ...]":
            return tuple(float(item) for item in label.split(_LIST_JOIN) if item)
        if type_name.startswith("tuple"):
            return tuple(item.strip() for item in label.split(_LIST_JOIN) if item.strip())
        return label
    except ValueError:
        raise ValueError(f"--grid={text}: {label!r} is not a valid {type_name}") from None


def expand_images(entries: tuple[str, ...], flag: str) -> list[str]:
    """Absolute paths of the images named by files, folders (their image files, sorted) and
    globs. ValueError if an entry names nothing."""
    paths: list[str] = []
    for entry in entries:
        if os.path.isdir(entry):
            found = [
                os.path.join(entry, name)
                for name in sorted(os.listdir(entry))
                if name.lower().endswith(IMAGE_EXTENSIONS)
            ]
        elif glob.has_magic(entry):
            found = sorted(glob.glob(entry))
        else:
            found = [entry] if os.path.exists(entry) else []
        if not found:
            raise ValueError(f"--{flag}: {entry} names no image file")
        paths += [os.path.abspath(path) for path in found]
    return list(dict.fromkeys(paths))


def image_axis(name: str, paths: list[str]) -> Axis:
    """An image axis labelled by file stems (with the folder where two stems clash)."""
    stems = [os.path.splitext(os.path.basename(path))[0] for path in paths]
    labels = [
        stem if stems.count(stem) == 1 else f"{os.path.basename(os.path.dirname(path))}/{stem}"
        for stem, path in zip(stems, paths, strict=True)
    ]
    return Axis(name, tuple(labels), tuple(paths))


def grid_axes(base_run: RunConfig, sweep: SweepConfig) -> list[Axis]:
    """Content axis, style axis, then the --grid axes in the order given."""
    contents = expand_images(sweep.contents or (resources.resolve(base_run.content),), "contents")
    styles = (
        expand_images(sweep.styles, "styles")
        if sweep.styles
        else [_absolute(",".join(resources.resolve(path) for path in base_run.style_paths))]
    )
    axes = [image_axis("content", contents), image_axis("style", styles)]
    for text in sweep.grid:
        axis = parse_axis(text)
        if axis.name in {known.name for known in axes}:
            raise ValueError(f"--grid={text}: {axis.name} is already an axis")
        axes.append(axis)
    return axes


def build_cells(
    base: StyleConfig, sweep: SweepConfig, base_run: RunConfig | None = None
) -> tuple[list[Axis], list[Cell]]:
    """The axes and every cell of their product (ValueError naming a cell whose settings are
    invalid, e.g. style_layer_weights that do not fit its style_layers)."""
    base_run = base_run or RunConfig()
    axes = grid_axes(base_run, sweep)
    cells_folder = os.path.join(os.path.abspath(sweep.out_dir), CELLS_FOLDER)
    cells = []
    for index, choice in enumerate(itertools.product(*(range(len(a.values)) for a in axes))):
        settings = tuple((a.name, a.labels[i]) for a, i in zip(axes, choice, strict=True))
        changes = {a.name: a.values[i] for a, i in zip(axes, choice, strict=True)}
        try:
            config, run = _cell_configs(base, base_run, changes)
        except ValueError as error:
            raise ValueError(f"cell {_describe(settings)}: {error}") from None
        name = _cell_name(settings, config, run)
        output = os.path.join(cells_folder, name + _output_extension(base_run.output))
        board = os.path.join(base_run.tensorboard_dir, name) if base_run.tensorboard_dir else ""
        cells.append(Cell(index, name, settings, config,
                          run.replace(output=output, tensorboard_dir=board)))  # fmt: skip
    return axes, cells


def _cell_configs(base: StyleConfig, base_run: RunConfig, changes: dict):
    run_fields = {spec.name for spec in dataclasses.fields(RunConfig)}
    run = base_run.replace(**{k: v for k, v in changes.items() if k in run_fields},
                           log_every=0, checkpoint_every=0, resume=False)  # fmt: skip
    config = base.replace(**{k: v for k, v in changes.items() if k not in run_fields})
    paths = {"init": config.init_path, "weights": config.weights_path}
    config = config.replace(**{key: _absolute(path) for key, path in paths.items() if path})
    return config, run


def _absolute(paths: str) -> str:
    return ",".join(os.path.abspath(path) for path in paths.split(","))


def _output_extension(output: str) -> str:
    return os.path.splitext(output)[1] or ".png"


def _describe(settings) -> str:
    return " ".join(f"{axis}={label}" for axis, label in settings)


def config_digest(config: StyleConfig, run: RunConfig) -> str:
    """Six hex digits of SHA-256 over the fields that shape the result and differ from their
    defaults (so a later version adding a field with a default keeps the names of finished
    cells); the output path and run-control fields are left out."""
    defaults = flat_settings(StyleConfig(), RunConfig())
    values = {
        name: value
        for name, value in flat_settings(config, run).items()
        if value != defaults[name]
        and name not in ("output", "tensorboard_dir", *RUN_CONTROL_FIELDS)
    }
    text = json.dumps(values, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:6]


def _cell_name(settings, config: StyleConfig, run: RunConfig) -> str:
    parts = [
        label if axis in ("content", "style") else f"{axis}={label}" for axis, label in settings
    ]
    slug = _UNSAFE.sub("_", "_".join(parts)).strip("_")[:120]
    return f"{slug}_{config_digest(config, run)}"
