"""Command line: `python -m nst_tf.sweep --flagfile=configs/sweeps/NAME.cfg [--flag=value ...]`.

A thin shell like `nst_tf.run`: every flag of the base run (one per StyleConfig and RunConfig
field) and of the sweep (one per SweepConfig field) -> frozen configs -> `run_sweep`, or with
--dry_run the grid and its estimates -> one progress line per cell and a summary. Exit status 0 when
every cell finished, 1 when some did not, 2 for bad input (one `error:` line, nothing run),
130/143 when interrupted by SIGINT/SIGTERM (finished cells are kept; run again to go on).
"""

from __future__ import annotations

import sys

from absl import flags, logging

from nst_tf.cli import signals, startup
from nst_tf.cli.flags import config_from_flags, usage_error
from nst_tf.cli.main import run_command
from nst_tf.cli.run_config import RunConfig
from nst_tf.config import StyleConfig
from nst_tf.sweep.config import SweepConfig

FLAGS = flags.FLAGS


def main(argv: list[str]) -> int:
    """absl's main: the parsed flags' sweep (or its plan, with --dry_run)."""
    if len(argv) > 1:
        return usage_error(f"unexpected arguments: {' '.join(argv[1:])}")
    try:
        base = config_from_flags(FLAGS, StyleConfig)
        base_run = config_from_flags(FLAGS, RunConfig)
        sweep = config_from_flags(FLAGS, SweepConfig)
        if sweep.dry_run:
            print_plan(base, sweep, base_run)
            return 0
        return _run(base, sweep, base_run)
    except (ValueError, OSError) as error:
        return usage_error(str(error))
    except ImportError as error:
        return usage_error(f"--runner=ray needs Ray ({error}): pip install 'nst_tf[ray]'")


def _run(base: StyleConfig, sweep: SweepConfig, base_run: RunConfig) -> int:
    from nst_tf.sweep.runner import run_sweep

    if sweep.runner == "local":  # Ray Tune handles Ctrl-C itself
        signals.install_signal_handlers()
        startup.start_tensorflow(verbose=FLAGS.verbosity >= 1)
    result = run_sweep(base, sweep, log_progress, base_run)
    logging.info(
        "%d cells: %d finished before, %d run now (%d not finished); results in %s, %d sheets",
        len(result.rows), result.skipped, result.ran, result.failed, result.results_path,
        len(result.sheets),
    )  # fmt: skip
    if result.interrupted:
        print("error: interrupted; finished cells are kept (run again to go on)", file=sys.stderr)
        return signals.SIGNAL_EXIT["SIGINT"]
    unfinished = [row for row in result.rows if row["status"] != "finished"]
    if unfinished:
        print(f"error: {len(unfinished)} cells did not finish (see {result.results_path})",
              file=sys.stderr)  # fmt: skip
        return 1
    return 0


def log_progress(progress) -> None:
    """One line per cell that ran: count, settings, how it ended (and where, on Ray), time
    left."""
    from nst_tf.sweep.results import cell_row

    row = cell_row(progress.cell, progress.outcome)
    how = f"total {float(row['total']):.4g}" if row.get("total") else row.get("error", "")
    where = f" on node {progress.outcome.worker[:8]}" if progress.outcome.worker else ""
    logging.info(
        "[%d/%d] %s %s: %s in %.1f s%s; ETA %s",
        progress.done, progress.total, progress.outcome.status, progress.cell.label, how,
        progress.outcome.seconds, where, _duration(progress.eta_seconds),
    )  # fmt: skip


def print_plan(base: StyleConfig, sweep: SweepConfig, base_run: RunConfig) -> None:
    """The grid, the cell count and each cell's size, peak memory and time estimates."""
    from nst_tf.sweep.estimate import estimate_cell
    from nst_tf.sweep.runner import plan

    axes, cells, pending = plan(base, sweep, base_run)
    shape = " x ".join(f"{axis.name}({len(axis.labels)})" for axis in axes)
    print(f"grid: {shape} = {len(cells)} cells; {len(cells) - len(pending)} finished, "
          f"{len(pending)} to run; runner {sweep.runner}; out_dir {sweep.out_dir}")  # fmt: skip
    for axis in axes:
        print(f"  {axis.name}: {', '.join(axis.labels)}")
    total = 0.0
    print("cells (size, estimated peak memory, time on the 2-core reference CPU):")
    for cell in cells:
        estimate = estimate_cell(cell.config, cell.run.content)
        memory = f"{estimate.peak_bytes / 2**30:.2f} GiB" if estimate.peak_bytes else "?"
        time = _duration(estimate.seconds) if estimate.seconds is not None else "?"
        done = "done" if cell not in pending else ""
        if cell in pending:
            total += estimate.seconds or 0.0
        blocks = f"  blocks of {estimate.tile} px" if estimate.tile else ""
        print(
            f"  {cell.label}  {estimate.width}x{estimate.height}{blocks}  {memory}  {time}  {done}"
        )
    print(f"to run: about {_duration(total)} one cell at a time")


def _duration(seconds: float) -> str:
    minutes, seconds = divmod(int(round(seconds)), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{seconds:02d}s"


def entry_point() -> None:
    """`python -m nst_tf.sweep` and the `nst-tf-sweep` console script."""
    run_command(main, (StyleConfig, RunConfig, SweepConfig))


if __name__ == "__main__":
    entry_point()
