"""`run_sweep`: the grid's unfinished cells through a runner, results.csv after every cell,
contact sheets at the end. Progress leaves through a callback, one call per cell that ran.

Re-running the same sweep skips the cells already finished (their records say so) and redoes
the rest: failed, interrupted, or never reached. A failing cell never stops the others; an
interrupt (SIGINT/SIGTERM raised as StopRequested) stops the sweep after saving what it has.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nst_tf.cli.run_config import RunConfig
from nst_tf.config import StyleConfig
from nst_tf.sweep.cells import FINISHED, CellInterrupted, CellOutcome, is_finished, run_cell
from nst_tf.sweep.config import SweepConfig
from nst_tf.sweep.grid import CELLS_FOLDER, Axis, Cell, build_cells
from nst_tf.sweep.results import write_results
from nst_tf.sweep.sheets import Sheet, write_sheets

if TYPE_CHECKING:  # TensorFlow loads with it: only once a run starts
    from nst_tf.workspace import Workspace

RESULTS_FILE = "results.csv"


@dataclass(frozen=True)
class SweepProgress:
    """After one cell: how many of the grid's cells are done (finished or given up on, counting
    those finished by earlier runs), the outcome, and the time left at this run's pace."""

    done: int
    total: int
    cell: Cell
    outcome: CellOutcome
    eta_seconds: float


@dataclass(frozen=True)
class SweepResult:
    """rows: results.csv as dicts; skipped: cells finished before this run; ran: cells run now
    (finished or not); failed: of those, the ones that did not finish."""

    results_path: str
    rows: list[dict]
    sheets: list[Sheet]
    skipped: int
    ran: int
    failed: int
    interrupted: bool


def plan(
    base: StyleConfig, sweep: SweepConfig, base_run: RunConfig | None = None
) -> tuple[list[Axis], list[Cell], list[Cell]]:
    """(axes, every cell, the cells still to run); `base_run` (default RunConfig()) gives the
    content and style images when --contents and --styles are empty."""
    axes, cells = build_cells(base, sweep, base_run)
    return axes, cells, [cell for cell in cells if not is_finished(cell)]


def run_sweep(
    base: StyleConfig,
    sweep: SweepConfig,
    on_progress: Callable[[SweepProgress], None] | None = None,
    base_run: RunConfig | None = None,
) -> SweepResult:
    """Run every unfinished cell of the grid with `sweep.runner`; see the module doc. `base`:
    the settings every cell starts from; `base_run`: the command-line settings every cell
    starts from (its content and style images, TensorBoard folder; default RunConfig())."""
    from nst_tf.optim import StopRequested

    axes, cells, pending = plan(base, sweep, base_run)
    os.makedirs(os.path.join(sweep.out_dir, CELLS_FOLDER), exist_ok=True)
    results_path = os.path.join(sweep.out_dir, RESULTS_FILE)
    outcomes: dict[str, CellOutcome] = {}
    started, done_before = time.perf_counter(), len(cells) - len(pending)

    def record(cell: Cell, outcome: CellOutcome) -> None:
        outcomes[cell.name] = outcome
        write_results(results_path, axes, cells, outcomes)
        ran = len(outcomes)
        eta = (time.perf_counter() - started) / ran * (len(pending) - ran)
        if on_progress is not None:
            on_progress(SweepProgress(done_before + ran, len(cells), cell, outcome, eta))

    write_results(results_path, axes, cells, outcomes)
    interrupted = False
    try:
        if sweep.runner == "ray":
            from nst_tf.sweep.ray_runner import RayPlacement, run_on_ray

            by_name = {cell.name: cell for cell in pending}
            placement = RayPlacement(sweep.ray_address, sweep.cpus_per_trial,
                                     sweep.gpus_per_trial)  # fmt: skip
            run_on_ray(by_name, run_cell, placement, sweep.out_dir,
                       lambda name, outcome: record(by_name[name], outcome))  # fmt: skip
        else:
            run_locally(pending, record)
    except (CellInterrupted, StopRequested) as stop:
        interrupted = True
        if isinstance(stop, CellInterrupted):
            outcomes[stop.cell_name] = CellOutcome(
                stop.cell_name, "interrupted", "interrupted", 0.0
            )
    rows = write_results(results_path, axes, cells, outcomes)
    sheets = write_sheets(sweep.out_dir, axes, cells, sweep.sheet_size)
    failed = sum(outcome.status != FINISHED for outcome in outcomes.values())
    return SweepResult(results_path, rows, sheets, done_before, len(outcomes), failed, interrupted)


def run_locally(
    cells: list[Cell],
    on_done: Callable[[Cell, CellOutcome], None],
    workspace: Workspace | None = None,
) -> None:
    """The cells one after another in this process, sharing one `Workspace` (a new one
    unless given): the backbone is built once per setting and the loss function traced once
    per size and loss layout, whatever the images and weights."""
    from nst_tf.workspace import Workspace

    workspace = workspace or Workspace()
    for cell in cells:
        on_done(cell, run_cell(cell, workspace))
