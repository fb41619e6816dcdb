"""The GPU policy with the homotopy kernel first (`_engines.kernel_first`), run on the CPU:
the kernel replaced by the CPU homotopy with the kernel's limit on the atoms a path holds."""

import numpy as np
import torch
from _config import gpu_policy_on_cpu

import skl_sparse._solvers._engines as engines
import skl_sparse._solvers._lasso as lasso_mod
from skl_sparse._solvers._homotopy import HomotopyResult
from skl_sparse._solvers._homotopy_cpu import homotopy_arrays


def size_limited_homotopy(calls):
    """A stand-in for `compiled_homotopy`: a row whose path needs more atoms than the
    largest of ``sizes`` is left (zero codes, unfinished, infinite gap); each call recorded
    in ``calls`` as (rows, sizes)."""

    def homotopy(C, G, alpha, positive, x_sq, sizes, rerun_over=0):
        calls.append((len(C), tuple(sizes)))
        H, finished, n_steps, primal, gap = homotopy_arrays(
            C.numpy(), G.numpy(), x_sq.numpy(), alpha, positive=positive)
        left = (H != 0).sum(1) > max(sizes)
        H[left], gap[left] = 0.0, np.inf
        return HomotopyResult(*(torch.from_numpy(np.asarray(a))
                                for a in (H, finished & ~left, n_steps, primal, gap)))

    return homotopy


def kernel_first_on_cpu(monkeypatch, calls, **policy):
    """The homotopy kernel replaced by the stand-in; returns the `config_context` in which
    the CPU codes with the GPU's lasso policy, ``policy``: the fields of `LassoPolicy` to
    change (`gpu_policy_on_cpu`)."""
    monkeypatch.setattr(engines, "compiled_homotopy", size_limited_homotopy(calls))
    monkeypatch.setattr(lasso_mod, "cuda_homotopy_available", lambda k=0: True)
    return gpu_policy_on_cpu(**policy)
