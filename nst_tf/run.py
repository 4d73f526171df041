"""Command line: `python -m nst_tf.run --flagfile=configs/default.cfg [--flag=value ...]`.

A thin shell: flags (one per StyleConfig field, defaults read from it) -> a frozen config ->
inputs read and checked -> `nst_tf.stylize` -> image, checkpoint and JSON record saved
atomically. Bad input: exit status 2 and one `error: ...` line, nothing written. SIGINT/SIGTERM:
the best image so far is saved, exit status 130/143; a second signal exits at once.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from absl import app, flags, logging  # noqa: E402

from nst_tf import memory  # noqa: E402
from nst_tf.config import StyleConfig  # noqa: E402
from nst_tf.job import stylize_files  # noqa: E402
from nst_tf.optim import StopRequested  # noqa: E402
from nst_tf.outputs import SIGNAL_EXIT  # noqa: E402

FLAGS = flags.FLAGS
USAGE_ERROR = 2


def define_flags(flag_values: flags.FlagValues = FLAGS, config_class=StyleConfig) -> None:
    """One absl flag per field of `config_class` (StyleConfig, or the sweep's SweepConfig),
    with the field's default and help. A tuple field is a comma-separated list, or a repeatable
    flag where its metadata says `repeat`."""
    definers = {
        "int": flags.DEFINE_integer,
        "float": flags.DEFINE_float,
        "str": flags.DEFINE_string,
        "bool": flags.DEFINE_boolean,
    }
    for spec in dataclasses.fields(config_class):
        help_text = spec.metadata["help"]
        if spec.metadata.get("repeat"):
            flags.DEFINE_multi_string(
                spec.name, list(spec.default), help_text, flag_values=flag_values
            )
        elif spec.type.startswith("tuple"):
            default = [str(value) for value in spec.default]
            flags.DEFINE_list(spec.name, default, help_text, flag_values=flag_values)
        else:
            definers[spec.type](spec.name, spec.default, help_text, flag_values=flag_values)


def config_from_flags(flag_values: flags.FlagValues = FLAGS, config_class=StyleConfig):
    """The validated `config_class` instance (StyleConfig by default) the parsed flags
    describe."""
    values = {}
    for spec in dataclasses.fields(config_class):
        value = flag_values[spec.name].value
        if spec.metadata.get("repeat"):
            value = tuple(value)
        elif spec.type == "tuple[float, ...]":
            value = tuple(_parse_float(spec.name, item) for item in value)
        elif spec.type.startswith("tuple"):
            value = tuple(item.strip() for item in value if item.strip())
        values[spec.name] = value
    return config_class(**values).validate()


def _parse_float(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"--{name}: {text!r} is not a number") from None


class Interrupted(StopRequested):
    """Raised by the first SIGINT/SIGTERM: stylize stops and returns the best image so far."""


def install_signal_handlers() -> None:
    """First SIGINT/SIGTERM raises Interrupted (named after the signal); a second one exits."""

    def first(signum, frame):
        signal.signal(signal.SIGINT, exit_now)
        signal.signal(signal.SIGTERM, exit_now)
        raise Interrupted(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, first)
    signal.signal(signal.SIGTERM, first)


def exit_now(signum, frame):
    os._exit(128 + signum)


def run(config: StyleConfig) -> int:
    """Check the inputs, stylise, save the image and its run record. Returns the exit status."""
    previous = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
    install_signal_handlers()
    try:
        return _checked_run(config)
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def _checked_run(config: StyleConfig) -> int:
    try:
        outputs, result = stylize_files(config, inputs_checked=start_tensorflow)
    except Interrupted as interrupt:
        print(f"error: {interrupt} before optimisation started; nothing saved", file=sys.stderr)
        return SIGNAL_EXIT[str(interrupt)]
    signal.signal(signal.SIGINT, exit_now)  # saving is atomic: a signal now just ends the process
    signal.signal(signal.SIGTERM, exit_now)
    interrupted = result.stop_reason if result.stop_reason in SIGNAL_EXIT else None
    status, message = outputs.finish(result, interrupted)
    if status:
        print(message, file=sys.stderr)
    else:
        logging.info(message)
    return status


def main(argv: list[str]) -> int:
    if len(argv) > 1:
        return usage_error(
            f"unexpected arguments: {' '.join(argv[1:])} (flags look like --name=value)"
        )
    try:
        config = config_from_flags()
    except ValueError as error:
        return usage_error(str(error))
    return run_or_fail(config)


def run_or_fail(config: StyleConfig) -> int:
    """`run`, with bad input reported as one `error: ...` line and exit status 2."""
    try:
        return run(config)
    except (ValueError, OSError) as error:  # ImageError and WeightsError are ValueErrors
        return usage_error(str(error))


def usage_error(message: str) -> int:
    """Print `error: message` (one line, on stderr) and return the bad-input exit status, 2."""
    print(f"error: {message}", file=sys.stderr)
    return USAGE_ERROR


def parse_flags(argv: list[str]) -> list[str]:
    """absl's parser, with flag errors reported as one line and exit status 2."""
    try:
        return FLAGS(argv)
    except flags.Error as error:
        sys.exit(usage_error(str(error).splitlines()[0]))


# Set to 1 to see TensorFlow's start-up notices (as does absl's -v 1).
TF_LOGS_VARIABLE = "NST_TF_TF_LOGS"


def start_tensorflow() -> None:
    """Import TensorFlow and probe its devices now, with file descriptor 2 sent to /dev/null
    unless NST_TF_TF_LOGS=1 or --verbosity >= 1. TensorFlow's C++ writes its start-up notices
    there before its log level applies (oneDNN, CUDA driver probing; on a machine without a GPU
    "failed call to cuInit"), and a newcomer reads them as errors. Python errors still show:
    the descriptor is restored before any exception leaves."""
    verbose = os.environ.get(TF_LOGS_VARIABLE) == "1" or (
        FLAGS.is_parsed() and FLAGS.verbosity >= 1
    )
    if verbose or "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        import tensorflow

        tensorflow.config.list_physical_devices()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def reexec_with_malloc_tunables() -> None:
    """Restart this process with memory.MALLOC_TUNABLES where `memory.wants_malloc_tunables`
    says so. glibc reads them only at start-up, so this must run before TensorFlow is imported
    (nothing imported above does)."""
    if memory.wants_malloc_tunables(os.environ):
        environment = {**os.environ, "GLIBC_TUNABLES": memory.MALLOC_TUNABLES}
        os.execve(sys.executable, sys.orig_argv, environment)


def entry_point() -> None:
    """`python -m nst_tf.run` and the `nst-tf-run` console script."""
    reexec_with_malloc_tunables()
    define_flags()
    logging.set_verbosity(logging.INFO)
    app.run(main, flags_parser=parse_flags)


if __name__ == "__main__":
    entry_point()
