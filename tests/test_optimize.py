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
