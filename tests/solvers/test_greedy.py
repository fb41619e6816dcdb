"""The greedy ℓ0 engines (`_solvers._greedy`): OMP as scikit-learn computes it, OLS as forward
selection computes it, LAR as scikit-learn's `lars_path` does, the lock-step torch engine (a
GPU's) as the compiled one, and finite codes on degenerate dictionaries."""

import itertools
import warnings

import numpy as np
import pytest
import torch
from _problems import patch_problem, random_problem
from sklearn.linear_model import Lars, orthogonal_mp_gram

from skl_sparse._solvers import greedy_gram
from skl_sparse._solvers._greedy import GreedyResult, RowProducts
from skl_sparse._solvers._greedy_cpu import greedy_arrays, greedy_cpu
from skl_sparse._solvers._greedy_torch import greedy_torch


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


def _sklearn_lar(X, D, n_nonzero_coefs):
    """What scikit-learn's ``sparse_encode(algorithm="lars")`` runs."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        lars = Lars(fit_intercept=False, precompute=D @ D.T, n_nonzero_coefs=n_nonzero_coefs,
                    fit_path=False).fit(D.T, X.T, Xy=D @ X.T)
    return lars.coef_.reshape(len(X), len(D))


@pytest.mark.parametrize("shape", [(60, 12, 30), (60, 20, 10), (40, 64, 256)])
def test_lar_is_scikit_learns_least_angle_regression(shape):
    """The same supports and coefficients as `Lars(n_nonzero_coefs=L)` with a Gram matrix
    (sign flips and steps that add no atom included), for budgets up to the rank."""
    n, p, k = shape
    X, D = random_problem(seed=k, n=n, p=p, k=k)
    C, G, x_sq = _gram(X, D)
    for L in (1, 3, 5, min(k, p)):
        ref = _sklearn_lar(X, D, L)
        H, n_active, residual, premature = greedy_arrays(C, G, x_sq, n_nonzero_coefs=L,
                                                         method="lar", n_features=p)
        np.testing.assert_array_equal(H != 0, ref != 0)
        np.testing.assert_allclose(H, ref, rtol=1e-9, atol=1e-10 * np.abs(ref).max())
        np.testing.assert_array_equal(n_active, (H != 0).sum(1))
        np.testing.assert_allclose(residual, _residual(X, D, H), rtol=1e-9, atol=1e-9)
        assert not premature.any()


@pytest.mark.parametrize("method", ["omp", "ols"])
@pytest.mark.parametrize("case", [{"n_nonzero_coefs": 1}, {"n_nonzero_coefs": 6},
                                  {"n_nonzero_coefs": 12}, {"tol": 0.3}])
def test_lock_step_torch_engine_is_the_compiled_one(method, case):
    """The GPU's engine (run here on the CPU): the compiled engine's atoms, codes (1e-10),
    residuals and flags, with degenerate atoms in the dictionary and a residual tolerance
    that rows reach at different steps."""
    rng = np.random.RandomState(5)
    X = rng.randn(300, 12)
    D = rng.randn(40, 12)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    D[1], D[2], D[4] = D[0], -D[3], 0.0
    C, G, x_sq = _gram(X, D)
    if "tol" in case:
        case = {"n_nonzero_coefs": 1, "tol": case["tol"] * x_sq.mean()}
    ref = greedy_arrays(C, G, x_sq, method=method, **case)
    out = greedy_torch(*(torch.from_numpy(a) for a in (C, G, x_sq)), method=method, **case)
    codes, n_active, residual, premature = (t.numpy() for t in out)
    well_posed = case["n_nonzero_coefs"] < 12 or method == "omp"  # OLS's last atom: any
    if well_posed:
        np.testing.assert_array_equal(codes != 0, ref[0] != 0)
        np.testing.assert_allclose(codes, ref[0], rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(n_active, ref[1])
    np.testing.assert_allclose(residual, ref[2], rtol=1e-10, atol=1e-10)
    np.testing.assert_array_equal(premature, ref[3])


def test_lock_step_engine_in_several_batches(monkeypatch):
    """Rows split into batches by the memory budget give the codes of one batch."""
    import skl_sparse._solvers._greedy_torch as engine

    X, D = random_problem(n=100, p=16, k=24)
    tensors = [torch.from_numpy(a) for a in _gram(X, D)]
    whole = greedy_torch(*tensors, n_nonzero_coefs=4)
    monkeypatch.setattr(engine, "_CPU_FACTOR_BYTES", 8 * 24 * 4 * 3 * 7)  # 7 rows a batch
    split = greedy_torch(*tensors, n_nonzero_coefs=4)
    for a, b in zip(whole, split, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_engine_choice_by_device_and_method():
    """`greedy_gram` on a CPU tensor is the compiled engine, LAR included."""
    X, D = random_problem(n=30, p=10, k=20)
    tensors = [torch.from_numpy(a) for a in _gram(X, D)]
    for method in ("omp", "ols", "lar"):
        out = greedy_gram(*tensors, method=method, n_nonzero_coefs=3, n_features=10)
        ref = greedy_arrays(*_gram(X, D), n_nonzero_coefs=3, method=method, n_features=10)
        np.testing.assert_array_equal(out.codes.numpy(), ref[0])


@pytest.mark.parametrize("method", ["omp", "ols", "lar"])
def test_degenerate_dictionaries_give_finite_codes(method):
    """Duplicated, negated and zero atoms: finite codes, OMP's reconstruction as good as
    scikit-learn's, and a budget beyond the dictionary's rank ends early, flagged."""
    rng = np.random.RandomState(1)
    D = rng.randn(12, 8)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    D[5], D[7], D[9] = D[2], 0.0, -D[3]
    X = rng.randn(200, 8)
    C, G, x_sq = _gram(X, D)
    for L in (2, 6, 8 if method == "lar" else 12):
        H, n_active, residual, premature = greedy_arrays(C, G, x_sq, n_nonzero_coefs=L,
                                                         method=method, n_features=8)
        assert np.isfinite(H).all()
        if method == "lar":
            # within the budget the public functions allow (at most n_features steps)
            assert (residual <= x_sq).all() and not H[:, 7].any()
            continue
        assert (n_active <= min(L, 8)).all()
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


@pytest.mark.parametrize("method", ["omp", "ols", "lar"])
def test_row_products_code_as_the_whole_product(method, whitened_patches, monkeypatch):
    """`RowProducts` (``X D^T`` computed by blocks in the tasks) give the codes of the
    whole product: blocks of 64 rows, so that a task has several and the last is short,
    one thread and three, and a residual tolerance."""
    from skl_sparse._solvers import _greedy_cpu as engine

    X, D = patch_problem(whitened_patches)
    X, D = X[:1000], D[:40]
    C, G, x_sq = (torch.from_numpy(a) for a in _gram(X, D))
    monkeypatch.setattr(engine, "_BLOCK_BYTES", 8 * D.shape[0] * 64)
    products = RowProducts(torch.from_numpy(X), torch.from_numpy(D))
    threads = torch.get_num_threads()
    cases = [{"n_nonzero_coefs": 5}, {"n_nonzero_coefs": 40, "tol": 0.3 * float(x_sq.mean())}]
    try:
        for case, n_threads in itertools.product(cases[:1 if method == "lar" else 2], (1, 3)):
            torch.set_num_threads(n_threads)
            whole = greedy_cpu(products.full(), G, x_sq, method=method, n_features=X.shape[1],
                               **case)
            blocks = greedy_cpu(products, G, x_sq, method=method, n_features=X.shape[1],
                                **case)
            for a, b in zip(whole, blocks, strict=True):
                np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12)
            np.testing.assert_array_equal(whole.codes != 0, blocks.codes != 0)
    finally:
        torch.set_num_threads(threads)


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
