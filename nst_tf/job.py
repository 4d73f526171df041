"""One configured run from files to files: the inputs read and checked, `stylize`, and the
image, checkpoint and run record written by `outputs.RunOutputs`. `nst_tf.run` is this plus
flags and signals; every cell of a sweep (`nst_tf.sweep`) is this too.
"""

from __future__ import annotations

import os

import numpy as np

from nst_tf.config import StyleConfig
from nst_tf.image_io import load_image
from nst_tf.outputs import RunOutputs, check_output_path


def read_inputs(config: StyleConfig) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
    """Content, styles (a list) and (for --init=PATH) init images as RGB uint8 arrays.

    Raises ImageError (a ValueError) naming a bad file, ValueError for a missing weights file.
    """
    content = load_image(config.content)
    style = [load_image(path) for path in config.style_paths]
    init = load_image(config.init_path) if config.init_path else None
    if config.weights_path and not os.path.isfile(config.weights_path):
        raise ValueError(
            f"--weights={config.weights}: no such file (or not one of imagenet, none, hed)"
        )
    return content, style, init


def stylize_files(config: StyleConfig, workspace=None, inputs_checked=None):
    """Check the output path, read the inputs, run `stylize` with a RunOutputs as its callback
    (progress log, checkpoints). Returns (outputs, result); `outputs.finish(result)` then
    writes the image and record. `workspace`: a `models.Workspace` to reuse built models and
    traced functions across calls. `inputs_checked()`, if given, runs once the inputs passed
    their checks, before TensorFlow is imported. Nothing is written if the inputs are bad
    (ValueError)."""
    check_output_path(config)
    content, style, init = read_inputs(config)
    if inputs_checked is not None:
        inputs_checked()
    outputs = RunOutputs(config)  # TensorFlow loads only once the inputs are good.
    if config.resume:
        init = outputs.resume()
    from nst_tf.pipeline import stylize

    result = stylize(content, style, outputs.remaining_config(), outputs, init_rgb=init,
                     workspace=workspace, optimizer_state=outputs.optimizer_state)  # fmt: skip
    return outputs, result
