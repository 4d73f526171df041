"""SIGINT and SIGTERM for a command-line run: the first stops the optimisation (the best image
so far is kept), a second one exits at once."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator

from nst_tf.optim.common import StopRequested

SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}
_NUMBERS = (signal.SIGINT, signal.SIGTERM)


class Interrupted(StopRequested):
    """Raised by the first SIGINT/SIGTERM, named after it: stylize stops and returns the best
    image so far."""


def install_signal_handlers() -> None:
    """First SIGINT/SIGTERM raises Interrupted (named after the signal); a second one exits."""

    def first(signum, frame):
        exit_on_signal()
        raise Interrupted(signal.Signals(signum).name)

    for number in _NUMBERS:
        signal.signal(number, first)


def exit_on_signal() -> None:
    """From now on SIGINT/SIGTERM end the process at once (status 128 + signal): used while
    files are saved, which is atomic, so an exit leaves each file old or new, never half."""
    for number in _NUMBERS:
        signal.signal(number, _exit_now)


def _exit_now(signum, frame):
    os._exit(128 + signum)


@contextlib.contextmanager
def interruptible() -> Iterator[None]:
    """The body runs with `install_signal_handlers`' handlers; the previous ones come back."""
    previous = {number: signal.getsignal(number) for number in _NUMBERS}
    install_signal_handlers()
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
