"""The contract of the greedy ℓ0 engines: orthogonal matching pursuit and orthogonal least
squares in Gram form, for many samples at once (no validation: callers validate).

Each sample ``x`` is coded on at most ``n_nonzero_coefs`` atoms (rows of ``D``) chosen one
at a time; after each choice the coefficients on the chosen atoms ``A`` are the least
squares fit ``h_A = G_AA^{-1} c_A`` (``c = D x``, ``G = D D^T``), from a Cholesky factor
of ``G_AA`` extended by one row per atom (Rubinstein, Zibulevsky and Elad 2008: "Batch
OMP"; the residual's correlations ``c - G_{:A} h_A`` are updated from ``G`` alone, so the
cost does not depend on ``n_features``):

* OMP chooses the atom most correlated with the residual, ``argmax_j |r . d_j|``:
  scikit-learn's `orthogonal_mp_gram`, with its ties (the first in the order its swaps
  leave) and its stopping rules (``tol``: the squared residual; a correlation whose
  square is below the dtype's epsilon, or an atom dependent on the chosen ones, ends the
  sample early, flagged ``premature``);
* OLS chooses the atom whose addition leaves the smallest residual after the re-fit,
  ``argmax_j (r . d_j)^2 / ||d_j - P_A d_j||^2`` (forward selection, SPAMS' ``omp``): the
  denominators come from the same factor, ``G_jj - ||L^{-1} G_{Aj}||^2``, kept for every
  atom as the factor grows.

An engine is called as ``engine(C, G, x_sq, n_nonzero_coefs=..., tol=None,
method="omp"|"ols")`` on float64 tensors and returns a `GreedyResult` on their device.
``C`` may also be `RowProducts`, ``X`` and ``D`` themselves: the CPU's engine then
computes ``X D^T`` a block of rows at a time, in the task that codes them, while they are
in the cache (the whole of ``C``, as large as the codes, is never written to memory and
read back); other engines form it whole.
``tol``, where given, overrides ``n_nonzero_coefs`` (scikit-learn's rule): atoms are added
until the squared residual is at most ``tol``.
"""

from typing import NamedTuple

import torch

from .._device._threads import matmul

__all__ = ["METHODS", "GreedyResult", "RowProducts"]

METHODS = ("omp", "ols")


class GreedyResult(NamedTuple):
    """What every greedy engine returns, on the device of its input."""

    codes: torch.Tensor  # (n_samples, n_components), float64
    n_active: torch.Tensor  # int64 (n_samples,): the atoms each code uses
    residual: torch.Tensor  # (n_samples,) float64: each sample's squared residual
    premature: torch.Tensor  # bool (n_samples,): stopped early (dependent or null atoms)


class RowProducts(NamedTuple):
    """``C = X D^T``, not yet computed: float64 tensors ``X`` (n_samples, n_features) and
    ``D`` (n_components, n_features) on one device."""

    X: torch.Tensor
    D: torch.Tensor

    @property
    def shape(self):
        return (self.X.shape[0], self.D.shape[0])

    @property
    def device(self):
        return self.X.device

    def full(self):
        """The whole of ``C`` (`matmul`: rows shared among our threads)."""
        return matmul(self.X, self.D.T)

    def rows(self, lo, hi, out):
        """Rows ``lo:hi`` of ``C`` into the tensor ``out``. On one thread, a row's bits
        do not depend on its block where blocks start at multiples of `ROW_ALIGN` (as
        those of `matmul` inside `own_threads`)."""
        return torch.mm(self.X[lo:hi], self.D.T, out=out)
