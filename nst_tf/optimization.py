"""Running the configured optimiser on an image (`pipeline.stylize_scale`'s step between the
Evaluator and the result): SciPy's L-BFGS-B, the in-graph L-BFGS-B or Adam, in the pixel box,
with the iterate average of --average_iterates."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nst_tf import devices, preprocess
from nst_tf.config import StyleConfig
from nst_tf.evaluation.evaluator import Evaluator
from nst_tf.optim import minimize_adam, minimize_lbfgs
from nst_tf.optim.average import AverageState, IterateAverage
from nst_tf.optim.common import LbfgsState, OptimizeResult
from nst_tf.results import Recorder

if TYPE_CHECKING:
    from nst_tf.pipeline import Prepared


def optimize_image(
    prepared: Prepared,
    config: StyleConfig,
    evaluator: Evaluator,
    start_model: np.ndarray,
    recorder: Recorder,
    state: LbfgsState | None = None,
    average_state: AverageState | None = None,
) -> OptimizeResult:
    """Run the configured optimiser from `start_model` (H, W, 3, model space) in the 0-255
    pixel box after a set-up (tracing, compiling, the start's evaluation) that
    `recorder.start_clock` ends; `state`: an lbfgs_tf state to continue exactly (its iterate
    average included); `average_state`: a host optimiser's iterate average to continue."""
    lower, upper = preprocess.space_for(config.backbone).bounds(*start_model.shape[:2])
    common = dict(iterations=config.iterations, max_evaluations=config.evaluation_cap,
                  history=config.lbfgs_history, on_iteration=recorder)  # fmt: skip
    if config.optimizer == "lbfgs_tf":
        from nst_tf.optim.tf_lbfgsb import minimize_lbfgs_tf

        chunk = prepared.device_chunk
        # XLA compiles the whole loop too, unless the blocks' functions are compiled apart
        xla = devices.uses_xla(prepared.evaluation) and not prepared.tiles[config.max_size]
        optimizer = prepared.workspace.device_optimizer(
            evaluator.loss_function, lower, upper, config.lbfgs_history, xla, chunk,
            config.lbfgs_history_dtype, config.average_iterates > 0,
        )  # fmt: skip
        return minimize_lbfgs_tf(None, start_model, lower, upper, chunk=chunk, state=state,
                                 optimizer=optimizer, on_ready=recorder.start_clock,
                                 history_dtype=config.lbfgs_history_dtype,
                                 average_decay=config.average_iterates, **common)  # fmt: skip
    # every optimiser makes its own float64 copy of the start: none is kept here for the run
    evaluator.warm_up(start_model.astype(np.float64).ravel())
    if config.average_iterates:
        recorder.average = IterateAverage(config.average_iterates, average_state)
    recorder.start_clock()
    if config.optimizer == "adam":
        return minimize_adam(evaluator, start_model, lower, upper, config.iterations,
                             config.learning_rate, recorder, recorder.average)  # fmt: skip
    return minimize_lbfgs(evaluator, start_model, lower, upper, average=recorder.average, **common)
