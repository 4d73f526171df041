"""results.csv: one row per cell, rewritten (atomically) as cells finish.

Columns: cell, one per axis (content, style, then the --grid fields, holding the values as
written), status (finished, failed, non-finite, interrupted or pending), the final iterate's
weighted loss terms (total, content, style, tv), iterations, evaluations, seconds (the run's
wall time from its record), error (one line) and image (the output path, relative to the
CSV's folder). Numbers are written
with full float precision, so two sweeps can be compared value for value.
"""

from __future__ import annotations

import csv
import io
import os

from nst_tf.image_io import write_atomically
from nst_tf.sweep.cells import FINISHED, CellOutcome, is_finished, read_record
from nst_tf.sweep.grid import Axis, Cell

RESULT_COLUMNS = ("status", "total", "content_loss", "style_loss", "tv_loss", "iterations",
                  "evaluations", "seconds", "error", "image")  # fmt: skip


def cell_row(cell: Cell, outcome: CellOutcome | None) -> dict[str, str]:
    """The CSV row of a cell: from its record when it is finished on disk, else from this
    run's outcome (with the record's figures where one was written), else pending."""
    row = {"cell": cell.name, **dict(cell.settings), "image": cell.run.output}
    if is_finished(cell):
        return {**row, "status": FINISHED, **_figures(read_record(cell))}
    if outcome is None:
        return {**row, "status": "pending"}
    record = read_record(cell) if outcome.status != "failed" else None
    figures = _figures(record) if record else {"seconds": f"{outcome.seconds:.3f}"}
    return {**row, "status": outcome.status, "error": outcome.error, **figures}


def _figures(record: dict) -> dict[str, str]:
    history = record.get("history") or [{"losses": record.get("initial_losses", {})}]
    losses = history[-1]["losses"]
    terms = {name: float(losses.get(name, float("nan"))) for name in ("content", "style", "tv")}
    return {
        "total": repr(sum(terms.values())),
        "content_loss": repr(terms["content"]),
        "style_loss": repr(terms["style"]),
        "tv_loss": repr(terms["tv"]),
        "iterations": str(record.get("iterations", "")),
        "evaluations": str(record.get("evaluations", "")),
        "seconds": str(record.get("seconds", "")),
    }


def write_results(
    path: str, axes: list[Axis], cells: list[Cell], outcomes: dict[str, CellOutcome]
) -> list[dict[str, str]]:
    """Write results.csv for every cell of the grid; returns the rows."""
    columns = ["cell", *(axis.name for axis in axes), *RESULT_COLUMNS]
    folder = os.path.dirname(os.path.abspath(path))
    rows = [
        {**row, "image": os.path.relpath(row["image"], folder)}
        for row in (cell_row(cell, outcomes.get(cell.name)) for cell in cells)
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    write_atomically(path, lambda handle: handle.write(buffer.getvalue().encode("utf-8")))
    return rows
