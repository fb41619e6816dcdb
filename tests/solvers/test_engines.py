"""Which engine codes (`_solvers._engines`): the kernel's first results checked against
torch, and the kernel first on a sample where it pays (`LassoPolicy.homotopy`)."""

import dataclasses

import numpy as np
import pytest
import torch
from _config import DEVICE
from _kernel_stand_in import kernel_first_on_cpu
from _problems import patch_problem

import skl_sparse
from skl_sparse._solvers._lasso import lasso_gram


def test_kernel_results_are_checked_against_torch_once(whitened_patches,
                                                       fresh_kernel_status):
    """The first results of the shipped GPU kernel in a process are checked against
    torch's objectives and gaps: the homotopy's own agree; codes that do not match what
    the kernel reported (as from a kernel that ran wrongly) turn it off, with a
    warning."""
    from skl_sparse._solvers._engines import kernel_agrees
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu

    X, D = patch_problem(whitened_patches)
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
def test_auto_may_run_the_homotopy_kernel_first(whitened_patches, monkeypatch):
    """With the GPU policy's ``homotopy`` sizes set, solver="auto" runs the kernel first
    and FISTA for the samples it leaves: the exact codes either way."""
    import skl_sparse._solvers._engines as engines
    from skl_sparse._solvers._homotopy_cuda import cuda_homotopy_available

    if not cuda_homotopy_available():
        pytest.skip("the CUDA homotopy kernel is not available")
    X, D = patch_problem(whitened_patches)
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
