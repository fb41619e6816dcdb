"""The codes that are not lasso solutions, on torch tensors (no validation: callers
validate): greedy ℓ0 codes by the engine of the device (`greedy_gram`; the algorithms
and their contract are in `skl_sparse._solvers._greedy`) and thresholded correlations
(`threshold_gram`).
"""


from ._greedy import GreedyResult, RowProducts
from ._greedy_cpu import greedy_cpu
from ._greedy_torch import greedy_torch
from ._prox import shrink

__all__ = ["GREEDY_SOLVERS", "greedy_gram", "threshold_gram"]

# orthogonal matching pursuit, orthogonal least squares, least angle regression
GREEDY_SOLVERS = ("omp", "ols", "lar")


def greedy_gram(C, G, x_sq, *, method, n_nonzero_coefs, tol=None, n_features=None, out=None):
    """Greedy codes of every row of ``C = X D^T`` (float64; or `RowProducts`, ``X`` and
    ``D`` whose product the CPU's engine computes block by block) given ``G = D D^T`` and
    the rows' squared norms: a `GreedyResult` on the device of ``C``.

    ``method``: "omp", "ols" (with ``n_nonzero_coefs`` atoms, or until the squared
    residual is at most ``tol``) or "lar" (``n_nonzero_coefs`` steps of least angle
    regression; ``n_features`` scales its stopping correlation). The CPU runs the
    compiled engine (`greedy_cpu`, samples shared among our threads); other devices the
    lock-step engine (`greedy_torch`), except LAR, whose steps differ from sample to
    sample too much to batch: its rows go to the CPU engine and back. ``out``: a
    C-contiguous float64 numpy array the CPU engine writes the codes into.
    """
    if C.device.type == "cpu":
        return greedy_cpu(C, G, x_sq, n_nonzero_coefs=n_nonzero_coefs, tol=tol,
                          method=method, n_features=n_features, out=out)
    if isinstance(C, RowProducts):
        C = C.full()
    if method == "lar":
        host = greedy_cpu(C.cpu(), G.cpu(), x_sq.cpu(), n_nonzero_coefs=n_nonzero_coefs,
                          method=method, n_features=n_features)
        return GreedyResult(*(t.to(C.device) for t in host))
    return greedy_torch(C, G, x_sq, n_nonzero_coefs=n_nonzero_coefs, tol=tol, method=method)


def threshold_gram(C, G, x_sq, alpha, *, positive=False):
    """Soft-thresholded correlations ``h = sign(c) max(|c| - alpha, 0)`` (``max(c -
    alpha, 0)`` if positive): the lasso codes of an orthonormal dictionary, one proximal
    step from zero otherwise (scikit-learn's "threshold"). Returns the codes and their
    lasso objectives ``1/2 ||x - h D||^2 + alpha ||h||_1``, from the Gram form."""
    H = shrink(C, alpha, positive)
    residual = x_sq - 2 * (H * C).sum(1) + ((H @ G) * H).sum(1)
    return H, 0.5 * residual.clamp(min=0) + alpha * H.abs().sum(1)
