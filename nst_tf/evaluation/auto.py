"""The evaluation path `--evaluation=auto` runs for a run's images: among the candidate paths
whose whole-image evaluation fits the memory budget, the one `calibrate` measured fastest here
(or found in its cache), else the device's default (`devices.resolve_evaluation`).

A coarse-to-fine run is measured at its finest scale, where nearly all its time goes, and runs
every scale with that choice. A run evaluated in blocks keeps the device's default path (the
blocks bound the memory; their cost is the blocks').
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import numpy as np

from nst_tf import devices, image_io
from nst_tf.choices import LEAN_BACKBONES
from nst_tf.config import StyleConfig
from nst_tf.evaluation import calibrate
from nst_tf.evaluation.calibrate import Calibration


def candidates(backbone: str) -> tuple[str, ...]:
    """The evaluation paths `backbone` can run (the lean backward pass is VGG's only)."""
    if backbone in LEAN_BACKBONES:
        return ("lean", "lean_xla", "autodiff", "autodiff_xla")
    return ("autodiff", "autodiff_xla")


def choose(
    config: StyleConfig,
    content_rgb: np.ndarray,
    fits: Callable[[str], bool],
    one_evaluation: Callable[[str], Callable[[], object]],
    memo: dict | None = None,
    race: bool = False,
) -> Calibration:
    """The path `config` runs. `fits(path)`: whether the final scale's whole image fits the
    memory budget on that path; `one_evaluation(path)`: builds that path for this run's images
    and returns a call that evaluates once (for `calibrate.measure`); `memo`: choices already
    made in this process (a Workspace's), consulted before the cache file. With `race`, what
    needs measuring is left to the run's own evaluations (a "racing" Calibration naming the
    candidates; `RacingLossFunction`), else it is measured here."""
    if config.evaluation != "auto":
        return Calibration(config.evaluation, "given")
    default = devices.evaluation_for(config)
    if config.calibration == "off":
        return Calibration(default, "default", reason="--calibration=off")
    height, width = image_io.long_side_size(*content_rgb.shape[:2], config.max_size)
    long_side, pixels = max(height, width), height * width
    if long_side < calibrate.MIN_SIDE:
        return Calibration(default, "default", reason=f"{long_side} px is not measured")
    if not fits(default):  # in blocks: the default path, unmeasured (see the module doc)
        return Calibration(default, "default", reason="in blocks")
    fitting = tuple(path for path in candidates(config.backbone) if path == default or fits(path))
    if len(fitting) < 2:
        return Calibration(default, "default", reason="the one path that fits whole")
    key = calibrate.cache_key(config.backbone, config.precision, long_side,
                              devices.device_name(), devices.tensorflow_version())  # fmt: skip
    memo = {} if memo is None else memo
    path = calibrate.cache_path()
    if config.calibration == "cached":
        known = memo.get(key) or calibrate.cached(path, key, fitting)
        if known is not None:
            _remember(known, memo)
            return known
    if race:
        return Calibration(default, "racing", key=key, candidates=fitting, pixels=pixels)
    builders = {p: lambda p=p: one_evaluation(p) for p in fitting}
    measured = calibrate.measure(builders, key, pixels=pixels)
    keep(measured, memo)
    return measured


def keep(measured: Calibration, memo: dict) -> None:
    """Remember a measured choice in `memo` and in the cache file."""
    calibrate.store(calibrate.cache_path(), measured)
    _remember(measured, memo)


def _remember(known: Calibration, memo: dict) -> None:
    memo[known.key] = Calibration(known.choice, "remembered", known.seconds, known.key,
                                  pixels=known.pixels)  # fmt: skip


def forget(key: str, memo: dict) -> None:
    """Drop a choice from `memo` and the cache file: the next run measures again."""
    calibrate.forget(calibrate.cache_path(), key)
    memo.pop(key, None)


def watchable(calibration: Calibration) -> bool:
    """Whether a run of this choice can tell it was wrong: taken from the cache or memo, with
    a runner-up timed at a known size."""
    return (calibration.source in ("cached", "remembered") and calibration.pixels > 0
            and calibration.choice in calibration.seconds
            and calibration.runner_up() is not None)  # fmt: skip


def timed_call(
    function: Callable, image: object, clock: Callable[[], float]
) -> tuple[tuple, float]:
    """((total, gradient, terms), seconds) of one loss-function call, the work waited for (on a
    GPU too) before the clock stops."""
    start = clock()
    total, gradient, terms = function(image)
    float(total), gradient.numpy()
    return (total, gradient, terms), clock() - start


class RacingLossFunction:
    """A loss function's call (image (1, H, W, 3) -> (total, gradient, terms)) served by the
    candidate paths' functions in turn, as `race` (a `calibrate.Race`) schedules, each call
    timed, then by the winner alone: the paths' values agree to float32 rounding, so the
    optimiser's first evaluations do the timing. `on_decided(calibration)` runs once, when the
    winner is known."""

    def __init__(self, functions: dict[str, Callable], race: calibrate.Race,
                 on_decided: Callable[[Calibration], None],
                 clock: Callable[[], float] = time.perf_counter):  # fmt: skip
        self.functions, self.race = functions, race
        self._on_decided, self._clock = on_decided, clock
        self.outcome: Calibration | None = None
        self._used: list[str] = []

    def what_ran(self) -> tuple[str, dict]:
        """(the evaluation path, the run record's calibration): the winner's once decided; else
        the paths that evaluated, comma-separated (the run ended mid-race: nothing cached)."""
        if self.outcome is not None:
            return self.outcome.choice, self.outcome.as_record()
        unfinished = Calibration(",".join(self._used), "racing", key=self.race.key,
                                 reason="the run ended before every path was timed",
                                 candidates=tuple(self.functions))  # fmt: skip
        return unfinished.choice, unfinished.as_record()

    def __call__(self, image):
        """(total, gradient, terms) at `image`, from the path the race names."""
        path = self.race.next_path()
        if self.race.decided:
            return self.functions[path](image)
        if path not in self._used:
            self._used.append(path)
        (total, gradient, terms), seconds = timed_call(self.functions[path], image, self._clock)
        self.race.record(path, seconds)
        if self.race.decided:
            self.outcome = self.race.outcome(useful=True)
            self._on_decided(self.outcome)
        return total, gradient, terms


class WatchedLossFunction:
    """A cached choice's loss function, its own evaluations timed: after the set-up and
    settling calls, HEAL_SAMPLES of them; if their median is more than HEAL_MARGIN times the
    runner-up's cached seconds (scaled from the cached size to `pixels`),
    `on_slow(message)` runs once (the caller forgets the choice: `forget`)."""

    def __init__(self, function: Callable, calibration: Calibration, pixels: int,
                 on_slow: Callable[[str], None],
                 clock: Callable[[], float] = time.perf_counter):  # fmt: skip
        self.function, self.calibration, self.pixels = function, calibration, pixels
        self._on_slow, self._clock = on_slow, clock
        self._calls, self._samples = 0, []

    def __call__(self, image):
        """(total, gradient, terms) at `image`, timed while the choice is being judged."""
        self._calls += 1
        if self._calls <= 1 + calibrate.SETTLE_CALLS or self.judged:
            return self.function(image)
        outputs, seconds = timed_call(self.function, image, self._clock)
        self._samples.append(seconds)
        if self.judged:
            self._judge()
        return outputs

    @property
    def judged(self) -> bool:
        """Whether enough of the run's evaluations were timed to judge the choice."""
        return len(self._samples) >= calibrate.HEAL_SAMPLES

    def _judge(self) -> None:
        ran = statistics.median(self._samples)
        runner_up = self.calibration.runner_up()
        expected = self.calibration.seconds[runner_up] * self.pixels / self.calibration.pixels
        if ran > calibrate.HEAL_MARGIN * expected:
            choice, margin = self.calibration.choice, calibrate.HEAL_MARGIN
            self._on_slow(f"evaluation: {choice} took {ran:.3g} s an evaluation in this run, "
                          f"more than {margin:g}x {runner_up}'s {expected:.3g} s measured "
                          "before: the next run measures again")  # fmt: skip
