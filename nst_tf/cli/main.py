"""The `nst_tf.run` command: parsed flags -> (StyleConfig, RunConfig) -> `job.stylize_files`
under the signal handlers -> one line saying how it ended, and the exit status.

Exit status: 0 finished; 1 non-finite loss (the last finite image saved); 2 bad input (one
`error: ...` line, nothing written); 130/143 interrupted by SIGINT/SIGTERM (the best image so
far and a checkpoint saved); a second signal exits at once.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable

from absl import app, flags, logging

from nst_tf.cli import flags as cli_flags
from nst_tf.cli import signals, startup
from nst_tf.cli.job import stylize_files
from nst_tf.cli.run_config import RunConfig
from nst_tf.config import StyleConfig

FLAGS = flags.FLAGS


def run_files(config: StyleConfig, run: RunConfig) -> int:
    """One run from files to files, as the command line does it; returns the exit status."""
    return run_job(
        lambda: stylize_files(
            config, run, inputs_checked=_start_tensorflow, before_saving=signals.exit_on_signal
        ),  # fmt: skip
        "before optimisation started; nothing saved",
    )


def run_job(job: Callable[[], object], interrupted_early: str) -> int:
    """Run `job` (it returns an outcome with `exit_status` and `message`) under the signal
    handlers; one line saying how it ended; the exit status. A signal that reaches here (before
    the job could keep anything) prints `error: <signal> <interrupted_early>`; ValueError and
    OSError (bad input) print their one line and give 2."""
    try:
        with signals.interruptible():
            outcome = job()
    except signals.Interrupted as interrupt:
        print(f"error: {interrupt} {interrupted_early}", file=sys.stderr)
        return signals.SIGNAL_EXIT[str(interrupt)]
    except (ValueError, OSError) as error:  # ImageError, WeightsError, ResourceError too
        return cli_flags.usage_error(str(error))
    if outcome.exit_status:
        print(outcome.message, file=sys.stderr)
    else:
        logging.info(outcome.message)
    return outcome.exit_status


def _start_tensorflow() -> None:
    startup.start_tensorflow(verbose=FLAGS.is_parsed() and FLAGS.verbosity >= 1)


def main(argv: list[str]) -> int:
    """absl's main: the parsed flags' run."""
    if len(argv) > 1:
        return cli_flags.usage_error(
            f"unexpected arguments: {' '.join(argv[1:])} (flags look like --name=value)"
        )
    try:
        config, run = cli_flags.run_configs_from_flags(FLAGS)
    except ValueError as error:
        return cli_flags.usage_error(str(error))
    return run_files(config, run)


def entry_point() -> None:
    """`python -m nst_tf.run` and the `nst-tf-run` console script."""
    run_command(main, (StyleConfig, RunConfig))


def run_command(
    main_function: Callable[[list[str]], int], config_classes: tuple, one_scale: bool = False
) -> None:
    """An absl command: restarted once with the malloc settings, TensorFlow's start-up notices
    hidden, one flag per field of `config_classes`, flagfiles resolved (a preset's scales set
    to one where `one_scale`), `main_function` run."""
    startup.reexec_with_malloc_tunables()
    startup.quiet_tensorflow_logs()
    for config_class in config_classes:
        cli_flags.define_flags(FLAGS, config_class)
    logging.set_verbosity(logging.INFO)
    parser = functools.partial(cli_flags.parse_flags, one_scale=one_scale)
    app.run(main_function, flags_parser=parser)
