"""The lasso problems the solver tests share, and the reference they check against."""

import numpy as np
from sklearn.linear_model import Lasso


def objective(X, D, H, alpha):
    return 0.5 * ((X - H @ D) ** 2).sum(axis=1) + alpha * np.abs(H).sum(axis=1)


def random_problem(seed=0, n=200, p=30, k=50):
    rng = np.random.RandomState(seed)
    D = rng.randn(k, p)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return rng.randn(n, p), D


def patch_problem(patches, k=80, seed=0):
    rng = np.random.RandomState(seed)
    D = patches[rng.choice(len(patches), k, replace=False)].copy()
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return patches[:300], D


def sklearn_lasso(X, D, alpha, positive):
    """What sparse_encode(algorithm="lasso_cd") runs, with a tight tolerance."""
    lasso = Lasso(
        alpha=alpha / X.shape[1], fit_intercept=False, precompute=D @ D.T, positive=positive,
        max_iter=100000, tol=1e-12,
    )
    return lasso.fit(D.T, X.T).coef_


def check_kkt(X, D, H, alpha, positive):
    grad = (X - H @ D) @ D.T  # = c - G h
    scale = alpha + 1e-6 * (1 + np.abs(grad).max())
    on = H != 0
    # on the support the correlation equals alpha * sign(h)
    np.testing.assert_allclose(grad[on], alpha * np.sign(H[on]), atol=1e-6 * (1 + alpha))
    off = grad[~on]
    assert (off <= scale).all()
    if not positive:
        assert (off >= -scale).all()
    else:
        assert (H >= 0).all()
