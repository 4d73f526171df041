"""Running one cell and reading back how it went: what both runners share.

A cell is an ordinary files-to-files run (`nst_tf.cli.job.stylize_files`) writing
`<out_dir>/cells/<name>.png` and its run record `<name>.json`. The record is the truth about a
cell: it is finished when its record says "finished" and its image exists, and its row in
results.csv is read from that record, whichever runner ran it.
"""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from nst_tf.cli.record import record_path
from nst_tf.sweep.grid import Cell

if TYPE_CHECKING:  # TensorFlow loads with it: only once a run starts
    from nst_tf.workspace import Workspace

log = logging.getLogger(__name__)
FINISHED = "finished"


@dataclass(frozen=True)
class CellOutcome:
    """status: finished, failed, non-finite or interrupted; error: one line (empty if none);
    seconds: wall time of the attempt in this process; worker: where it ran (the Ray node's
    id, empty when run in this process)."""

    name: str
    status: str
    error: str
    seconds: float
    worker: str = ""


class CellInterrupted(BaseException):
    """The sweep was interrupted during this cell (the cell is left unfinished, redone on the
    next run). A BaseException, like the StopRequested it comes from."""

    def __init__(self, cell_name: str, reason: str):
        super().__init__(cell_name, reason)
        self.cell_name = cell_name


def is_finished(cell: Cell) -> bool:
    """True when the cell's record says finished and its image is there."""
    record = read_record(cell)
    return bool(record) and record.get("status") == FINISHED and os.path.isfile(cell.run.output)


def read_record(cell: Cell) -> dict | None:
    """The cell's run record, or None if there is none (or it cannot be read)."""
    try:
        with open(record_path(cell.run.output), encoding="utf-8") as handle:
            return json.load(handle)
    except (OSError, json.JSONDecodeError):
        return None


def run_cell(cell: Cell, workspace: Workspace | None = None) -> CellOutcome:
    """Run one cell, writing its image and record. Any error ends this cell only and comes
    back in the outcome; a stop request (signal) raises CellInterrupted after the best image
    so far and an "interrupted" record are saved."""
    from nst_tf.cli.job import stylize_files
    from nst_tf.optim import StopRequested

    started = time.perf_counter()
    try:
        outcome = stylize_files(cell.config, cell.run, workspace)
    except StopRequested as stop:
        raise CellInterrupted(cell.name, str(stop)) from None
    except Exception as error:  # one cell's failure, whatever it is, must not stop the others
        log.debug("cell %s failed", cell.name, exc_info=True)
        return CellOutcome(cell.name, "failed", one_line(error), time.perf_counter() - started)
    if outcome.status == "interrupted":
        raise CellInterrupted(cell.name, outcome.result.stop_reason)
    seconds = time.perf_counter() - started
    if outcome.status != FINISHED:
        return CellOutcome(cell.name, outcome.status, outcome.result.stop_reason, seconds)
    return CellOutcome(cell.name, FINISHED, "", seconds)


def one_line(error: Exception) -> str:
    """`ValueError: first line of the message`."""
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0]}" if text else type(error).__name__
