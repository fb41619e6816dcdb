"""The lasso solvers on torch tensors, with no validation (callers validate): the
orchestration `lasso_gram` and the budgeted `lasso_gram_budget` (`_lasso`), and the
engines it runs, side by side. The homotopy back-ends (`_homotopy_torch`, batched in
torch; `_homotopy_cpu`, compiled for the CPU; `_homotopy_cuda`, one sample per warp on a
GPU). It imports only the device plumbing (`skl_sparse._device`) and the configuration.
"""

from ._lasso import (
    BUDGET_ITER,
    GAP_TOL_FLOOR,
    SOLVERS,
    duality_gap,
    gram_eigmax,
    lasso_gram,
    lasso_gram_budget,
    lasso_objective,
    lipschitz_bound,
    resolve_solver,
    shrink,
    sync_free,
)

__all__ = [
    "BUDGET_ITER",
    "GAP_TOL_FLOOR",
    "SOLVERS",
    "duality_gap",
    "gram_eigmax",
    "lasso_gram",
    "lasso_gram_budget",
    "lasso_objective",
    "lipschitz_bound",
    "resolve_solver",
    "shrink",
    "sync_free",
]
