"""`--evaluation=auto` by measurement: time the evaluation paths that fit, keep the fastest.

Which path is fastest depends on the processor (oneDNN's kernels for AVX-512 or AVX2), the GPU,
the image size and the TensorFlow version: the project's own hosts disagree by 10-15 %
(`devices`). So on the first run of a (backbone, precision, size bucket, device, TensorFlow
version), `calibrate` times each candidate path whose whole-image evaluation fits the memory
budget on the run's own images, and a small JSON cache (`cache_path`) keeps the winner for the
next runs.

The measurement: each candidate is built and evaluated once (tracing, XLA compiling, first
allocations: its set-up, not timed), then SETTLE_CALLS more times untimed (the first calls after
tracing run slower while allocators and caches settle: docs/performance.md), then timed
round-robin, interleaved so that a change of the machine's speed affects every path alike.
From MIN_ROUNDS timed rounds on, a path is dropped once it is clearly slower than the fastest
(its lower quartile above the fastest's upper quartile: one slow call of either side moves
neither), and the race ends when one path is left or after MAX_ROUNDS, with the lowest median.
Its cost (`Calibration.cost_seconds`) leaves out the winner's own tracing, which the run would
pay anyway (the traced function is reused).
Evaluations are seconds each at 512 px on a 2-core CPU, so below `MIN_SIDE` (where a whole
run takes seconds and the paths' differences are milliseconds) nothing is measured and auto
keeps the device's default.

A cached choice heals: a run that took it (`auto.WatchedLossFunction`) times its own
evaluations (HEAL_SAMPLES after the settling calls); where their median is more than
HEAL_MARGIN times the runner-up's cached seconds (scaled by the pixels), the entry is dropped
and the next run races again.

Sizes: the bucket is the long side rounded to the nearest power of two (a 700 px run shares
512's choice, 800 px 1024's).
"""

from __future__ import annotations

import datetime
import json
import math
import os
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from nst_tf.image_io import write_atomically

MIN_SIDE = 192  # long side below which auto takes the device's default unmeasured
SETTLE_CALLS = 2  # untimed calls after a path's set-up call
MIN_ROUNDS = 3  # timed rounds before a path may be dropped
MAX_ROUNDS = 8  # then the lowest median wins, however close
HEAL_SAMPLES = 8  # a cached choice's own evaluations timed before it is judged
HEAL_MARGIN = 1.10  # slower than the runner-up by this: the next run measures again
CACHE_FILE = "evaluation.json"


@dataclass(frozen=True)
class Calibration:
    """What auto runs and why: `choice` (a concrete evaluation path), `source` ("measured",
    "cached" (from the file), "remembered" (earlier in this process), "racing" (to be timed
    on the run's own evaluations: `candidates`), "default" (unmeasured: see `reason`) or
    "given" (not auto)), the seconds per evaluation of each path timed (their median over the
    rounds), the cache key, the seconds the measurement took (0 when cached) and each path's
    set-up seconds (building, tracing, compiling and a first evaluation); `pixels`: the image
    size (height x width) the seconds were timed at (0: not known)."""

    choice: str
    source: str
    seconds: dict[str, float] = field(default_factory=dict)
    key: str = ""
    cost_seconds: float = 0.0
    reason: str = ""
    setup_seconds: dict[str, float] = field(default_factory=dict)
    candidates: tuple[str, ...] = ()
    pixels: int = 0

    def runner_up(self) -> str | None:
        """The fastest timed path after the choice (None: only the choice was timed)."""
        others = {path: s for path, s in self.seconds.items() if path != self.choice}
        return min(others, key=others.get) if others else None

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
        if self.source == "racing":
            return (f"evaluation: timing {', '.join(self.candidates)} on the run's first "
                    f"evaluations for {self.key}")  # fmt: skip
        return f"evaluation: {self.choice} (the device's default: {self.reason})"

    def as_record(self) -> dict:
        """JSON-ready fields for the run record."""
        return {"choice": self.choice, "source": self.source, "seconds": self.seconds,
                "key": self.key, "cost_seconds": self.cost_seconds,
                "reason": self.reason, "setup_seconds": self.setup_seconds}  # fmt: skip


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
        "pixels": calibration.pixels,
        "measured": datetime.date.today().isoformat(),
    }
    write_cache(path, entries)


def forget(path: str, key: str) -> None:
    """Drop `key`'s entry from the cache at `path` (the next run measures again)."""
    entries = read_cache(path)
    if entries.pop(key, None) is not None:
        write_cache(path, entries)


