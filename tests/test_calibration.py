"""--evaluation=auto by measurement (`evaluation.calibrate`, `evaluation.auto`): the timing
procedure on a fake clock, the cache, which paths are candidates, and a real run that measures,
caches and then reuses its choice."""

import json
import logging

import numpy as np
import pytest

from nst_tf import StyleConfig, devices, stylize
from nst_tf.evaluation import auto, calibrate
from nst_tf.evaluation.calibrate import Calibration
from nst_tf.workspace import Workspace


class FakeClock:
    """A clock that each fake evaluation advances by its path's seconds."""

    def __init__(self):
        self.now = 0.0
        self.calls = []

    def __call__(self):
        return self.now

    def evaluation(self, path, seconds):
        def build():
            def call():
                self.calls.append(path)
                # a list: one value per call, its last repeated; a number: every call
                if isinstance(seconds, list):
                    self.now += seconds.pop(0) if len(seconds) > 1 else seconds[0]
                else:
                    self.now += seconds

            return call

        return build


SETUP_AND_SETTLING = 1 + calibrate.SETTLE_CALLS


def timed_after_settling(setup, settling, *timed):
    """One path's seconds per call: its set-up, its settling calls, then the timed ones."""
    return [setup, *[settling] * calibrate.SETTLE_CALLS, *timed]


def test_the_fastest_median_wins_and_a_clearly_slower_path_drops_out_after_three_rounds():
    """autodiff is the fastest (0.95 s) but slow on its first timed call (1.8 s); xla is
    clearly slower and leaves after three rounds; lean (1.00 s) leaves when its lower quartile
    passes autodiff's upper quartile (five rounds)."""
    clock = FakeClock()
    builders = {
        "lean": clock.evaluation("lean", timed_after_settling(9.0, 3.0, 1.00, 1.01, 0.99, 1.00)),
        "autodiff": clock.evaluation("autodiff", timed_after_settling(5.0, 2.0, 1.8, 0.96, 0.95)),
        "autodiff_xla": clock.evaluation("autodiff_xla", timed_after_settling(30.0, 3.0, 1.5)),
    }
    result = calibrate.measure(builders, "key", clock)
    assert result.choice == "autodiff" and result.source == "measured"
    assert result.seconds == {"lean": 1.0, "autodiff": 0.95, "autodiff_xla": 1.5}
    everyone = ["lean", "autodiff", "autodiff_xla"]
    assert clock.calls == [*everyone * (SETUP_AND_SETTLING + 3), *["lean", "autodiff"] * 2]
    calls = SETUP_AND_SETTLING + 5
    assert result.cost_seconds == pytest.approx(clock.now - 5.0)  # the winner's set-up is the run's
    assert clock.calls.count("autodiff") == calls


def test_a_path_slow_only_on_its_first_timed_call_does_not_lose():
    """The race of the issue: autodiff's first call after tracing 1.6 s against a steady
    1.146 s; lean steady at 1.201 s (5 % slower)."""
    clock = FakeClock()
    builders = {
        "autodiff": clock.evaluation("autodiff", timed_after_settling(4.0, 1.6, 1.6, 1.146)),
        "lean": clock.evaluation("lean", timed_after_settling(3.0, 1.3, 1.201)),
    }
    assert calibrate.measure(builders, "key", clock).choice == "autodiff"


def jittery(mean, spread=0.01, calls=40):
    """Seconds around `mean`, +-`spread` of it in a fixed pattern (no two calls alike)."""
    pattern = [0, 1, -1, 0.5, -0.5, 0.8, -0.8]
    return [mean * (1 + spread * pattern[i % len(pattern)]) for i in range(calls)]


