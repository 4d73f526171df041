"""What a command-line process does before TensorFlow starts: the malloc settings (a re-exec)
and a quiet import of TensorFlow."""

from __future__ import annotations

import os
import sys

from nst_tf import machine

# Set to 1 to see TensorFlow's start-up notices (as does absl's -v 1).
TF_LOGS_VARIABLE = "NST_TF_TF_LOGS"


def start_tensorflow(verbose: bool = False) -> None:
    """Import TensorFlow and probe its devices now, with file descriptor 2 sent to /dev/null
    unless `verbose` or NST_TF_TF_LOGS=1. TensorFlow's C++ writes its start-up notices there
    before its log level applies (oneDNN, CUDA driver probing; on a machine without a GPU
    "failed call to cuInit"), and a newcomer reads them as errors. Python errors still show:
    the descriptor is restored before any exception leaves."""
    if verbose or os.environ.get(TF_LOGS_VARIABLE) == "1" or "tensorflow" in sys.modules:
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
    """Restart this process with machine.MALLOC_TUNABLES where `machine.wants_malloc_tunables`
    says so. glibc reads them only at start-up, so this must run before TensorFlow is imported
    (nothing imported above does)."""
    if machine.wants_malloc_tunables(os.environ):
        environment = {**os.environ, "GLIBC_TUNABLES": machine.MALLOC_TUNABLES}
        os.execve(sys.executable, sys.orig_argv, environment)


def quiet_tensorflow_logs() -> None:
    """TensorFlow's C++ logs only errors unless the user set TF_CPP_MIN_LOG_LEVEL."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
