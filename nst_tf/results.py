"""What `stylize` hands back: a record per iteration (to the callback, and in the history) and
the result of the whole run."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class IterationRecord:
    """Progress after one optimiser iteration.

    losses: the weighted "content", "style", "tv" terms and the unweighted "style/<layer>"
    losses; seconds: wall time of this iteration; gradient_norm: L2 norm of the gradient of the
    last evaluation (model-space pixels); image_vgg: the current image (H, W, 3) in the
    backbone's pixel space (VGG space for VGG and ResNet, see `preprocess`), given to the
    callback only (None in StylizeResult.history, to keep memory flat; with
    --optimizer=lbfgs_tf, None also inside a chunk, see `optim.tf_lbfgsb`); optimizer_state:
    with lbfgs_tf, at a chunk's end, a function returning its LbfgsState (for checkpoints);
    average: with --average_iterates on the host optimisers, a function returning a copy of
    the iterate average's `optim.average.AverageState` (lbfgs_tf keeps it in its state).
    """

    iteration: int
    evaluations: int
    losses: dict[str, float]
    seconds: float
    gradient_norm: float
    image_vgg: np.ndarray | None = field(default=None, repr=False)
    optimizer_state: Callable | None = field(default=None, repr=False)
    average: Callable | None = field(default=None, repr=False)

    @property
    def total_loss(self) -> float:
        """The sum of the weighted terms: content + style + tv (+ any image term, such as the
        video mode's temporal one); the unweighted "style/<layer>" losses are left out."""
        return sum(value for name, value in self.losses.items() if "/" not in name)

    def shifted(self, iterations: int, evaluations: int) -> IterationRecord:
        """This record with `iterations` and `evaluations` done before it added to its counts
        (a later scale of a coarse-to-fine run, a resumed run)."""
        return dataclasses.replace(
            self, iteration=self.iteration + iterations, evaluations=self.evaluations + evaluations
        )


@dataclass(frozen=True)
class StylizeResult:
    """The stylised image (RGB uint8 and model space float32, (H, W, 3)), how the run ended,
    the start image's losses, one IterationRecord per iteration and what ran: setup_seconds
    (building the model, computing the targets, tracing and compiling the loss function and
    evaluating the start image, before the first iteration), the evaluation path and how
    --evaluation=auto chose it (`calibrate.Calibration.as_record`), the precision
    (`precision.effective_precision`) and the devices TensorFlow saw. optimizer_state:
    lbfgs_tf's state at the end (to continue); average_state: a host optimiser's iterate
    average at the end (--average_iterates; to continue); tile_size: the block side the final
    scale was evaluated in (0: the whole image)."""

    image_rgb: np.ndarray
    image_vgg: np.ndarray
    iterations: int
    evaluations: int
    stop_reason: str
    finite: bool
    interrupted: bool
    initial_losses: dict[str, float]
    history: list[IterationRecord]
    optimizer_state: object | None = None
    average_state: object | None = None
    tile_size: int = 0
    setup_seconds: float = 0.0
    evaluation: str = ""
    calibration: dict | None = None
    precision: str = ""
    devices: tuple[str, ...] = ()

    @property
    def optimizing_seconds(self) -> float:
        """Seconds spent in iterations (the sum of the history's)."""
        return sum(record.seconds for record in self.history)


class Recorder:
    """The optimiser's per-iteration hook: builds IterationRecords from what the optimiser or
    the Evaluator's last call knows, keeps the history, calls the callback. Iteration seconds
    count from `start_clock()` (the end of the set-up)."""

    def __init__(self, evaluator, callback: Callable[[IterationRecord], None] | None):
        self.evaluator, self.callback = evaluator, callback
        self.history: list[IterationRecord] = []
        self.clock = time.perf_counter()
        self.ready_at: float | None = None
        self.average = None  # a host optimiser's `optim.average.IterateAverage`, if any

    def start_clock(self) -> None:
        """The set-up is over: the first iteration's seconds count from now."""
        self.clock = self.ready_at = time.perf_counter()

    def __call__(self, iteration: int, evaluations: int, x: np.ndarray | None, info=None) -> None:
        """`info`: the in-graph optimiser's IterationInfo (else the Evaluator's last call)."""
        now = time.perf_counter()
        record = IterationRecord(
            iteration=iteration,
            evaluations=evaluations,
            losses=dict(info.terms if info else self.evaluator.last_terms),
            seconds=now - self.clock,
            gradient_norm=info.gradient_norm if info else self.evaluator.last_gradient_norm,
            image_vgg=None if x is None else x.astype(np.float32),
            optimizer_state=info.state if info else None,
            average=None if self.average is None else self.average.state,
        )
        self.clock = now
        self.history.append(
            dataclasses.replace(record, image_vgg=None, optimizer_state=None, average=None)
        )
        if self.callback is not None:
            self.callback(record)
