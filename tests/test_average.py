"""--average_iterates: the exponential average of the iterates, by hand, in every optimiser, in
checkpoints and across a resume."""

import numpy as np
import pytest

from nst_tf import StyleConfig, stylize
from nst_tf.cli import checkpoint
from nst_tf.optim import StopRequested, minimize_adam, minimize_lbfgs
from nst_tf.optim.average import AverageState, IterateAverage
from nst_tf.optim.tf_lbfgsb import minimize_lbfgs_tf
from tests.test_lbfgsb import problem
from tests.test_tf_lbfgsb import rosenbrock_tf


def by_hand(iterates, decay):
    """sum_j (1 - d) d^(k - j) x_j / (1 - d^k), written out."""
    k = len(iterates)
    weights = [(1 - decay) * decay ** (k - j) for j in range(1, k + 1)]
    return sum(w * x for w, x in zip(weights, iterates)) / (1 - decay**k)


def test_an_average_of_equal_iterates_is_that_iterate_from_the_first_on():
    average = IterateAverage(0.9)
    assert average.value() is None and average.state() is None
    constant = np.full((2, 3), 117.25)
    for _ in range(4):
        average.update(constant)
        np.testing.assert_allclose(average.value(), constant, rtol=1e-7)


def test_the_average_by_hand():
    # decay 0.5 over 1, 2, 3: (0.125 + 0.25 * 2 + 0.5 * 3) / 0.875 = 2.428571...
    average = IterateAverage(0.5)
    for value in (1.0, 2.0, 3.0):
        average.update(np.array([value]))
    assert average.value()[0] == pytest.approx(17 / 7, rel=1e-7)
    assert average.weight == pytest.approx(0.875)
    rng = np.random.default_rng(0)
    iterates = [rng.normal(size=5) for _ in range(12)]
    average = IterateAverage(0.8)
    for x in iterates:
        average.update(x)
    # float32 total: rounding of values near 1, times the bias correction
    np.testing.assert_allclose(average.value(), by_hand(iterates, 0.8), rtol=0, atol=1e-6)


@pytest.mark.parametrize("decay", [0.0, 1.0, -0.5, 1.5])
def test_a_decay_outside_zero_one_is_refused(decay):
    with pytest.raises(ValueError, match="decay"):
        IterateAverage(decay)
    if decay != 0.0:
        with pytest.raises(ValueError, match="--average_iterates"):
            StyleConfig(average_iterates=decay).validate()


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_the_host_optimisers_return_the_average_of_their_iterates(optimizer):
    start, lower, upper = problem()
    seen = []

    def on_iteration(iteration, evaluations, x):
        seen.append(np.array(x))

    function = _numpy_rosenbrock
    average = IterateAverage(0.7)
    if optimizer == "lbfgs":
        result = minimize_lbfgs(function, start, lower, upper, iterations=15, max_evaluations=60,
                                history=5, on_iteration=on_iteration, average=average)  # fmt: skip
    else:
        result = minimize_adam(function, start, lower, upper, 15, 0.05, on_iteration, average)
    assert len(seen) == 15
    np.testing.assert_allclose(result.x, by_hand(seen, 0.7), rtol=0, atol=1e-5)
    assert not np.allclose(result.x, seen[-1], atol=1e-3)  # the average, not the last point


def test_lbfgs_tf_keeps_the_same_average_on_the_device_and_resumes_it():
    start, lower, upper = problem()
    settings = dict(lower=lower, upper=upper, max_evaluations=500, history=6, chunk=1,
                    average_decay=0.8)  # fmt: skip
    seen = []

    def on_iteration(iteration, evaluations, x, info):
        seen.append(np.array(x))
        if iteration == stop_at[0]:
            raise StopRequested("SIGINT")

    stop_at = [None]
    whole = minimize_lbfgs_tf(rosenbrock_tf, start, iterations=12, on_iteration=on_iteration,
                              **settings)  # fmt: skip
    assert len(seen) == 12
    np.testing.assert_allclose(whole.x, by_hand(seen, 0.8), rtol=0, atol=1e-5)
    stop_at[0] = 5
    first = minimize_lbfgs_tf(rosenbrock_tf, start, iterations=12, on_iteration=on_iteration,
                              **settings)  # fmt: skip
    assert first.interrupted and first.state.average_weight == pytest.approx(1 - 0.8**5)
    stop_at[0] = None
    second = minimize_lbfgs_tf(rosenbrock_tf, start, iterations=7, state=first.state,
                               on_iteration=on_iteration, **settings)  # fmt: skip
    np.testing.assert_array_equal(second.x, whole.x)


def test_a_checkpoint_keeps_the_average(tmp_path):
    path = str(tmp_path / "x.checkpoint.npz")
    image = np.arange(24, dtype=np.float32).reshape(2, 4, 3)
    kept = AverageState(image * 0.5, 0.271)
    checkpoint.save_checkpoint(path, checkpoint.Checkpoint(image, 3, 4, None, kept))
    loaded = checkpoint.load_checkpoint(path)
    np.testing.assert_array_equal(loaded.average.total, kept.total)
    assert loaded.average.weight == 0.271 and loaded.optimizer_state is None
    checkpoint.save_checkpoint(path, checkpoint.Checkpoint(image, 3, 4))
    assert checkpoint.load_checkpoint(path).average is None


def test_stylize_continues_a_given_average():
    rng = np.random.default_rng(1)
    content = rng.integers(0, 256, (40, 48, 3), dtype=np.uint8)
    style = rng.integers(0, 256, (40, 40, 3), dtype=np.uint8)
    config = StyleConfig(weights="none", max_size=48, iterations=3, average_iterates=0.9,
                         init="content", evaluation="autodiff")  # fmt: skip
    fresh = stylize(content, style, config)
    assert fresh.average_state is not None
    assert fresh.average_state.weight == pytest.approx(1 - 0.9**3)
    # a resumed run: the earlier average (weight 0.5, total everywhere 0) pulls the result down
    earlier = AverageState(np.zeros_like(fresh.average_state.total), 0.5)
    resumed = stylize(content, style, config, average_state=earlier)
    assert resumed.average_state.weight == pytest.approx(0.5 * 0.9**3 + 1 - 0.9**3)
    assert resumed.image_vgg.mean() < fresh.image_vgg.mean() - 1.0


def _numpy_rosenbrock(x):
    head, tail = x[:-1], x[1:]
    loss = np.sum(100.0 * (tail - head**2) ** 2 + (1.0 - head) ** 2)
    gradient = np.zeros_like(x)
    gradient[:-1] = -400.0 * head * (tail - head**2) - 2.0 * (1.0 - head)
    gradient[1:] += 200.0 * (tail - head**2)
    return loss, gradient