def test_three_percent_is_told_apart_through_one_percent_jitter_and_a_tie_runs_to_the_cap():
    clock = FakeClock()
    race = calibrate.measure({"a": clock.evaluation("a", [5.0, 2, 2, *jittery(1.03)]),
                              "b": clock.evaluation("b", [5.0, 2, 2, *jittery(1.00)])},
                             "key", clock)  # fmt: skip
    assert race.choice == "b" and clock.calls.count("a") < SETUP_AND_SETTLING + calibrate.MAX_ROUNDS
    clock = FakeClock()
    tie = calibrate.measure({"a": clock.evaluation("a", [5.0, 2, 2, *jittery(1.0)]),
                             "b": clock.evaluation("b", [5.0, 2, 2, *jittery(1.0, 0.012)])},
                            "key", clock)  # fmt: skip
    assert (
        clock.calls.count("a")
        == clock.calls.count("b")
        == (SETUP_AND_SETTLING + calibrate.MAX_ROUNDS)
    )
    assert tie.seconds["a"] <= tie.seconds["b"] and tie.choice == "a"


def test_the_cache_keeps_a_choice_per_key_and_ignores_what_it_cannot_use(tmp_path):
    path = str(tmp_path / "sub" / "evaluation.json")
    assert calibrate.cached(path, "k", ("lean",)) is None  # no file yet
    calibrate.store(path, Calibration("autodiff", "measured", {"autodiff": 1.6, "lean": 1.9}, "k"))
    calibrate.store(path, Calibration("lean", "measured", {"lean": 0.3}, "other"))
    hit = calibrate.cached(path, "k", ("lean", "autodiff"))
    assert (hit.choice, hit.source) == ("autodiff", "cached")
    assert hit.seconds == {"autodiff": 1.6, "lean": 1.9}
    assert calibrate.cached(path, "k", ("lean",)) is None  # the choice no longer fits
    assert calibrate.cached(path, "missing", ("lean",)) is None
    open(path, "w").write("{not json")
    assert calibrate.cached(path, "k", ("autodiff",)) is None


def test_the_cache_lives_under_the_users_cache_folder():
    home = calibrate.cache_path({})
    assert home.endswith("/.cache/nst_tf/evaluation.json")
    assert calibrate.cache_path({"XDG_CACHE_HOME": "/x"}) == "/x/nst_tf/evaluation.json"
    assert calibrate.cache_path({"NST_TF_CACHE_DIR": "/y", "XDG_CACHE_HOME": "/x"}) == (
        "/y/evaluation.json"
    )


@pytest.mark.parametrize("side, bucket", [(192, 256), (362, 256), (363, 512), (700, 512),
                                          (800, 1024), (4096, 4096)])  # fmt: skip
def test_sizes_share_a_choice_within_a_power_of_two(side, bucket):
    assert calibrate.size_bucket(side) == bucket


def never(path):
    raise AssertionError(f"{path} should not be measured")


