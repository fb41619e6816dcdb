"""The lasso solvers on torch tensors, with no validation (callers validate). `_lasso`:
the orchestration `lasso_gram` (choose an engine, code with the homotopy, iterate and
certify, hand the rest to the CPU) and the configuration's policy per device; `_prox`: the
proximal gradient and the budgeted `lasso_gram_budget`; `_certificates`: objectives,
duality gaps, exact support solves and the convergence check; `_homotopy`: the contract
of the three homotopy engines side by side (`_homotopy_torch`, `_homotopy_cpu`,
`_homotopy_cuda`, with the per-sample steps CPU and GPU share in `_homotopy_steps`);
`_engines`: which compiled engine runs, and the GPU kernel first where it pays. The codes
that are not lasso solutions: `_l0` (the greedy engines' choice, thresholding), with
`_greedy` the contract of the greedy engines (`_greedy_cpu`, `_greedy_torch`). It imports
only the device plumbing (`skl_sparse._device`) and the configuration.
"""

from ._certificates import GAP_TOL_FLOOR, duality_gap, lasso_objective
from ._greedy import GreedyResult, RowProducts
from ._l0 import GREEDY_SOLVERS, greedy_gram, threshold_gram
from ._lasso import SOLVERS, lasso_gram, resolve_solver, sync_free
from ._prox import BUDGET_ITER, gram_eigmax, lasso_gram_budget, lipschitz_bound, shrink

__all__ = [
    "BUDGET_ITER",
    "GAP_TOL_FLOOR",
    "GREEDY_SOLVERS",
    "GreedyResult",
    "RowProducts",
    "SOLVERS",
    "duality_gap",
    "gram_eigmax",
    "greedy_gram",
    "lasso_gram",
    "lasso_gram_budget",
    "lasso_objective",
    "lipschitz_bound",
    "resolve_solver",
    "shrink",
    "sync_free",
    "threshold_gram",
]