def write_cache(path: str, entries: dict) -> None:
    """The cache's entries to `path`, atomically (a cache that cannot be written is skipped)."""
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
    pixels = entry.get("pixels", 0)
    return Calibration(entry["choice"], "cached", seconds, key,
                       pixels=pixels if isinstance(pixels, int) else 0)  # fmt: skip


class Race:
    """The timing schedule of the module doc, one evaluation at a time: `next_path` says which
    path evaluates next, `record` takes its seconds; once `decided`, `next_path` is the winner.
    A path's first call is its set-up and the SETTLE_CALLS after it are not samples."""

    def __init__(self, paths: tuple[str, ...], key: str, pixels: int = 0):
        self.key, self.pixels = key, pixels
        self._queue = [*paths] * (2 + SETTLE_CALLS)  # set-up, settling, the first timed round
        self._setup: dict[str, float] = {}
        self._calls_of: dict[str, int] = dict.fromkeys(paths, 0)
        self._samples: dict[str, list[float]] = {path: [] for path in paths}
        self._running = list(paths)
        self._calls, self._seconds = 0, 0.0
        self.winner: str | None = None
        self.medians: dict[str, float] = {}

    @property
    def decided(self) -> bool:
        """Whether the winner is known."""
        return self.winner is not None

    def next_path(self) -> str:
        """The path of the next evaluation."""
        return self.winner or self._queue[0]

    def record(self, path: str, seconds: float) -> None:
        """The evaluation `next_path` named took `seconds` (ignored once decided)."""
        if self.decided:
            return
        self._queue.pop(0)
        self._calls, self._seconds = self._calls + 1, self._seconds + seconds
        self._calls_of[path] += 1
        if self._calls_of[path] == 1:
            self._setup[path] = seconds
        elif self._calls_of[path] > 1 + SETTLE_CALLS:
            self._samples[path].append(seconds)
        if not self._queue:
            self._next_round_or_decide()

    def _next_round_or_decide(self) -> None:
        rounds = min(len(self._samples[path]) for path in self._running)
        fastest = min(self._running, key=lambda path: statistics.median(self._samples[path]))
        if rounds >= MIN_ROUNDS:
            best, samples = self._samples[fastest], self._samples
            self._running = [p for p in self._running
                             if p == fastest or not clearly_slower(samples[p], best)]  # fmt: skip
        if len(self._running) > 1 and rounds < MAX_ROUNDS:
            self._queue = list(self._running)
            return
        self.medians = {p: statistics.median(s) for p, s in self._samples.items() if s}
        self.winner = fastest

    def outcome(self, useful: bool) -> Calibration:
        """The decided race as a Calibration. Its cost leaves out the winner's set-up (the run
        pays it anyway); where the evaluations were `useful` (the optimiser's own), it is only
        what they took beyond the winner's time for as many."""
        median, setup = self.medians[self.winner], self._setup[self.winner]
        cost = self._seconds - setup
        if useful:
            cost -= (self._calls - 1) * median
        seconds = {path: round(value, 4) for path, value in self.medians.items()}
        setups = {path: round(value, 2) for path, value in self._setup.items()}
        # Rounded here, once: the log line and the run record then show the same figure.
        return Calibration(self.winner, "measured", seconds, self.key, round(max(cost, 0.0), 2),
                           setup_seconds=setups, pixels=self.pixels)  # fmt: skip


def clearly_slower(samples: list[float], fastest: list[float]) -> bool:
    """Whether `samples` are slower than `fastest` beyond their spread: the lower quartile of
    the one above the upper quartile of the other."""
    lower = statistics.quantiles(samples, n=4, method="inclusive")[0]
    return lower > statistics.quantiles(fastest, n=4, method="inclusive")[2]


def measure(
    builders: dict[str, Callable[[], Callable[[], object]]],
    key: str,
    clock: Callable[[], float] = time.perf_counter,
    pixels: int = 0,
) -> Calibration:
    """Time the paths of `builders` (path -> a function that builds that path's evaluation and
    returns a call that evaluates once, always at the same image) on the `Race` schedule; a
    path's build counts in its set-up."""
    race, calls = Race(tuple(builders), key, pixels), {}
    while not race.decided:
        path = race.next_path()
        start = clock()
        if path not in calls:
            calls[path] = builders[path]()
        calls[path]()
        race.record(path, clock() - start)
    return race.outcome(useful=False)
