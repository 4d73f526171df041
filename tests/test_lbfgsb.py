"""The L-BFGS-B driver against SciPy's own fmin_l_bfgs_b: same iterates, same ends."""

import numpy as np
import pytest
from scipy.optimize import fmin_l_bfgs_b

from nst_tf.optim.setulb import bound_kinds, run_lbfgsb

SIZE = 40


def bounded_rosenbrock(x):
    """Chained Rosenbrock: curved valleys, many line searches, some bounds end up active."""
    head, tail = x[:-1], x[1:]
    loss = float((100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2).sum())
    gradient = np.zeros_like(x)
    gradient[:-1] = -400.0 * head * (tail - head**2) - 2.0 * (1.0 - head)
    gradient[1:] += 200.0 * (tail - head**2)
    return loss, gradient


def problem():
    generator = np.random.default_rng(3)
    start = generator.uniform(-2.0, 2.0, SIZE)
    lower = np.full(SIZE, -1.5)
    upper = np.full(SIZE, 0.8)  # below the unconstrained minimum at 1: upper bounds bind
    lower[::7], upper[::5] = -np.inf, np.inf  # every bound kind occurs
    return start, lower, upper


def scipy_iterates(iterations, max_evaluations, history=6):
    start, lower, upper = problem()
    iterates = []
    x, loss, info = fmin_l_bfgs_b(
        bounded_rosenbrock,
        start,
        bounds=list(zip(lower, upper)),
        m=history,
        maxiter=iterations,
        maxfun=max_evaluations,
        pgtol=1e-10,
        factr=10.0,
        callback=lambda x: iterates.append(x.copy()),
    )
    return iterates, x, info


def driver_iterates(iterations, max_evaluations, history=6):
    start, lower, upper = problem()
    iterates, evaluations = [], []
    end = run_lbfgsb(
        bounded_rosenbrock,
        start,
        lower,
        upper,
        history=history,
        max_iterations=iterations,
        max_evaluations=max_evaluations,
        gradient_tolerance=1e-10,
        reduction_tolerance=10.0,
        on_new_x=lambda i, e, x: (iterates.append(x.copy()), evaluations.append((i, e))),
    )
    return iterates, evaluations, end


@pytest.mark.parametrize("iterations, max_evaluations", [(25, 1000), (1000, 1000), (1000, 30)])
def test_takes_exactly_scipys_iterates(iterations, max_evaluations):
    expected, expected_x, info = scipy_iterates(iterations, max_evaluations)
    got, counts, end = driver_iterates(iterations, max_evaluations)
    assert len(got) == len(expected) == end.iterations > 3
    np.testing.assert_array_equal(np.array(got), np.array(expected))
    np.testing.assert_array_equal(got[-1], expected_x)
    assert end.evaluations == info["funcalls"]
    assert [i for i, _ in counts] == list(range(1, end.iterations + 1))
    if iterations == 25:
        assert end.reason == "reached the iteration count" and end.iterations == 25
    elif max_evaluations == 30:
        assert end.reason == "reached the evaluation cap" and end.evaluations > 30
    else:
        assert end.reason.startswith("converged") and info["warnflag"] == 0


def test_stays_in_the_box_and_ends_at_a_bounded_minimum():
    got, _, end = driver_iterates(1000, 1000)
    _, lower, upper = problem()
    assert all(((x >= lower) & (x <= upper)).all() for x in got)
    x = got[-1]
    _, gradient = bounded_rosenbrock(x)
    at_lower, at_upper = x == lower, x == upper
    assert at_upper.any()  # the box matters for this problem
    # first-order optimality in a box: no descent direction stays feasible
    assert (gradient[at_lower] >= 0).all() and (gradient[at_upper] <= 0).all()
    assert np.abs(gradient[~at_lower & ~at_upper]).max() < 1e-4


def test_bound_kinds():
    lower = np.array([-np.inf, 0.0, 0.0, -np.inf])
    upper = np.array([np.inf, np.inf, 1.0, 1.0])
    np.testing.assert_array_equal(bound_kinds(lower, upper), [0, 1, 2, 3])
    assert bound_kinds(lower, upper).dtype == np.int32
