"""The contract of the LARS-lasso homotopy engines, which sit side by side in this package.

For each sample the regularisation path is followed from ``lambda = max_j |c_j|`` (where
``h = 0``) down to ``alpha``: on the active set ``S`` with signs ``s``, ``h_S(lambda) =
G_SS^{-1} (c_S - lambda s)`` is linear in ``lambda`` until an inactive atom reaches ``|c_j
- G_j h| = lambda`` (it joins) or an active coefficient crosses zero (it leaves: the lasso
modification of LARS, Efron et al. 2004). The number of events is about the support size,
independent of the conditioning of ``G``, which is what makes iterative solvers slow on
coherent dictionaries. Three engines follow it:

* `_homotopy_torch.homotopy_torch`: every sample one event per step, in lock-step, in
  torch (any device; on a GPU each step is a host round trip);
* `_homotopy_cpu.homotopy_cpu`: compiled for the CPU, one sample per thread, the factor of
  the active Gram matrix updated in place (SPAMS' algorithm);
* `_homotopy_cuda.homotopy_cuda`: the shipped CUDA kernel, one sample per warp.

Each is called as ``engine(C, G, alpha, positive=..., x_sq=..., max_steps=None)`` with
float64 tensors on one device (``C = X D^T``, ``G = D D^T``, ``x_sq`` the squared norms of
the samples; ``max_steps`` events at most, ``4 * n_components`` by default) and returns a
`HomotopyResult` on that device. A sample the engine could not finish (linearly dependent
atoms, too many events, a full factor) is reported unfinished with the codes it reached;
`lasso_gram` finishes it with the proximal gradient.
"""

from typing import NamedTuple

import torch

__all__ = ["HomotopyResult"]


class HomotopyResult(NamedTuple):
    """What every homotopy engine returns, on the device of its input."""

    codes: torch.Tensor  # (n_samples, n_components), float64
    finished: torch.Tensor  # bool (n_samples,): False where the engine gave up
    n_steps: torch.Tensor  # 0-d int64: the most events any sample took
    primal: torch.Tensor  # (n_samples,) float64: each sample's objective
    gap: torch.Tensor  # (n_samples,) float64: each sample's duality gap
