"""The greedy ℓ0 engines (`_solvers._greedy`): OMP as scikit-learn computes it, OLS as forward
selection computes it, and finite codes on degenerate dictionaries."""

import itertools
import warnings

import numpy as np
import pytest
import torch
from _problems import patch_problem, random_problem
from sklearn.linear_model import orthogonal_mp_gram

from skl_sparse._solvers._greedy import GreedyResult
from skl_sparse._solvers._greedy_cpu import greedy_arrays, greedy_cpu


def _gram(X, D):
    return np.ascontiguousarray(X @ D.T), D @ D.T, (X * X).sum(1)


def _residual(X, D, H):
    return ((X - H @ D) ** 2).sum(1)


@pytest.mark.parametrize("problem", ["random", "patches"])
def test_omp_is_scikit_learns_orthogonal_mp_gram(problem, whitened_patches):
    """The same atoms and coefficients as `orthogonal_mp_gram` (1e-10 relative), by
    ``n_nonzero_coefs`` or by a squared-residual ``tol``, with the residual reported."""
    X, D = random_problem() if problem == "random" else patch_problem(whitened_patches)
    C, G, x_sq = _gram(X, D)
    cases = [{"n_nonzero_coefs": L} for L in (1, 5, 20)]
    cases += [{"tol": t * x_sq.mean()} for t in (0.5, 0.2)]
    for case in cases:
        with warnings.catch_warnings(record=True) as caught:  # "ended prematurely"
            warnings.simplefilter("always")
            ref = orthogonal_mp_gram(G, C.T, norms_squared=x_sq if "tol" in case else None,
                                     **case).T
        H, n_active, residual, premature = greedy_arrays(
            C, G, x_sq, **{"n_nonzero_coefs": 1, **case})
        np.testing.assert_array_equal(H != 0, ref != 0)
        np.testing.assert_allclose(H, ref, rtol=1e-10, atol=1e-12)
        np.testing.assert_array_equal(n_active, (H != 0).sum(1))
        np.testing.assert_allclose(residual, _residual(X, D, H), rtol=1e-10, atol=1e-12)
        assert premature.any() == bool(caught)
        if "tol" in case:
            done = ~premature  # the rows that reached the tolerance
            assert (residual[done] <= case["tol"] * (1 + 1e-12)).all()


def _forward_selection(x, D, L):
    """OLS by brute force: at each step the atom whose least-squares re-fit leaves the
    smallest residual."""
    chosen = []
    for _ in range(L):
        def left(j):
            S = D[[*chosen, j]].T
            return ((x - S @ np.linalg.lstsq(S, x, rcond=None)[0]) ** 2).sum()
        chosen.append(min((j for j in range(len(D)) if j not in chosen), key=left))
    return sorted(chosen)


def test_ols_is_forward_selection_and_leaves_less_than_omp():
    X, D = random_problem(seed=3, n=40, p=12, k=30)
    C, G, x_sq = _gram(X, D)
    H, _, residual, _ = greedy_arrays(C, G, x_sq, n_nonzero_coefs=4, method="ols")
    for x, h in zip(X, H, strict=True):
        assert sorted(np.flatnonzero(h)) == _forward_selection(x, D, 4)
    np.testing.assert_allclose(residual, _residual(X, D, H), rtol=1e-10, atol=1e-12)
    H_omp, _, residual_omp, _ = greedy_arrays(C, G, x_sq, n_nonzero_coefs=4)
    assert residual.mean() < residual_omp.mean()
    # with unit atoms the first choice is the largest correlation for both
    first = np.abs(C).argmax(1)
    assert (H[np.arange(len(H)), first] != 0).all() and (H_omp[np.arange(len(H)), first] != 0).all()


def test_ols_with_a_tolerance_stops_at_the_residual():
    X, D = random_problem(seed=4, n=50, p=20, k=40)
    C, G, x_sq = _gram(X, D)
    tol = 0.3 * x_sq.mean()
    H, n_active, residual, _ = greedy_arrays(C, G, x_sq, n_nonzero_coefs=1, tol=tol,
                                             method="ols")
    assert (residual <= tol * (1 + 1e-12)).all()
    # one atom fewer would not do
    for x, h, n in zip(X, H, n_active, strict=True):
        assert sorted(np.flatnonzero(h)) == _forward_selection(x, D, n)


@pytest.mark.parametrize("method", ["omp", "ols"])
def test_degenerate_dictionaries_give_finite_codes(method):
    """Duplicated, negated and zero atoms: finite codes, OMP's reconstruction as good as
    scikit-learn's, and a budget beyond the dictionary's rank ends early, flagged."""
    rng = np.random.RandomState(1)
    D = rng.randn(12, 8)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    D[5], D[7], D[9] = D[2], 0.0, -D[3]
    X = rng.randn(200, 8)
    C, G, x_sq = _gram(X, D)
    for L in (2, 6, 12):
        H, n_active, residual, premature = greedy_arrays(C, G, x_sq, n_nonzero_coefs=L,
                                                         method=method)
        assert np.isfinite(H).all() and (n_active <= min(L, 8)).all()
        np.testing.assert_allclose(residual, _residual(X, D, H), rtol=1e-9, atol=1e-9)
        assert not H[:, 7].any()  # the zero atom is never used
        assert not (H[:, [2, 5]] != 0).all(1).any()  # nor a duplicate beside its twin
        if method == "omp":
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                ref = orthogonal_mp_gram(G, C.T, n_nonzero_coefs=L).T
            np.testing.assert_allclose(residual, _residual(X, D, ref), rtol=1e-9, atol=1e-9)
            assert premature.any() == bool(caught)
        assert premature.all() == (L > 8)  # more atoms than the dictionary's rank


def test_codes_do_not_depend_on_the_thread_count(whitened_patches):
    X, D = patch_problem(whitened_patches)
    C, G, x_sq = _gram(X, D)
    threads = torch.get_num_threads()
    try:
        results = []
        for n_threads, method in itertools.product((1, 3), ("omp", "ols")):
            torch.set_num_threads(n_threads)
            results.append(greedy_arrays(C, G, x_sq, n_nonzero_coefs=7, method=method)[0])
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(results[0], results[2])
    np.testing.assert_array_equal(results[1], results[3])


def test_the_cpu_engine_returns_the_contract_on_tensors():
    X, D = random_problem(n=20, p=10, k=15)
    C, G, x_sq = (torch.from_numpy(a) for a in _gram(X, D))
    out = greedy_cpu(C, G, x_sq, n_nonzero_coefs=3, method="ols")
    assert isinstance(out, GreedyResult)
    assert out.codes.shape == (20, 15) and out.codes.dtype == torch.float64
    assert out.n_active.dtype == torch.int64 and (out.n_active == 3).all()
    assert out.premature.dtype == torch.bool
    empty = greedy_cpu(C[:0], G, x_sq[:0], n_nonzero_coefs=3)
    assert empty.codes.shape == (0, 15)
    # a budget above the number of atoms is the number of atoms
    wide = greedy_cpu(C, G, x_sq, n_nonzero_coefs=50)
    assert (wide.n_active <= 10).all()
