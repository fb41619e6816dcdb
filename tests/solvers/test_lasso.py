"""The lasso solvers against scikit-learn and against the optimality conditions."""

import ctypes
import dataclasses
import functools

import numpy as np
import pytest
import torch
from _config import DEVICE
from _kernel_stand_in import kernel_first_on_cpu
from sklearn.decomposition import sparse_encode as sk_sparse_encode
from sklearn.linear_model import Lasso

import skl_sparse
from skl_sparse import sparse_encode
from skl_sparse._solvers._lasso import duality_gap, lasso_gram

SOLVERS = ["lars", "fista", "ista"]


def _objective(X, D, H, alpha):
    return 0.5 * ((X - H @ D) ** 2).sum(axis=1) + alpha * np.abs(H).sum(axis=1)


def _random_problem(seed=0, n=200, p=30, k=50):
    rng = np.random.RandomState(seed)
    D = rng.randn(k, p)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return rng.randn(n, p), D


def _patch_problem(patches, k=80, seed=0):
    rng = np.random.RandomState(seed)
    D = patches[rng.choice(len(patches), k, replace=False)].copy()
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return patches[:300], D


def _sklearn_lasso(X, D, alpha, positive):
    """What sparse_encode(algorithm="lasso_cd") runs, with a tight tolerance."""
    lasso = Lasso(
        alpha=alpha / X.shape[1], fit_intercept=False, precompute=D @ D.T, positive=positive,
        max_iter=100000, tol=1e-12,
    )
    return lasso.fit(D.T, X.T).coef_


def _check_kkt(X, D, H, alpha, positive):
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