def choose(config, side=512, fits=lambda path: True, one_evaluation=never, memo=None):
    content = np.zeros((side * 3 // 4, side, 3), np.uint8)
    return auto.choose(config, content, fits, one_evaluation, memo)


def test_unmeasured_cases_keep_a_given_path_or_the_devices_default():
    base = StyleConfig(weights="none")
    default = devices.evaluation_for(base)
    assert choose(base.replace(evaluation="autodiff")).choice == "autodiff"
    off = choose(base.replace(calibration="off"))
    assert (off.choice, off.source, off.reason) == (default, "default", "--calibration=off")
    small = choose(base.replace(max_size=128))
    assert (small.choice, small.reason) == (default, "128 px is not measured")
    only = choose(base, fits=lambda path: path == default)
    assert (only.choice, only.reason) == (default, "the one path that fits whole")
    assert choose(base, fits=lambda path: False).reason == "in blocks"
    assert auto.candidates("resnet50") == ("autodiff", "autodiff_xla")


def test_only_paths_that_fit_are_measured_and_the_choice_is_cached_then_remembered():
    config = StyleConfig(weights="none", calibration="refresh")
    timed = []

    def one_evaluation(path):
        timed.append(path)
        return lambda: None

    fits = {"lean": True, "lean_xla": False, "autodiff": True, "autodiff_xla": False}.get
    memo = {}
    measured = choose(config, 700, fits.__call__, one_evaluation, memo)
    assert sorted(timed) == ["autodiff", "lean"] and measured.source == "measured"
    assert "512 px" in measured.key and devices.device_name() in measured.key
    again = choose(config.replace(calibration="cached"), 600, fits.__call__, never, memo)
    assert (again.choice, again.source) == (measured.choice, "remembered")
    from_file = choose(config.replace(calibration="cached"), 600, fits.__call__, never)
    assert (from_file.choice, from_file.source) == (measured.choice, "cached")
    entries = json.load(open(calibrate.cache_path()))
    assert entries[measured.key]["choice"] == measured.choice


def test_a_race_serves_each_call_from_the_path_it_names_and_counts_only_the_extra_time():
    """The optimiser's evaluations do the timing: set-up and settling calls, timed rounds of
    the paths still running, then the winner alone; the cost is what the race took beyond the
    winner's time for as many evaluations and its own set-up."""
    clock = FakeClock()
    took = {
        "lean": timed_after_settling(6.0, 2.0, 1.6, 1.7, 1.55),
        "autodiff": timed_after_settling(4.0, 2.0, 1.5),
        "lean_xla": timed_after_settling(9.0, 4.0, 3.0),
    }
    served, decided = [], []

    def function(path):
        def call(image):
            served.append(path)
            clock.now += took[path].pop(0) if len(took[path]) > 1 else took[path][0]
            return FakeTensor(1.0), FakeTensor(image), {}

        return call

    race = calibrate.Race(tuple(took), "k")
    racing = auto.RacingLossFunction({p: function(p) for p in took}, race, decided.append, clock)
    race_calls = 3 * (SETUP_AND_SETTLING + 3)  # lean and lean_xla leave after three rounds
    for _ in range(race_calls + 2):
        racing(0.0)
    assert served == [*["lean", "autodiff", "lean_xla"] * (SETUP_AND_SETTLING + 3),
                      "autodiff", "autodiff"]  # fmt: skip
    (outcome,) = decided
    assert outcome.choice == "autodiff"
    assert outcome.seconds == {"lean": 1.6, "autodiff": 1.5, "lean_xla": 3.0}
    took_in_the_race = clock.now - 2 * 1.5
    # the winner: 4 s of set-up, then 1.5 s an evaluation
    assert outcome.cost_seconds == pytest.approx(took_in_the_race - 4.0 - (race_calls - 1) * 1.5)
    # kept to the hundredth the record holds, so the log line rounds the same figure (CI saw
    # "measured in 2.8 s" logged against 2.85 recorded, i.e. "2.9 s" when re-described)
    assert outcome.cost_seconds == round(outcome.cost_seconds, 2)
    assert racing.what_ran() == ("autodiff", outcome.as_record())


class FakeTensor:
    def __init__(self, value):
        self.value = value

    def __float__(self):
        return float(self.value)

    def numpy(self):
        return np.asarray(self.value)


def pair(side=192):
    rng = np.random.default_rng(0)
    content = rng.integers(0, 256, (side * 3 // 4, side, 3), dtype=np.uint8)
    return content, rng.integers(0, 256, (160, 160, 3), dtype=np.uint8)


SMALL = StyleConfig(weights="none", backbone="vgg16", max_size=192, calibration="refresh",
                    content_layers=("block2_conv2",),
                    style_layers=("block1_conv1", "block2_conv1"))  # fmt: skip


def test_a_run_times_its_paths_on_its_own_evaluations_and_the_next_run_reuses_the_choice(caplog):
    """A real run (random VGG16 cut at block2: the paths differ little, but every one runs):
    its first evaluations race the four paths, the winner is logged, named in the result and
    cached, and a second run with the same workspace takes it without tracing again."""
    content, style = pair()
    workspace = Workspace()
    with caplog.at_level(logging.INFO, logger="nst_tf.pipeline"):
        first = stylize(content, style, SMALL.replace(iterations=60), workspace=workspace)
    assert first.calibration["source"] == "measured"
    assert first.evaluation == first.calibration["choice"] in auto.candidates("vgg16")
    assert set(first.calibration["seconds"]) == set(auto.candidates("vgg16"))
    lines = [r.getMessage() for r in caplog.records if "evaluation: " in r.getMessage()]
    assert lines[0].startswith("evaluation: timing lean, lean_xla, autodiff, autodiff_xla")
    assert lines[1:] == [Calibration(**{**first.calibration, "source": "measured"}).describe()]
    assert json.load(open(calibrate.cache_path()))[first.calibration["key"]]["choice"] == (
        first.evaluation
    )
    traces = workspace.traces
    second = stylize(content, style, SMALL.replace(iterations=3, calibration="cached"),
                     workspace=workspace)  # fmt: skip
    assert second.calibration["source"] == "remembered" and second.evaluation == first.evaluation
    assert workspace.traces == traces


def test_a_run_too_short_to_finish_the_race_says_so_and_caches_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_TF_CACHE_DIR", str(tmp_path))
    content, style = pair(200)
    result = stylize(content, style, SMALL.replace(max_size=200, iterations=2))
    assert (
        result.calibration["source"] == "racing" and "ended before" in result.calibration["reason"]
    )
    assert result.evaluation == "lean,lean_xla,autodiff"  # three evaluations: start, 2 steps
    assert calibrate.read_cache(calibrate.cache_path()) == {}


@pytest.mark.slow
def test_the_in_graph_optimiser_is_timed_before_it_starts():
    """lbfgs_tf traces one path into its loop: the paths are timed on the run's images first."""
    content, style = pair()
    config = SMALL.replace(max_size=208, iterations=2, optimizer="lbfgs_tf")
    result = stylize(content, style, config)
    assert (
        result.calibration["source"] == "measured"
        and result.evaluation == (result.calibration["choice"])
    )


def watched(seconds_per_call, pixels, cached_pixels=100):
    """A WatchedLossFunction over a fake evaluation of `seconds_per_call`, its choice lean
    cached at 1.0 s against autodiff's 1.05 s (`cached_pixels`); (it, the messages it gave)."""
    clock, said = FakeClock(), []

    def function(image):
        clock.now += seconds_per_call
        return FakeTensor(1.0), FakeTensor(image), {}

    cached = Calibration("lean", "cached", {"lean": 1.0, "autodiff": 1.05}, "k",
                         pixels=cached_pixels)  # fmt: skip
    watcher = auto.WatchedLossFunction(function, cached, pixels, said.append, clock)
    for _ in range(1 + calibrate.SETTLE_CALLS + calibrate.HEAL_SAMPLES + 5):
        watcher(0.0)
    return watcher, said


def test_a_cached_choice_slower_than_the_runner_up_by_a_clear_margin_is_forgotten():
    """lean cached as the fastest, but 1.3 s an evaluation in this run against autodiff's 1.05
    s: one message, once judged; 1.1 s (within 10 % of 1.05) is kept; at twice the pixels the
    runner-up's seconds count double."""
    _, said = watched(1.3, 100)
    assert len(said) == 1 and "lean took 1.3 s" in said[0] and "autodiff's 1.05 s" in said[0]
    assert watched(1.1, 100)[1] == []
    assert watched(2.2, 200)[1] == [] and len(watched(2.4, 200)[1]) == 1


def test_a_run_that_finds_its_cached_choice_slow_leaves_the_next_run_to_measure(
    tmp_path, monkeypatch, caplog
):
    """A cache entry claiming autodiff takes a microsecond at this size: the run on the cached
    lean times itself, drops the entry and says so; the next run races again."""
    monkeypatch.setenv("NST_TF_CACHE_DIR", str(tmp_path))
    content, style = pair()
    config = SMALL.replace(calibration="cached", iterations=15)
    key = auto.choose(config, content, lambda path: True, never, race=True).key
    calibrate.store(calibrate.cache_path(), Calibration(
        "lean", "measured", {"lean": 1.0, "autodiff": 1e-6}, key, pixels=192 * 144))  # fmt: skip
    with caplog.at_level(logging.INFO, logger="nst_tf.pipeline"):
        first = stylize(content, style, config)
    assert (first.evaluation, first.calibration["source"]) == ("lean", "cached")
    assert any("the next run measures again" in r.getMessage() for r in caplog.records)
    assert calibrate.read_cache(calibrate.cache_path()) == {}
    again = stylize(content, style, config.replace(iterations=2))
    assert again.calibration["source"] == "racing"
