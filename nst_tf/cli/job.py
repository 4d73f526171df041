"""One configured run from files to files: the output path and inputs checked, the inputs read,
the run resumed (if asked), `stylize` with a ProgressReporter as its callback, and the
finishing step. `nst_tf.run` is this plus flags and signals; every cell of a sweep is this too.
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

import numpy as np

from nst_tf import resources
from nst_tf.cli import checkpoint, record
from nst_tf.cli.finish import JobOutcome, finish_run
from nst_tf.cli.reporter import ProgressReporter
from nst_tf.cli.resume import remaining_config, resume_point
from nst_tf.cli.run_config import RunConfig, check_pair, flat_settings
from nst_tf.config import StyleConfig
from nst_tf.image_io import image_format_for, load_image
from nst_tf.optim.common import default_chunk
from nst_tf.regions import masks, segmentation
from nst_tf.regions.masks import Regions

log = logging.getLogger(__name__)
STYLE_ROLE = re.compile(r"style\d*")  # style, style2, ...: not style_mask

if TYPE_CHECKING:  # TensorFlow loads with it: only once a run starts
    from nst_tf.workspace import Workspace


def input_paths(config: StyleConfig, run: RunConfig) -> dict[str, str | None]:
    """role -> path of every input file (content, style, style2..., init, a --weights file,
    masks and segmentation maps), shipped sample names resolved (`resources.resolve`)."""
    styles = {f"style{i + 1}" if i else "style": resources.resolve(path)
              for i, path in enumerate(run.style_paths)}  # fmt: skip
    return {"content": resources.resolve(run.content), **styles, "init": config.init_path,
            "weights": config.weights_path,
            **{role: resources.resolve(path) for role, path in run.mask_paths.items()}}  # fmt: skip


def check_output_path(run: RunConfig, inputs: dict[str, str | None]) -> None:
    """Refuse, before any work, an output that cannot be written or would replace an input.
    A missing folder is fine where it can be created (`stylize_files` creates it)."""
    output = os.path.abspath(run.output)
    image_format_for(run.output)
    if os.path.isdir(output):
        raise ValueError(f"--output={run.output} is a directory")
    folder = os.path.dirname(output)
    existing = folder
    while not os.path.isdir(existing):
        if os.path.exists(existing):
            raise ValueError(f"--output={run.output}: {existing} is not a folder")
        existing = os.path.dirname(existing)
    if not os.access(existing, os.W_OK | os.X_OK):
        raise ValueError(f"--output={run.output}: folder {existing} is not writable")
    for path in inputs.values():
        if path and os.path.exists(path) and os.path.realpath(path) == os.path.realpath(output):
            raise ValueError(f"--output={run.output} is an input file; choose another path")


def read_inputs(
    config: StyleConfig, inputs: dict[str, str | None]
) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
    """(content, [styles], init or None) as RGB uint8 arrays. Raises ImageError (a ValueError)
    naming a bad file, ValueError for a missing weights file."""
    content = load_image(inputs["content"])
    styles = [load_image(path) for role, path in inputs.items() if STYLE_ROLE.fullmatch(role)]
    init = load_image(config.init_path) if config.init_path else None
    if config.weights_path and not os.path.isfile(config.weights_path):
        raise ValueError(
            f"--weights={config.weights}: no such file (or not one of imagenet, none, hed)"
        )
    return content, styles, init


def read_regions(
    config: StyleConfig, run: RunConfig, content: np.ndarray, styles: list[np.ndarray]
) -> Regions | None:
    """The `Regions` that --style_masks (with --style_image_masks) or --content_segmentation
    and --style_segmentations describe, None without them. ImageError naming a mask that cannot
    be read, ValueError (one line) for masks that do not fit the images (`regions.masks`)."""
    shapes, blend = [style.shape for style in styles], config.blend_weights(len(styles))
    if run.content_segmentation:
        return segmentation.regions_from_segmentation(
            load_image(resources.resolve(run.content_segmentation)),
            [load_image(resources.resolve(path)) for path in run.style_segmentations],
            content.shape, shapes, blend, config.region_weights, config.unmasked,
            [run.content_segmentation],
        )  # fmt: skip
    if not run.style_masks:
        return None
    style_image_masks = [load_image(resources.resolve(p)) for p in run.style_image_masks]
    return masks.regions_from_masks(
        [load_image(resources.resolve(path)) for path in run.style_masks], content.shape, shapes,
        blend, style_image_masks, config.region_weights, config.unmasked, run.style_masks,
        run.style_paths,
    )  # fmt: skip


def stylize_files(
    config: StyleConfig,
    run: RunConfig,
    workspace: Workspace | None = None,
    inputs_checked: Callable[[], None] | None = None,
    before_saving: Callable[[], None] | None = None,
) -> JobOutcome:
    """Check, read, (resume,) stylize, finish: see the module doc. `workspace`: a `Workspace`
    to reuse built models and traced functions across calls. `inputs_checked()` runs once the
    inputs passed their checks, before TensorFlow is imported; `before_saving()` once the
    optimisation is over, before the files are written. Nothing is written if the inputs are
    bad (ValueError); a stop request before the optimisation starts propagates."""
    check_pair(config, run)
    paths = input_paths(config, run)
    check_output_path(run, paths)
    content, styles, init = read_inputs(config, paths)
    regions = read_regions(config, run, content, styles)
    if inputs_checked is not None:
        inputs_checked()
    os.makedirs(os.path.dirname(os.path.abspath(run.output)), exist_ok=True)
    from nst_tf.features import weights_file  # TensorFlow loads only once the inputs are good
    from nst_tf.pipeline import stylize

    paths["weights"] = weights_file(config.backbone, config.weights)
    settings, hashed = flat_settings(config, run), record.hash_inputs(paths)
    start = None
    if run.resume:
        start = resume_point(config, settings, hashed, record.record_path(run.output),
                             checkpoint.checkpoint_path(run.output))  # fmt: skip
        log.info("resuming at iteration %d from %s", start.iteration,
                 checkpoint.checkpoint_path(run.output))  # fmt: skip
    history = list(start.history) if start else []
    reporter = ProgressReporter(config, run, record.RunRecord(run.output, settings, hashed,
                                history), start, _tensorboard(run))  # fmt: skip
    result = stylize(content, styles, remaining_config(config, start), reporter,
                     init_rgb=_start_image(init, start), workspace=workspace,
                     optimizer_state=start and start.optimizer_state,
                     average_state=start and start.average_state,
                     device_chunk=default_chunk(run.log_every, run.save_every,
                                                run.checkpoint_every),
                     regions=regions)  # fmt: skip
    if before_saving is not None:
        before_saving()
    return finish_run(reporter, result)


def _start_image(init: np.ndarray | None, start) -> np.ndarray | None:
    return start.image_rgb if start is not None else init


def _tensorboard(run: RunConfig):
    if not run.tensorboard_dir:
        return None
    from nst_tf.cli.tensorboard import TensorBoardWriter

    return TensorBoardWriter(run.tensorboard_dir)
