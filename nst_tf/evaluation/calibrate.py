"""`--evaluation=auto` by measurement: time the evaluation paths that fit, keep the fastest.

Which path is fastest depends on the processor (oneDNN's kernels for AVX-512 or AVX2), the GPU,
the image size and the TensorFlow version: the project's own hosts disagree by 10-15 %
(`devices`). So on the first run of a (backbone, precision, size bucket, device, TensorFlow
version), `calibrate` times each candidate path whose whole-image evaluation fits the memory
budget on the run's own images, and a small JSON cache (`cache_path`) keeps the winner for the
next runs.

The measurement: each candidate is built and evaluated once (tracing, XLA compiling, first
allocations: not timed), then evaluated round-robin, interleaved so that a change of the
machine's speed affects every path alike: a first round for all, a second for those within
`CLOSE` of the best, the minimum of each path's timings kept. Evaluations are seconds each at
512 px on a 2-core CPU, so below `MIN_SIDE` (where a whole run takes seconds and the paths'
differences are milliseconds) nothing is measured and auto keeps the device's default.

Sizes: the bucket is the long side rounded to the nearest power of two (a 700 px run shares
512's choice, 800 px 1024's).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nst_tf.image_io import write_atomically

MIN_SIDE = 192  # long side below which auto takes the device's default unmeasured
CLOSE = 1.10  # a second round for the paths within 10 % of the first round's best
CACHE_FILE = "evaluation.json"


@dataclass(frozen=True)
class Calibration:
    """What auto runs and why: `choice` (a concrete evaluation path), `source` ("measured",
    "cached" (from the file), "remembered" (earlier in this process), "default" (unmeasured:
    see `reason`) or "given" (not auto)), the seconds per evaluation of each path
    timed (their minimum over the rounds), the cache key and the seconds the measurement took
    (0 when cached)."""

    choice: str
    source: str
    seconds: dict[str, float] = field(default_factory=dict)
    key: str = ""
    cost_seconds: float = 0.0
    reason: str = ""

    def describe(self) -> str:
        """One line for the log."""
        timings = ", ".join(f"{path} {s:.3g} s" for path, s in self.seconds.items())
        if self.source == "measured":
            return (f"evaluation: {self.choice}, the fastest of {timings} per evaluation "
                    f"(measured in {self.cost_seconds:.1f} s for {self.key}; cached)")  # fmt: skip
        if self.source in ("cached", "remembered"):
            return f"evaluation: {self.choice} (measured before for {self.key}: {timings})"
        if self.source == "given":
            return f"evaluation: {self.choice}"
        return f"evaluation: {self.choice} (the device's default: {self.reason})"

    def as_record(self) -> dict:
        """JSON-ready fields for the run record."""
        return {"choice": self.choice, "source": self.source, "seconds": self.seconds,
                "key": self.key, "cost_seconds": round(self.cost_seconds, 2),
                "reason": self.reason}  # fmt: skip


def cache_path(environ: dict | None = None) -> str:
    """The cache file: $NST_TF_CACHE_DIR, else $XDG_CACHE_HOME/nst_tf, else
    ~/.cache/nst_tf; `evaluation.json` in it."""
    environ = os.environ if environ is None else environ
    folder = environ.get("NST_TF_CACHE_DIR") or os.path.join(
        environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "nst_tf"
    )
    return os.path.join(folder, CACHE_FILE)


def size_bucket(long_side: int) -> int:
    """The long side rounded to the nearest power of two, in log scale (700 -> 512)."""
    return 2 ** round(math.log2(long_side))


def cache_key(backbone: str, precision: str, long_side: int, device: str, tf_version: str) -> str:
    """The cache's key: one choice per backbone, precision, size bucket, device, TensorFlow."""
    bucket = size_bucket(long_side)
    return f"{backbone} {precision} {bucket} px on {device}, TensorFlow {tf_version}"


def read_cache(path: str) -> dict:
    """The cache's entries ({} when missing or unreadable: it is only a cache)."""
    try:
        with open(path, encoding="utf-8") as handle:
            entries = json.load(handle)
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def store(path: str, calibration: Calibration) -> None:
    """Add `calibration` to the cache at `path`, atomically (a cache that cannot be written is
    skipped: the next run measures again)."""
    entries = read_cache(path)
    entries[calibration.key] = {
        "choice": calibration.choice,
        "seconds": calibration.seconds,
        "measured": datetime.date.today().isoformat(),
    }
    text = json.dumps(entries, indent=2, sort_keys=True) + "\n"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        write_atomically(path, lambda handle: handle.write(text.encode("utf-8")))
    except OSError:
        pass


def cached(path: str, key: str, candidates: tuple[str, ...]) -> Calibration | None:
    """The cached choice for `key`, if it is still one of `candidates`."""
    entry = read_cache(path).get(key)
    if not isinstance(entry, dict) or entry.get("choice") not in candidates:
        return None
    seconds = {p: float(s) for p, s in entry.get("seconds", {}).items() if p in candidates}
    return Calibration(entry["choice"], "cached", seconds, key)


def measure(
    builders: dict[str, Callable[[], Callable[[], object]]],
    key: str,
    clock: Callable[[], float] = time.perf_counter,
) -> Calibration:
    """Time the paths of `builders` (path -> a function that builds that path's evaluation and
    returns a call that evaluates once) as the module doc says; the fastest wins."""
    started = clock()
    calls = {}
    for path, build in builders.items():
        calls[path] = build()
        calls[path]()  # tracing and compiling: not timed
    seconds = {path: _seconds_of(call, clock) for path, call in calls.items()}
    close = [path for path in calls if seconds[path] <= CLOSE * min(seconds.values())]
    if len(close) > 1:  # a second look, interleaved too, where the first was close
        for path in close:
            seconds[path] = min(seconds[path], _seconds_of(calls[path], clock))
    choice = min(seconds, key=seconds.get)
    rounded = {path: round(value, 4) for path, value in seconds.items()}
    return Calibration(choice, "measured", rounded, key, clock() - started)


def _seconds_of(call: Callable[[], object], clock: Callable[[], float]) -> float:
    start = clock()
    call()
    return clock() - start
