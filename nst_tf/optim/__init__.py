"""Bounded minimisation of a loss over an array; knows nothing of images.

- `scipy_lbfgsb.minimize_lbfgs`: SciPy's L-BFGS-B (the default), through `setulb`'s driver;
- `adam.minimize_adam`: projected Adam;
- every optimiser reports each iteration through `on_iteration(iteration, evaluations, x)`,
  which may raise `StopRequested`, and returns an `OptimizeResult`.
"""

from nst_tf.optim.adam import minimize_adam
from nst_tf.optim.common import OptimizeResult, StopRequested
from nst_tf.optim.scipy_lbfgsb import minimize_lbfgs

__all__ = ["OptimizeResult", "StopRequested", "minimize_adam", "minimize_lbfgs"]
