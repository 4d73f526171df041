"""The L-BFGS loop on problems with known minimisers; no TensorFlow involved."""

import numpy as np
import pytest

from nst_tf.optim import StopRequested, minimize_lbfgs

TARGET = np.array([3.0, -2.0, 0.5, 10.0])
SCALES = np.array([1.0, 4.0, 0.25, 2.0])


def quadratic(x):
    difference = x - TARGET
    return float((SCALES * difference**2).sum()), 2 * SCALES * difference


def box(low=-5.0, high=5.0):
    return np.full(4, low), np.full(4, high)


def test_finds_the_bounded_minimum_of_a_quadratic():
    lower, upper = box()
    result = minimize_lbfgs(quadratic, np.zeros(4), lower, upper, 100, 200, 5)
    # the unconstrained minimum has 10.0 in the last coordinate: the bound 5.0 is active
    np.testing.assert_allclose(result.x, [3.0, -2.0, 0.5, 5.0], atol=1e-5)
    assert result.finite and result.evaluations >= result.iterations >= 1


def test_callback_once_per_iteration_and_iterations_capped():
    seen = []
    lower, upper = box()
    result = minimize_lbfgs(
        quadratic,
        np.zeros(4),
        lower,
        upper,
        3,
        100,
        5,
        on_iteration=lambda i, e, x: seen.append((i, e)),
    )
    assert result.iterations == 3 and [i for i, _ in seen] == [1, 2, 3]
    assert all(e2 >= e1 for (_, e1), (_, e2) in zip(seen, seen[1:]))
    assert result.stop_reason == "reached the iteration count"


def test_stop_requested_keeps_best_point():
    def stop_at_two(iteration, evaluations, x):
        if iteration == 2:
            raise StopRequested("interrupted")

    lower, upper = box()
    result = minimize_lbfgs(
        quadratic, np.zeros(4), lower, upper, 100, 200, 5, on_iteration=stop_at_two
    )
    assert result.iterations == 2 and result.stop_reason == "interrupted"
    assert result.loss == pytest.approx(quadratic(result.x)[0])
    assert result.loss < quadratic(np.zeros(4))[0]


def test_non_finite_loss_stops_with_last_finite_point():
    calls = []

    def explodes(x):
        calls.append(1)
        if len(calls) > 3:
            return float("nan"), np.zeros_like(x)
        return quadratic(x)

    lower, upper = box()
    result = minimize_lbfgs(explodes, np.zeros(4), lower, upper, 100, 200, 5)
    assert not result.finite and "non-finite" in result.stop_reason
    assert np.isfinite(result.x).all() and np.isfinite(result.loss)


def test_start_outside_bounds_is_projected():
    lower, upper = box(0.0, 1.0)
    result = minimize_lbfgs(quadratic, np.full(4, 50.0), lower, upper, 50, 100, 5)
    assert (result.x >= 0).all() and (result.x <= 1).all()
    np.testing.assert_allclose(result.x, [1.0, 0.0, 0.5, 1.0], atol=1e-5)


def test_the_tracker_scales_the_gradient_in_place_and_keeps_its_own_best_point():
    """At print sizes every image-sized float64 vector is 0.3 GB: the tracker makes none."""
    from nst_tf.optim.common import Tracker

    handed_out = []

    def function(x):
        handed_out.append(2 * SCALES * (x - TARGET))
        return float((SCALES * (x - TARGET) ** 2).sum()), handed_out[-1]

    tracker = Tracker(function)
    x = np.zeros(4)
    loss, gradient = tracker(x)
    assert gradient is handed_out[0]  # scaled where it lay
    expected = 2 * SCALES * -TARGET
    np.testing.assert_allclose(gradient, expected / np.abs(expected).mean())
    x += 1.0  # the optimiser moves its x in place: the best point stays where it was
    np.testing.assert_array_equal(tracker.best_x, np.zeros(4))
    best = tracker.best_x
    tracker(x)  # a lower loss: copied into the same buffer
    assert tracker.best_x is best and (best == 1.0).all()
    x[:] = 1.0 + 1e-12  # kept as the network sees it, float32: half the bytes
    tracker(x)
    assert best.dtype == np.float32 and (best == np.float32(1.0)).all()
    read_only = np.ones(4)
    read_only.flags.writeable = False
    scaled = Tracker(lambda x: (0.0, read_only))(x)[1]
    assert scaled is not read_only and (read_only == 1.0).all()
