"""--tolerance: a still's last scale stops once its loss stops falling (`nst_tf.stopping`), in
every optimiser, at the iteration the rule names on the history of a run without it."""

import numpy as np
import pytest

from nst_tf import StyleConfig, multiscale, stylize
from nst_tf.stopping import STOP_WINDOW

CONTENT, STYLE = (np.random.default_rng(seed).integers(0, 256, (40, 40, 3), np.uint8)
                  for seed in (0, 1))  # fmt: skip


def tiny(**changes) -> StyleConfig:
    settings = dict(backbone="vgg16", weights="none", max_size=40, iterations=30,
                    evaluation="lean", calibration="off", init="noise",
                    style_layers=("block1_conv1", "block2_conv1"),
                    content_layers=("block2_conv2",))  # fmt: skip
    return StyleConfig(**(settings | changes))


def where_the_rule_stops(totals: list[float], tolerance: float) -> int | None:
    """The iteration (1-based) at which the rule, applied to these totals, ends the run."""
    for index in range(STOP_WINDOW, len(totals)):
        if totals[index - STOP_WINDOW] - totals[index] < tolerance * abs(totals[index]):
            return index + 1
    return None


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam", "lbfgs_tf"])
def test_a_still_stops_where_the_rule_says_on_its_own_history(optimizer):
    """A tolerance between the relative falls over 5 iterations that the run shows: the run with
    it stops exactly where the rule stops on the full run's history (lbfgs_tf: at the end of
    that chunk), finished, the reason recorded; the same iterates up to there."""
    changes = {"learning_rate": 2.0} if optimizer == "adam" else {}
    full = stylize(CONTENT, STYLE, tiny(optimizer=optimizer, **changes), device_chunk=4)
    totals = [record.total_loss for record in full.history]
    falls = [(totals[k - STOP_WINDOW] - totals[k]) / abs(totals[k])
             for k in range(STOP_WINDOW, len(totals))]  # fmt: skip
    tolerance = float(np.median(falls))
    expected = where_the_rule_stops(totals, tolerance)
    assert expected is not None and expected < full.iterations
    if optimizer == "lbfgs_tf":
        expected = min(-(-expected // 4) * 4, full.iterations)  # the chunk's end
    stopped = stylize(CONTENT, STYLE, tiny(optimizer=optimizer, tolerance=tolerance, **changes),
                      device_chunk=4)  # fmt: skip
    assert stopped.iterations == expected
    assert not stopped.interrupted and "fell by less than" in stopped.stop_reason
    assert [r.total_loss for r in stopped.history] == totals[:expected]


def test_only_the_last_scale_keeps_the_tolerance():
    configs = multiscale.scale_configs(tiny(scales=3, max_size=128, tolerance=0.01))
    assert [config.tolerance for config in configs] == [0.0, 0.0, 0.01]


@pytest.mark.parametrize("value", [-0.1, 1.0, float("nan")])
def test_a_tolerance_outside_zero_to_one_is_refused(value):
    with pytest.raises(ValueError, match="tolerance"):
        tiny(tolerance=value).validate()
