"""Resumable checkpoints: the current image beside the output, written in the background.

A checkpoint is `<output stem>.checkpoint.npz` holding `image_vgg` (H, W, 3) float32 in VGG
space, the iteration and the evaluation count reached and, for --optimizer=lbfgs_tf, the
optimiser's whole state (`optim.LbfgsState`: x and gradient in float64, the correction pairs in
`--lbfgs_history_dtype`, 48 bytes per pixel per pair in float64, and its iterate average), so a
resumed run takes exactly the iterates of an uninterrupted one. SciPy's L-BFGS-B memory is not
saved: a resumed lbfgs run rebuilds it over its first `lbfgs_history` iterations. With
--average_iterates on lbfgs or adam, the iterate average (`average_total`, `average_weight`),
which the resumed run continues.

Writing one (hundreds of MB at large sizes with lbfgs_tf, then an fsync) would stall the
optimisation, so `BackgroundWriter` writes it in a thread while the next iterations run; the
file is replaced atomically, so the newest complete checkpoint is always on disk.
"""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time
import zipfile
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from nst_tf.cli.run_config import RUN_CONTROL_FIELDS
from nst_tf.image_io import write_atomically
from nst_tf.optim.average import AverageState
from nst_tf.optim.common import LbfgsState

_STATE_PREFIX = "lbfgs_"


@dataclass(frozen=True)
class Checkpoint:
    """image_vgg: (H, W, 3) float32, VGG space; counts reached when it was written; lbfgs_tf's
    state, or a host optimiser's iterate average."""

    image_vgg: np.ndarray
    iteration: int
    evaluations: int
    optimizer_state: LbfgsState | None = None
    average: AverageState | None = None


def checkpoint_path(output_path: str) -> str:
    """`out/picture.png` -> `out/picture.checkpoint.npz`."""
    return os.path.splitext(output_path)[0] + ".checkpoint.npz"


def save_checkpoint(path: str, checkpoint: Checkpoint) -> None:
    """Write the checkpoint atomically, an npz archive streamed to the file: the optimiser
    state's arrays may still be tensors on a device (copied to the host one at a time here),
    and its pairs rows of their own, written as one (history, n) array without stacking them
    (a stacked copy, or the archive built in memory first, held the history twice more)."""
    arrays = {
        "image_vgg": checkpoint.image_vgg.astype(np.float32),
        "iteration": np.asarray(checkpoint.iteration),
        "evaluations": np.asarray(checkpoint.evaluations),
    }
    state = checkpoint.optimizer_state
    for name, value in ({} if state is None else vars(state)).items():
        rows = name in ("s", "y")
        if value is not None:
            arrays[_STATE_PREFIX + name] = tuple(value) if rows else value
    if checkpoint.average is not None:
        arrays["average_total"] = checkpoint.average.total
        arrays["average_weight"] = np.asarray(checkpoint.average.weight)
    write_atomically(path, lambda handle: _write_npz(handle, arrays))


def _write_npz(handle, arrays: dict) -> None:
    """An uncompressed npz (what np.savez writes) of arrays, tensors or tuples of equal rows."""
    with zipfile.ZipFile(handle, "w", zipfile.ZIP_STORED, allowZip64=True) as archive:
        for name, value in arrays.items():
            with archive.open(name + ".npy", "w", force_zip64=True) as stream:
                if isinstance(value, tuple):
                    _write_rows(stream, value)
                else:
                    np.lib.format.write_array(stream, np.asarray(value), allow_pickle=False)


def _write_rows(stream, rows: tuple) -> None:
    """The .npy of the rows stacked, each copied to the host (from a device) only in turn."""
    first = np.asarray(rows[0])
    header = {"descr": np.lib.format.dtype_to_descr(first.dtype), "fortran_order": False,
              "shape": (len(rows), *first.shape)}  # fmt: skip
    np.lib.format.write_array_header_2_0(stream, header)
    stream.write(np.ascontiguousarray(first).data)
    for row in rows[1:]:  # the first is on the host already: no second device-to-host copy
        stream.write(np.ascontiguousarray(np.asarray(row), first.dtype).data)


def load_checkpoint(path: str) -> Checkpoint:
    """Read a checkpoint; ValueError naming the file if it is missing or unreadable."""
    try:
        with np.load(path) as data:
            return Checkpoint(
                image_vgg=np.asarray(data["image_vgg"], np.float32),
                iteration=int(data["iteration"]),
                evaluations=int(data["evaluations"]),
                optimizer_state=_state_from(data),
                average=_average_from(data),
            )
    except FileNotFoundError:
        raise ValueError(f"--resume: no checkpoint {path} (nothing to resume)") from None
    except (OSError, KeyError, ValueError) as error:
        raise ValueError(f"--resume: checkpoint {path} is unreadable ({error})") from None


def _state_from(data) -> LbfgsState | None:
    if _STATE_PREFIX + "x" not in data:
        return None
    values = {f.name: data[_STATE_PREFIX + f.name] for f in dataclasses.fields(LbfgsState)
              if _STATE_PREFIX + f.name in data}  # fmt: skip
    return LbfgsState(
        **{name: np.asarray(value) for name, value in values.items() if np.ndim(value)},
        **{name: value.item() for name, value in values.items() if not np.ndim(value)},
    )


def _average_from(data) -> AverageState | None:
    if "average_total" not in data:
        return None
    return AverageState(np.asarray(data["average_total"]), float(data["average_weight"]))


def load_record(path: str) -> dict:
    """The JSON run record of the run to resume."""
    try:
        with open(path, encoding="utf-8") as handle:
            return json.load(handle)
    except FileNotFoundError:
        raise ValueError(f"--resume: no run record {path} (nothing to resume)") from None
    except (OSError, json.JSONDecodeError) as error:
        raise ValueError(f"--resume: run record {path} is unreadable ({error})") from None


def config_differences(settings: dict, recorded: dict) -> list[str]:
    """Names of result-changing fields whose value in `settings` (`run_config.flat_settings`)
    differs from the recorded config."""
    current = json.loads(json.dumps(settings))
    return [
        name
        for name, value in current.items()
        if name not in RUN_CONTROL_FIELDS and recorded.get(name) != value
    ]


class BackgroundWriter:
    """Runs one write job at a time in a background thread: `submit` waits for the previous
    job, then starts the next. `blocked_seconds` counts the time the caller spent waiting; an
    error of a job is raised by the next `submit` or `wait`."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self.blocked_seconds = 0.0
        self.jobs = 0

    def submit(self, job: Callable[[], None]) -> None:
        """Start `job()` in the background once the previous job is done."""
        self.wait()
        self._thread = threading.Thread(target=self._run, args=(job,), daemon=True)
        self._thread.start()
        self.jobs += 1

    def wait(self) -> None:
        """Block until the running job is done; raise its error, if it had one."""
        if self._thread is not None:
            started = time.perf_counter()
            self._thread.join()
            self._thread = None
            self.blocked_seconds += time.perf_counter() - started
        error, self._error = self._error, None
        if error is not None:
            raise error

    def _run(self, job: Callable[[], None]) -> None:
        try:
            job()
        except BaseException as error:  # handed to the main thread by wait()
            self._error = error