@pytest.mark.parametrize("problem", ["random", "patches"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("positive", [False, True])
def test_codes_match_sklearn_lasso_cd(problem, solver, positive, whitened_patches):
    X, D = _random_problem() if problem == "random" else _patch_problem(whitened_patches)
    alpha = 0.3
    ours = sparse_encode(
        X, D, alpha=alpha, solver=solver, positive=positive, max_iter=20000, tol=1e-10,
        device=DEVICE,
    )
    ref = sk_sparse_encode(
        X, D, algorithm="lasso_cd", alpha=alpha, positive=positive, max_iter=20000
    )
    # sparse_encode stops at its default tolerance (1e-4): ours may only be better
    f_ours, f_ref = _objective(X, D, ours, alpha), _objective(X, D, ref, alpha)
    assert np.all(f_ours <= f_ref * (1 + 1e-6))  # tol=1e-6 bounds our relative gap
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 1e-3
    # against the same coordinate descent run to a tight tolerance: equal codes
    tight = _sklearn_lasso(X, D, alpha, positive)
    assert np.linalg.norm(ours - tight) / np.linalg.norm(tight) < 1e-4
    np.testing.assert_allclose(f_ours, _objective(X, D, tight, alpha), rtol=1e-6)
    _check_kkt(X, D, ours, alpha, positive)


@pytest.mark.parametrize("solver", SOLVERS)
def test_duality_gap_below_tol(solver, whitened_patches):
    X, D = _patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    H, n_iter, primal_ret, gap = lasso_gram(
        C, G, x_sq, 0.1, solver=solver, tol=1e-8, max_iter=20000
    )
    primal, gap2 = duality_gap(C, G, H, x_sq, 0.1)
    torch.testing.assert_close(primal_ret, primal)
    assert n_iter >= 0
    assert torch.all(gap2 <= 1e-8 * primal + 1e-12)
    # the gap bounds the suboptimality: the sklearn solution is not better
    ref = sk_sparse_encode(X, D, algorithm="lasso_cd", alpha=0.1, max_iter=20000)
    assert np.all(_objective(X, D, H.numpy(), 0.1) <= _objective(X, D, ref, 0.1) + 1e-9)


def test_duality_gap_is_positive_and_zero_at_optimum():
    X, D = _random_problem(n=50)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    zero = torch.zeros_like(C)
    primal, gap = duality_gap(C, G, zero, x_sq, 0.5)
    np.testing.assert_allclose(primal.numpy(), 0.5 * (X**2).sum(1))
    assert torch.all(gap > 0)
    H, _, _, _ = lasso_gram(C, G, x_sq, 0.5, tol=1e-10)
    primal, gap = duality_gap(C, G, H, x_sq, 0.5)
    assert torch.all(gap <= 1e-9 * primal)


def test_large_alpha_gives_zero_codes():
    X, D = _random_problem(n=20)
    alpha_max = np.abs(X @ D.T).max()
    assert not sparse_encode(X, D, alpha=alpha_max * 1.01, device=DEVICE).any()
    assert sparse_encode(X, D, alpha=alpha_max * 0.9, device=DEVICE).any()


def test_float32_codes_stay_float32_and_close():
    X, D = _random_problem(n=100)
    h64 = sparse_encode(X, D, alpha=0.3, device=DEVICE)
    h32 = sparse_encode(X.astype(np.float32), D.astype(np.float32), alpha=0.3, device=DEVICE)
    assert h32.dtype == np.float32
    np.testing.assert_allclose(h32, h64, atol=2e-4)


def test_sample_independent_of_batch():
    X, D = _random_problem(n=100)
    full = sparse_encode(X, D, alpha=0.2, device=DEVICE)
    small = sparse_encode(X, D, alpha=0.2, batch_size=7, device=DEVICE)
    single = sparse_encode(X[13:14], D, alpha=0.2, device=DEVICE)
    np.testing.assert_allclose(full, small, atol=1e-10)
    np.testing.assert_allclose(full[13:14], single, atol=1e-10)


def test_duplicate_atoms_handled():
    """A singular Gram matrix (repeated atom) still gives an optimal code."""
    X, D = _random_problem(n=50, k=10)
    D = np.vstack([D, D[:3]])
    H = sparse_encode(X, D, alpha=0.2, device=DEVICE)
    ref = sk_sparse_encode(X, D, algorithm="lasso_cd", alpha=0.2, max_iter=20000)
    f, f_ref = _objective(X, D, H, 0.2), _objective(X, D, ref, 0.2)
    assert np.all(f <= f_ref * (1 + 1e-6))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"alpha": -1.0}, "alpha"),
        ({"solver": "omp"}, "solver"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_sparse_encode_invalid_parameters(kwargs, match):
    X, D = _random_problem(n=5)
    with pytest.raises(ValueError, match=match):
        sparse_encode(X, D, **kwargs)


def test_sparse_encode_bad_input():
    X, D = _random_problem(n=5)
    with pytest.raises(ValueError, match="features"):
        sparse_encode(X[:, :-1], D)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sparse_encode(bad, D)


def _engines():
    """The homotopy engines that run here, with the device of their input."""
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu
    from skl_sparse._solvers._homotopy_cuda import cuda_homotopy_available, homotopy_cuda
    from skl_sparse._solvers._homotopy_torch import homotopy_torch

    engines = [(functools.partial(homotopy_torch, chunk_size=128), DEVICE),
               (homotopy_cpu, "cpu")]
    if DEVICE == "cuda" and cuda_homotopy_available(40):
        engines.append((homotopy_cuda, "cuda"))
    return engines


@pytest.mark.parametrize("positive", [False, True])
def test_homotopy_engines_share_one_contract(positive, whitened_patches):
    """Every homotopy engine returns a `HomotopyResult` on its input's device: the
    optimum on patch problems (no fallback needed), every row finished, the events of
    the longest path, and each row's objective and duality gap, which are
    `duality_gap`'s."""
    from skl_sparse._solvers._homotopy import HomotopyResult

    X, D = _patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    for engine, device in _engines():
        args = [t.to(device) for t in (C, G)]
        for alpha in (0.3, 0.05, 0.01):
            path = engine(*args, alpha, positive=positive, x_sq=x_sq.to(device))
            assert isinstance(path, HomotopyResult)
            assert all(t.device.type == device for t in path)
            assert path.codes.dtype == torch.float64 and path.n_steps.dim() == 0
            assert path.finished.all() and path.n_steps >= 1
            primal, gap = duality_gap(C, G, path.codes.cpu(), x_sq, alpha, positive)
            assert torch.all(gap <= 1e-9 * primal + 1e-12)
            torch.testing.assert_close(path.primal.cpu(), primal, rtol=1e-12, atol=1e-14)
            torch.testing.assert_close(path.gap.cpu(), gap, rtol=0, atol=1e-12)
        empty = engine(*(t[:0] for t in args[:1]), args[1], 0.1, x_sq=x_sq[:0].to(device))
        assert empty.codes.shape == (0, C.shape[1]) and empty.n_steps == 0


def test_cholesky_delete_matches_refactorisation():
    """The Givens downdate used when a coefficient leaves the LARS active set."""
    from skl_sparse._solvers._homotopy_steps import chol_delete

    rng = np.random.RandomState(0)
    A = rng.randn(7, 12)
    G = A @ A.T
    for s in range(7):
        L = np.zeros((9, 9))
        L[:7, :7] = np.linalg.cholesky(G)
        chol_delete(L, 7, s)
        keep = [i for i in range(7) if i != s]
        np.testing.assert_allclose(L[:6, :6], np.linalg.cholesky(G[np.ix_(keep, keep)]),
                                   atol=1e-12)
        assert not L[:, 6:].any() and not L[6:].any()


def test_unfinished_homotopy_rows_are_finished_by_fista(monkeypatch):
    """Rows the homotopy gives up on (here: a step budget of 2) still reach the optimum."""
    import skl_sparse._solvers._engines as engines
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu

    X, D = (torch.from_numpy(a) for a in _random_problem(n=60, p=20, k=40))
    path = homotopy_cpu(X @ D.T, D @ D.T, 1.5, x_sq=(X * X).sum(1), max_steps=2)
    assert path.n_steps == 2 and not path.finished.all() and path.finished.any()
    assert torch.isfinite(path.codes).all()

    def short_lars(C, G, alpha, **kwargs):
        return homotopy_cpu(C, G, alpha, max_steps=2, **kwargs)

    monkeypatch.setattr(engines, "homotopy_cpu", short_lars)
    X, D = X.numpy(), D.numpy()
    codes = sparse_encode(X, D, alpha=0.05, solver="lars", tol=1e-10, device="cpu")
    _check_kkt(X, D, codes, 0.05, False)


def test_lars_codes_do_not_depend_on_the_thread_count(whitened_patches, rng):
    """The compiled homotopy spreads rows over torch's threads (the test workers run with
    one): the codes are the same with several."""
    D = rng.randn(40, whitened_patches.shape[1])
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = whitened_patches[:1500]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = sparse_encode(X, D, alpha=0.1, solver="lars", device="cpu")
        torch.set_num_threads(3)
        several = sparse_encode(X, D, alpha=0.1, solver="lars", device="cpu")
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(one, several)


@pytest.mark.parametrize("positive", [False, True])
def test_active_set_steps_correct_the_supports_of_an_early_iterate(positive, whitened_patches):
    """From a 40-iteration FISTA iterate, whose supports are often wrong, the support solve
    with its primal-dual active-set steps finds the exact codes of most rows (measured:
    88% / 99% with positive, against 65% / 79% on the iterate's supports alone)."""
    from skl_sparse._solvers._certificates import _support_candidates
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu
    from skl_sparse._solvers._lasso import lasso_gram_budget

    X, D = _patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    alpha = 0.05
    exact, finished, *_ = homotopy_cpu(C, G, alpha, positive=positive, x_sq=x_sq)
    assert finished.all()
    early, _ = lasso_gram_budget(C, G, x_sq, alpha, n_iter=40, positive=positive)

    def solve(steps):  # as lasso_gram's active-set rounds: each re-solves the rows left
        best, found = early.clone(), torch.zeros(len(C), dtype=torch.bool)
        rows, support = torch.arange(len(C)), early
        for step in range(steps + 1):
            cand, ok, cand_HG, grad, proposal = _support_candidates(
                C[rows], G, support, alpha, positive, G.shape[0], G.diagonal(),
                propose=step < steps)
            torch.testing.assert_close(cand_HG, cand @ G)
            assert torch.equal(grad, C[rows] - cand_HG)
            best[rows[ok]], found[rows[ok]] = cand[ok], True
            if step < steps:
                rows, support = rows[~ok], proposal[~ok]
        return best, found

    cand, found = solve(2)
    np.testing.assert_allclose(cand[found], exact[found], atol=1e-10)
    _, found_without = solve(0)
    assert found.double().mean() >= 0.85
    assert found.double().mean() >= found_without.double().mean() + 0.1


@pytest.mark.parametrize("alpha", [0.3, 0.05, 0.01])
def test_float32_iterates_give_float64_codes_to_tol(alpha, whitened_patches):
    """The GPU's default: float32 iterations on float64 input (they find the supports; the
    float64 support solves and iterations finish): the LARS optimum to the tolerance."""
    X, D = _patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    exact, _, p_exact, _ = lasso_gram(C, G, x_sq, alpha, solver="lars")
    H, _, primal, gap = lasso_gram(C, G, x_sq, alpha, solver="fista", tol=1e-10,
                                   iterate_dtype=torch.float32)
    assert H.dtype == torch.float64
    assert torch.all(gap <= 1e-10 * primal)
    torch.testing.assert_close(primal, p_exact, rtol=1e-9, atol=0)
    np.testing.assert_allclose(H, exact, atol=1e-6)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("cpu_tail", [30, 1000])
def test_rows_left_to_the_cpu_homotopy_are_exact(cpu_tail, positive, whitened_patches,
                                                 monkeypatch):
    """On a GPU the last rows of a FISTA run go to the homotopy on the CPU (here forced on
    the CPU): once at most ``cpu_tail`` rows are left, or from the start when there are no
    more. The codes are the exact ones either way."""
    import skl_sparse._solvers._lasso as lasso_mod

    X, D = _patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    exact, _, p_exact, _ = lasso_gram(C, G, x_sq, 0.05, solver="lars", positive=positive)
    handed = []
    finish = lasso_mod._finish_on_cpu

    def counted(C, *args, **kwargs):
        handed.append(len(C))
        return finish(C, *args, **kwargs)

    monkeypatch.setattr(lasso_mod, "_finish_on_cpu", counted)
    H, _, primal, gap = lasso_gram(C, G, x_sq, 0.05, solver="fista", positive=positive,
                                   cpu_tail=cpu_tail)
    assert len(handed) == 1 and 0 < handed[0] <= cpu_tail
    assert (handed[0] == len(X)) == (cpu_tail >= len(X))
    assert torch.all(gap <= 1e-6 * primal)
    torch.testing.assert_close(primal, p_exact, rtol=1e-9, atol=0)
    np.testing.assert_allclose(H, exact, atol=1e-6)


@pytest.mark.parametrize("positive", [False, True])
def test_homotopy_gaps_equal_the_gram_form_ones(positive, whitened_patches, rng):
    """The compiled homotopy's own objectives and gaps (support-only products) are those
    of `duality_gap`, also for codes it did not finish (a step budget of 3)."""
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu

    X, D = _patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    for max_steps in (None, 3):
        H, finished, _, primal, gap = homotopy_cpu(C, G, 0.05, positive=positive,
                                                   max_steps=max_steps, x_sq=x_sq)
        p_ref, g_ref = duality_gap(C, G, H, x_sq, 0.05, positive)
        np.testing.assert_allclose(primal, p_ref, rtol=1e-12)
        np.testing.assert_allclose(gap, g_ref, rtol=1e-8, atol=1e-12)
        assert finished.all() == (max_steps is None)
    assert (gap > 1e-6 * primal).any()  # the unfinished codes are far from optimal


_SIMULATED_KERNEL = """
import numpy as np
from skl_sparse._solvers._homotopy_cpu import homotopy_arrays
from skl_sparse._solvers._homotopy_cuda import run_kernel
rng = np.random.RandomState(0)
D = rng.randn(24, 12)
D /= np.linalg.norm(D, axis=1, keepdims=True)
X = rng.randn(200, 12)
C, G, x_sq = X @ D.T, D @ D.T, (X * X).sum(1)
# one sample per warp: 32 simulated threads and their barriers, slow; rows whose paths
# drop atoms (30, 197, 151; 100 with positive), stop at s_max (30 and 3 at 2, 5 at 3),
# run in the 64-atom factor (7, s_max = 40), or are zero (0)
warp_cases = [([30, 197, 151], 1.0, False, 32), ([100], 1.0, True, 32),
              ([30, 3], 1.0, False, 2), ([0], 100.0, False, 32), ([7], 0.3, False, 40),
              ([4, 5], 1.0, True, 3)]
# every triangular solve by all the lanes (PARALLEL_FROM = 0): sums in another order; row 2
# reaches 12 atoms in 12 dimensions at alpha = 1e-3, where the next one is dependent
parallel_cases = [([30, 197], 1.0, False, 32), ([2], 1e-3, False, 32)]
for parallel_from, cases in ((16, warp_cases), (0, parallel_cases)):
    exact = np.testing.assert_array_equal if parallel_from else (
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-13))
    for rows, alpha, positive, s_max in cases:
        c, xs = C[list(rows)], x_sq[list(rows)]
        H0, f0, _, p0, g0 = homotopy_arrays(c, G, xs, alpha, positive=positive)
        H, done = np.zeros_like(c), np.ones(len(c), dtype=bool)
        steps, primal, gap = np.zeros(len(c), dtype=np.int64), 0.5 * xs, np.zeros(len(c))
        run_kernel(c, G, alpha, positive, xs, H, done, steps, primal, gap, s_max=s_max,
                   parallel_from=parallel_from)
        assert f0.all()
        # paths that need more than s_max atoms at once stop, reported unfinished
        assert (done == ((H0 != 0).sum(1) <= s_max)).all() and done.any() == (s_max > 2)
        exact(H[done], H0[done])
        np.testing.assert_allclose(gap[done], g0[done], rtol=0, atol=1e-13)
        np.testing.assert_allclose(primal[done], p0[done], rtol=1e-12)
# 80 atoms: 4 a lane, the last 48 slots padding; a path of 9 atoms, bit for bit
rng = np.random.RandomState(0)
D = rng.randn(80, 20)
D /= np.linalg.norm(D, axis=1, keepdims=True)
X = rng.randn(2, 20)
C, G, x_sq = X @ D.T, D @ D.T, (X * X).sum(1)
H0, f0, _, p0, g0 = homotopy_arrays(np.ascontiguousarray(C[1:]), G, x_sq[1:], 0.5)
H, done, steps = np.zeros_like(C[1:]), np.ones(1, dtype=bool), np.zeros(1, dtype=np.int64)
primal, gap = 0.5 * x_sq[1:], np.zeros(1)
run_kernel(C[1:], G, 0.5, False, x_sq[1:], H, done, steps, primal, gap, s_max=32)
assert done.all() and (H0 != 0).sum() == 9
np.testing.assert_array_equal(H, H0)
np.testing.assert_allclose(gap, g0, rtol=0, atol=1e-13)
print("ok")
"""


@pytest.mark.skipif(DEVICE != "cpu", reason="numba's CUDA simulator needs no GPU (CI runs it, a "
                    "minute alone); on a GPU the shipped kernel itself runs "
                    "(test_cuda_homotopy_kernel_runs_on_the_gpu)")
def test_cuda_homotopy_kernel_follows_the_cpu_path():
    """The GPU's homotopy kernel, one sample per warp (lanes sharing the atoms), runs here
    under numba's CUDA simulator (in a child process: the simulator is chosen when numba
    is imported): the CPU's codes bit for bit, its objectives and gaps to rounding (sums
    in another order), through atoms leaving the path and zero codes; the samples whose
    path needs more atoms than ``s_max`` are reported unfinished, with either factor
    capacity; and with several atoms a lane (a dictionary wider than a warp)."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "NUMBA_ENABLE_CUDASIM": "1"}
    out = subprocess.run([sys.executable, "-c", _SIMULATED_KERNEL], env=env,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-3000:]


def test_kernel_source_digest_reads_the_same_on_every_python():
    """The digest of the kernel's code dumps syntax trees without their None and empty
    fields: the text below on Python 3.11 to 3.14 (3.12 added ``type_params=[]`` to
    every function, which made the shipped PTX look stale on the GPU machine's 3.12)."""
    import ast

    from skl_sparse._solvers._homotopy_cuda import _dump

    assert _dump(ast.parse("def f(x):\n    return x + 1")) == (
        "Module(body=[FunctionDef(name='f', args=arguments(args=[arg(arg='x')]), "
        "body=[Return(value=BinOp(left=Name(id='x', ctx=Load()), op=Add(), "
        "right=Constant(value=1)))])])")


REBUILD_PTX = (
    "The device code of the CUDA homotopy kernel changed (skl_sparse/_solvers/"
    "_homotopy_steps.py, or the kernel's functions in _homotopy_cuda.py): the shipped PTX "
    "is stale. Rebuild it in a side environment (no GPU needed), from the repository root:\n"
    "    python -m venv /tmp/ptx && /tmp/ptx/bin/pip install torch==2.13.0 scikit-learn "
    "'numba-cuda[cu12]==0.30.4' nvidia-cuda-nvcc-cu12==12.2.140\n"
    "    PYTHONPATH=. /tmp/ptx/bin/python benchmarks/cuda_kernels_ptx.py --write\n"
    "then commit skl_sparse/_device/_kernels/ and run the CUDA tests on a GPU "
    "(benchmarks/run_gpu.sh).")


def test_shipped_cuda_kernels_are_compiled_from_this_code():
    """The PTX shipped for the GPU (`_cuda_driver`) was compiled from the device code as
    it is (`REBUILD_PTX` says how to rebuild it), for every size and factor capacity, for
    drivers of CUDA 12.2 on (PTX ISA 8.2, compute capability 7.0); and the launcher passes
    exactly the parameters each entry point declares: numba's array structures, then
    the scalars, in the kernel's order."""
    import hashlib
    import json
    import re
    from importlib import resources

    from skl_sparse._device import _cuda_driver
    from skl_sparse._solvers import _homotopy_cuda as lars_cuda

    folder = resources.files(_cuda_driver.__package__) / _cuda_driver.KERNELS
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["source_digest"] == lars_cuda.source_digest(), REBUILD_PTX
    names = [lars_cuda.variant_name(*v) for v in lars_cuda.shipped_variants()]
    assert list(_cuda_driver.kernel_names()) == sorted(names) == sorted(manifest["ptx_sha256"])
    n, k = 3, 24
    matrix, vector = torch.zeros(n, k, dtype=torch.float64), torch.zeros(n, dtype=torch.float64)
    problem = (matrix, torch.zeros(k, k, dtype=torch.float64), 0.1, True, vector, matrix,
               torch.zeros(n, dtype=torch.bool), torch.zeros(n, dtype=torch.int64), vector,
               vector)
    _, blocks, args = lars_cuda._arguments(*problem, 32, None)
    ptx_type = {ctypes.c_void_p: ".u64", ctypes.c_int64: ".u64", ctypes.c_double: ".f64",
                ctypes.c_uint8: ".u8"}
    passed = [ptx_type[type(a)] for a in _cuda_driver.numba_arguments(*args)]
    assert blocks == n and len(passed) == 9 * 3 + 7 * 5 + 5
    for name in names:
        ptx, entry = _cuda_driver.read_ptx(name)
        assert hashlib.sha256(ptx.encode()).hexdigest() == manifest["ptx_sha256"][name]
        assert re.search(r"^\.version 8\.2$", ptx, re.M) and "\n.target sm_70\n" in ptx
        assert ptx.count(".entry ") == 1
        params = ptx[ptx.index(entry + "(") :].split(")", 1)[0]
        assert re.findall(r"\.param (\.\w+) ", params) == passed, name
    with pytest.raises(ValueError, match="s_max=65"):
        lars_cuda._arguments(*problem, 65, None)
    with pytest.raises(ValueError, match="C-contiguous"):  # the PTX reads no strides
        lars_cuda._arguments(torch.zeros(k, n, dtype=torch.float64).T, *problem[1:], 32, None)


def test_kernel_digest_reads_the_device_code_only(monkeypatch):
    """The shipped PTX's digest reads `_homotopy_steps` and the kernel's functions, nothing
    else: the CPU's homotopy loop and the launcher change without a rebuild, while any
    change to the code compiled for the GPU changes the digest. Every function compiled as
    a device function lives in `_homotopy_steps`, and every function there is compiled."""
    import inspect

    from numba.core.registry import CPUDispatcher

    from skl_sparse._solvers import _homotopy_cuda as lars_cuda
    from skl_sparse._solvers import _homotopy_steps as steps

    read, getsource = [], inspect.getsource
    monkeypatch.setattr(inspect, "getsource", lambda obj: read.append(obj) or getsource(obj))
    digest = lars_cuda.source_digest()
    assert read == [steps, lars_cuda._device_functions, lars_cuda._warp_kernel,
                    lars_cuda.kernel_signature]
    compiled = {name for name, obj in vars(steps).items() if isinstance(obj, CPUDispatcher)}
    assert compiled == set(lars_cuda.DEVICE_FUNCTIONS)
    edited = {steps: getsource(steps).replace("d <= 1e-10 * G[j, j]", "d <= 1e-9 * G[j, j]"),
              lars_cuda._warp_kernel: getsource(lars_cuda._warp_kernel).replace(
                  "tiny = 1e-14", "tiny = 1e-13")}
    for obj, text in edited.items():
        assert text != getsource(obj)
        monkeypatch.setattr(inspect, "getsource",
                            lambda o, obj=obj, text=text: text if o is obj else getsource(o))
        assert lars_cuda.source_digest() != digest


def test_kernel_results_are_checked_against_torch_once(whitened_patches,
                                                       fresh_kernel_status):
    """The first results of the shipped GPU kernel in a process are checked against
    torch's objectives and gaps: the homotopy's own agree; codes that do not match what
    the kernel reported (as from a kernel that ran wrongly) turn it off, with a
    warning."""
    from skl_sparse._solvers._engines import kernel_agrees
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu

    X, D = _patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    for positive in (False, True):
        fresh_kernel_status.__init__()
        path = homotopy_cpu(C, G, 0.1, positive=positive, x_sq=x_sq)
        assert kernel_agrees(C, G, x_sq, 0.1, positive, path)
        assert fresh_kernel_status.off_reason is None
        path.codes[3, 0] += 1e-3  # one code that is not the one the gap was computed for
        with pytest.warns(RuntimeWarning, match="disagreed with torch's"):
            assert not kernel_agrees(C, G, x_sq, 0.1, positive, path)
        assert "disagreed" in fresh_kernel_status.off_reason


@pytest.mark.skipif(DEVICE == "cpu", reason="needs CUDA")
def test_cuda_homotopy_kernel_runs_on_the_gpu(whitened_patches):
    """On a GPU, solver="lars" runs the shipped homotopy kernel: the CPU homotopy's codes
    to rounding, every sample it finished certified by its own gap."""
    from skl_sparse._solvers._homotopy_cuda import cuda_homotopy_available, homotopy_cuda

    if not cuda_homotopy_available():
        pytest.skip("the CUDA homotopy kernel is not available")
    X, D = _patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    exact, _, p_exact, _ = lasso_gram(C, G, x_sq, 0.1, solver="lars")
    H, finished, _, primal, gap = homotopy_cuda(C.to(DEVICE), G.to(DEVICE), 0.1,
                                                x_sq=x_sq.to(DEVICE))
    finished = finished.cpu()
    assert finished.double().mean() > 0.9
    np.testing.assert_allclose(H.cpu()[finished], exact[finished], atol=1e-8)
    assert torch.all(gap.cpu()[finished] <= 1e-9 * primal.cpu()[finished])
    H_l, _, p_l, _ = lasso_gram(C.to(DEVICE), G.to(DEVICE), x_sq.to(DEVICE), 0.1,
                                solver="lars")
    torch.testing.assert_close(p_l.cpu(), p_exact, rtol=1e-9, atol=0)


def test_homotopy_reads_no_factor_entry_before_writing_it(rng):
    """The GPU kernel leaves each thread's Cholesky factor uninitialised: the per-sample
    homotopy (drops and linearly dependent atoms included) gives the same codes from a
    factor full of NaN."""
    from skl_sparse._solvers._homotopy_cpu import _lars_one, homotopy_cpu

    D = rng.randn(40, 12)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = rng.randn(60, 12)
    C, G = X @ D.T, D @ D.T
    for alpha, positive in [(0.3, False), (0.01, True), (0.001, False)]:
        H0, f0, *_ = (t.numpy() for t in homotopy_cpu(
            torch.from_numpy(C), torch.from_numpy(G), alpha, positive=positive,
            x_sq=torch.from_numpy((X * X).sum(1))))
        for i in range(len(C)):
            h, work = np.zeros(40), [np.empty(40) for _ in range(6)]
            ok, _ = _lars_one(C[i], G, alpha, positive, 160, h, work[0],
                              np.full((40, 40), np.nan), np.empty(40, dtype=np.int64),
                              *work[1:], np.empty(40, dtype=np.bool_))
            assert ok == f0[i]
            np.testing.assert_array_equal(h, H0[i])


@pytest.mark.skipif(DEVICE == "cpu", reason="needs CUDA")
def test_auto_may_run_the_homotopy_kernel_first(whitened_patches, monkeypatch):
    """With the GPU policy's ``homotopy`` sizes set, solver="auto" runs the kernel first
    and FISTA for the samples it leaves: the exact codes either way."""
    import skl_sparse._solvers._engines as engines
    from skl_sparse._solvers._homotopy_cuda import cuda_homotopy_available

    if not cuda_homotopy_available():
        pytest.skip("the CUDA homotopy kernel is not available")
    X, D = _patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X).to(DEVICE), torch.from_numpy(D).to(DEVICE)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    _, _, p_exact, _ = lasso_gram(C.cpu(), G.cpu(), x_sq.cpu(), 0.05, solver="lars")
    sizes = []
    kernel = engines.homotopy_cuda

    def recorded(*args, s_max, **kwargs):
        sizes.append(s_max)
        return kernel(*args, s_max=s_max, **kwargs)

    monkeypatch.setattr(engines, "homotopy_cuda", recorded)
    gpu = dataclasses.replace(skl_sparse.get_config()["gpu_lasso_policy"], homotopy=(4,))
    with skl_sparse.config_context(gpu_lasso_policy=gpu):
        _, _, primal, gap = lasso_gram(C, G, x_sq, 0.05, solver="auto", cpu_tail=0)
    assert sizes == [(4,)]
    assert torch.all(gap <= 1e-6 * primal)
    torch.testing.assert_close(primal.cpu(), p_exact, rtol=1e-9, atol=0)


@pytest.mark.parametrize("alpha", [0.5, 0.05])
def test_auto_runs_the_kernel_on_all_rows_only_where_a_sample_says_it_pays(
        whitened_patches, monkeypatch, alpha):
    """The GPU policy (here on the CPU, with the kernel replaced by the CPU homotopy
    limited to 3 then 6 atoms): the kernel first on a strided sample, with the first size;
    where at most ``homotopy_left`` of the sample needed more atoms (alpha=0.5), on the
    other rows too with both sizes, FISTA only for what it leaves; else (alpha=0.05)
    FISTA from zero for every row the sample did not finish. The exact codes either way."""

    X = whitened_patches[:1000]
    rng = np.random.RandomState(0)
    D = whitened_patches[rng.choice(len(whitened_patches), 80, replace=False)]
    D = D / np.linalg.norm(D, axis=1, keepdims=True)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    exact, _, p_exact, _ = lasso_gram(C, G, x_sq, alpha, solver="lars")
    sample = torch.arange(0, len(C), len(C) // 100)
    sample_left = float(((exact[sample] != 0).sum(1) > 3).double().mean())
    pays = alpha == 0.5
    assert (sample_left <= 0.05) == pays and sample_left > 0  # the premise
    calls = []
    with kernel_first_on_cpu(monkeypatch, calls, homotopy=(3, 6), homotopy_sample=100,
                             homotopy_left=0.05):
        H, n_iter, primal, gap = lasso_gram(C, G, x_sq, alpha, solver="auto", cpu_tail=0)
    others = [(len(C) - len(sample), (3, 6))] if pays else []
    assert calls == [(len(sample), (3,)), *others]
    assert n_iter > 0  # FISTA finished some rows either way
    assert torch.all(gap <= 1e-6 * primal)
    torch.testing.assert_close(primal, p_exact, rtol=1e-9, atol=0)
    # a sample of most of the rows is all of them: one call, with both sizes
    calls.clear()
    with kernel_first_on_cpu(monkeypatch, calls, homotopy=(3, 6), homotopy_sample=600,
                             homotopy_left=0.05):
        _, _, primal, _ = lasso_gram(C, G, x_sq, alpha, solver="auto", cpu_tail=0)
    assert calls == [(len(C), (3, 6))]
    torch.testing.assert_close(primal, p_exact, rtol=1e-9, atol=0)


def test_cuda_homotopy_reruns_the_rows_a_small_factor_leaves(whitened_patches, monkeypatch):
    """`homotopy_cuda` with factor sizes (4, 64): the rows whose path needs more than 4
    atoms run again with 64, and only they, unless they are at most ``rerun_over``; the
    merged result is the homotopy's. (The kernel is replaced here by the CPU homotopy with
    the same size limit.)"""
    import skl_sparse._solvers._homotopy_cuda as lars_cuda
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu

    X, D = _patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    calls = []

    def launch(C, G, x_sq, alpha, positive, s_max, max_steps, parallel_from):
        calls.append((len(C), s_max))
        H, _, steps, primal, gap = homotopy_cpu(C, G, alpha, positive=positive, x_sq=x_sq)
        finished = (H != 0).sum(1) <= s_max
        H[~finished] = 0.0
        return H, finished, torch.full((len(C),), int(steps)), primal, gap

    monkeypatch.setattr(lars_cuda, "_launch", launch)
    H, finished, _, primal, gap = lars_cuda.homotopy_cuda(C, G, 0.05, x_sq=x_sq,
                                                          s_max=(4, 64))
    exact, _, _, p_exact, g_exact = homotopy_cpu(C, G, 0.05, x_sq=x_sq)
    many = int(((exact != 0).sum(1) > 4).sum())
    assert calls == [(len(C), 4), (many, 64)] and 0 < many < len(C)
    assert finished.all()
    torch.testing.assert_close(H, exact, rtol=0, atol=0)
    torch.testing.assert_close(gap, g_exact, rtol=0, atol=0)
    # as few rows as the caller would finish on the CPU: no larger kernel for them
    calls.clear()
    _, finished, *_ = lars_cuda.homotopy_cuda(C, G, 0.05, x_sq=x_sq, s_max=(4, 64),
                                              rerun_over=many)
    assert calls == [(len(C), 4)] and int((~finished).sum()) == many


def test_few_rows_the_homotopy_leaves_go_to_the_cpu_at_once(monkeypatch):
    """With ``cpu_tail`` (on a GPU: the last 256 rows), the rows the compiled homotopy did
    not certify go straight to the CPU when they are that few: handed over before any
    check round, and solved to the optimum."""
    import skl_sparse._solvers._engines as engines
    import skl_sparse._solvers._lasso as lasso_mod
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu

    X, D = _random_problem(n=60, p=20, k=40)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    C, G, x_sq = Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1)
    *_, p_h, g_h = homotopy_cpu(C, G, 0.05, max_steps=25, x_sq=x_sq)
    uncertified = int((g_h > 1e-10 * p_h).sum())
    assert 0 < uncertified < len(X)
    monkeypatch.setattr(engines, "homotopy_cpu",
                        lambda C, G, alpha, **kw: homotopy_cpu(C, G, alpha, max_steps=25, **kw))
    events = []
    finish, check = lasso_mod._finish_on_cpu, lasso_mod.convergence_check
    monkeypatch.setattr(lasso_mod, "_finish_on_cpu",
                        lambda C, *a, **kw: events.append(len(C)) or finish(C, *a, **kw))
    monkeypatch.setattr(lasso_mod, "convergence_check",
                        lambda *a, **kw: events.append("check") or check(*a, **kw))
    H, _, _, gap = lasso_gram(C, G, x_sq, 0.05, solver="lars", tol=1e-10,
                              cpu_tail=uncertified)
    assert events[0] == uncertified  # before any check of the outer call
    _check_kkt(X, D, H.numpy(), 0.05, False)
