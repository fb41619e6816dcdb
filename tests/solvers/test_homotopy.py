"""The homotopy engines (`_solvers._homotopy`): one contract for the three, and the CPU's
per-sample steps, which the GPU kernel shares."""

import functools

import numpy as np
import pytest
import torch
from _config import DEVICE
from _problems import patch_problem

from skl_sparse._solvers import duality_gap


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

    X, D = patch_problem(whitened_patches)
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


@pytest.mark.parametrize("positive", [False, True])
def test_homotopy_gaps_equal_the_gram_form_ones(positive, whitened_patches, rng):
    """The compiled homotopy's own objectives and gaps (support-only products) are those
    of `duality_gap`, also for codes it did not finish (a step budget of 3)."""
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu

    X, D = patch_problem(whitened_patches)
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
