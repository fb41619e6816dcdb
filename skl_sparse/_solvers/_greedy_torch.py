"""Greedy ℓ0 codes (OMP, OLS) in torch, batched over the samples in lock-step: the GPU's
engine of `skl_sparse._solvers._greedy` (which states the algorithms), and the reference
the compiled CPU engine is tested against.

Every sample takes its ``t``-th atom in the same step: a few tensor operations over the
whole batch (a score per atom, the first best position, gathers of the chosen atom's
factor column and Gram row, one batched product with the factor so far), with no host
synchronisation while a fixed number of atoms is taken; with a residual tolerance, one
check every `CHECK_EVERY` steps says whether any sample is still going. A sample that has
stopped (its budget, its tolerance, no atom left) keeps its state: its updates are
masked to zero. The factor is the CPU engine's (``Z = L^{-1} G_{A:}``, kept in atom order
here, ``w = L^{-1} c_A``); OMP keeps the permutation of scikit-learn's swaps only to
order the choice, so that ties go to the same atom; OLS chooses in the atoms' own order,
as the compiled engine does.
"""

import torch

from ._greedy import GreedyResult

__all__ = ["CHECK_EVERY", "greedy_torch"]

CHECK_EVERY = 4
# the same rules as the compiled engine (`_greedy_cpu`)
_DEPENDENT = 1e-10
_TIE = 1e-12
# bytes of factor (n_rows x atoms x n_components float64) one batch may hold on the CPU;
# a GPU takes an eighth of its free memory
_CPU_FACTOR_BYTES = 1 << 28


def _rows_per_batch(n, k, steps, device):
    budget = _CPU_FACTOR_BYTES
    if device.type == "cuda":
        budget = torch.cuda.mem_get_info(device)[0] // 8
    return max(1, min(n, budget // max(8 * k * max(steps, 1) * 3, 1)))


def _choose(alpha, g_diag, q, perm, t, ols, chosen, eps):
    """Each row's next position and atom; OMP over every position (a chosen one ends the
    row), OLS over the atoms not chosen and not dependent on the chosen ones (its
    position is the atom). Scores within `_TIE` of the best are a tie, won by the first
    position. Returns (position, atom, whether the row has a candidate)."""
    if ols:  # in the atoms' own order, as the compiled engine: the first atom wins a tie
        den = g_diag - q
        ok = (den > _DEPENDENT * g_diag) & (den > eps) & ~chosen
        score = torch.where(ok, alpha * alpha / torch.where(ok, den, 1.0), -1.0)
        best = score.max(dim=1, keepdim=True).values
        atom = (score >= best * (1.0 - _TIE)).to(torch.uint8).argmax(dim=1)
        return atom, atom, best.squeeze(1) >= 0
    score = alpha.abs()
    by_position = score.gather(1, perm)
    best = by_position.max(dim=1, keepdim=True).values
    position = (by_position >= best * (1.0 - _TIE)).to(torch.uint8).argmax(dim=1)
    return position, perm.gather(1, position[:, None]).squeeze(1), best.squeeze(1) >= 0


class _Batch:
    """The state of one batch of rows: correlations of the residual with every atom
    (``alpha``), squared norms of each atom's part in the chosen span (``q``), the factor
    rows ``Z`` and ``L``, ``w``, the positions and the rows still going."""

    def __init__(self, C, G, x_sq, capacity):
        n, k = C.shape
        dev, dt = C.device, C.dtype
        self.G, self.C = G, C
        self.g_diag = torch.diagonal(G).expand(n, k)
        self.alpha = C.clone()
        self.q = torch.zeros_like(C)
        self.perm = torch.arange(k, device=dev).repeat(n, 1)
        self.chosen = torch.zeros((n, k), dtype=torch.bool, device=dev)
        self.Z = torch.empty((n, capacity, k), dtype=dt, device=dev)
        self.L = torch.zeros((n, capacity, capacity), dtype=dt, device=dev)
        self.w = torch.zeros((n, capacity), dtype=dt, device=dev)
        self.atoms = torch.zeros((n, capacity), dtype=torch.int64, device=dev)
        self.residual = x_sq.clone()
        self.going = torch.ones(n, dtype=torch.bool, device=dev)
        self.premature = torch.zeros(n, dtype=torch.bool, device=dev)
        self.n_active = torch.zeros(n, dtype=torch.int64, device=dev)
        self.rows = torch.arange(n, device=dev)

    def grow(self):
        """Double the capacity of the factor (a residual tolerance needs more atoms)."""
        n, cap, k = self.Z.shape
        new = 2 * cap
        Z = torch.empty((n, new, k), dtype=self.Z.dtype, device=self.Z.device)
        Z[:, :cap] = self.Z
        L = torch.zeros((n, new, new), dtype=self.L.dtype, device=self.L.device)
        L[:, :cap, :cap] = self.L
        self.Z, self.L = Z, L
        self.w = torch.cat([self.w, torch.zeros_like(self.w)], dim=1)
        self.atoms = torch.cat([self.atoms, torch.zeros_like(self.atoms)], dim=1)

    def step(self, t, ols, tol, eps):
        """Every row still going takes its ``t``-th atom (masked where it stops)."""
        rows = self.rows
        position, atom, found = _choose(self.alpha, self.g_diag, self.q, self.perm, t, ols,
                                        self.chosen, eps)
        c_a = self.alpha[rows, atom]
        l_kk = self.g_diag[rows, atom] - self.q[rows, atom]
        stop = ~found | (c_a * c_a < eps) | (l_kk <= eps) & (t > 0)
        if not ols:
            stop |= position < t  # the residual's best atom is already chosen
        self.premature |= self.going & stop
        go = self.going & ~stop
        self.going = go
        l_row = self.Z[:, :t].gather(2, atom[:, None, None].expand(-1, t, 1)).squeeze(2)
        l_nn = torch.where(go, l_kk, 1.0).clamp(min=eps).sqrt()
        w_t = torch.where(go, (self.C[rows, atom] - (l_row * self.w[:, :t]).sum(1)) / l_nn, 0.0)
        z_t = self.G.index_select(0, atom)
        if t:
            z_t = z_t - torch.bmm(l_row[:, None], self.Z[:, :t]).squeeze(1)
        z_t = torch.where(go[:, None], z_t / l_nn[:, None], 0.0)
        self.Z[:, t] = z_t
        self.L[:, t, :t] = torch.where(go[:, None], l_row, 0.0)
        self.L[:, t, t] = l_nn
        self.w[:, t] = w_t
        self.atoms[:, t] = atom
        self.alpha.addcmul_(w_t[:, None], z_t, value=-1.0)
        self.q.addcmul_(z_t, z_t)
        self.residual -= w_t * w_t
        self.n_active += go
        self.chosen[rows, atom] |= go
        if not ols:  # OMP's positions t and the chosen one trade atoms
            swap = torch.where(go, position, t)
            moved = self.perm[:, t].clone()
            self.perm[:, t] = self.perm[rows, swap]
            self.perm[rows, swap] = moved
        if tol is not None:
            self.going &= self.residual.abs() > tol

    def codes(self, steps):
        """Solve ``L^T gamma = w`` for every row and scatter onto the chosen atoms."""
        n, k = self.C.shape
        H = torch.zeros((n, k), dtype=self.C.dtype, device=self.C.device)
        if steps:
            L = self.L[:, :steps, :steps]
            gamma = torch.linalg.solve_triangular(L.transpose(1, 2), self.w[:, :steps, None],
                                                  upper=True).squeeze(2)
            H.scatter_add_(1, self.atoms[:, :steps], gamma)
        return H


def _greedy_batch(C, G, x_sq, budget, tol, ols, eps):
    n, k = C.shape
    capacity = budget if tol is None else min(budget, 8)
    state = _Batch(C, G, x_sq, capacity)
    steps = 0
    while steps < budget:
        if steps == state.Z.shape[1]:
            state.grow()
        state.step(steps, ols, tol, eps)
        steps += 1
        if tol is not None and steps % CHECK_EVERY == 0 and not bool(state.going.any()):
            break
    return GreedyResult(state.codes(steps), state.n_active, state.residual.clamp(min=0),
                        state.premature)


def greedy_torch(C, G, x_sq, *, n_nonzero_coefs, tol=None, method="omp"):
    """OMP or OLS codes of every row of ``C = X D^T`` (float64, any device), in batches
    of rows whose factors fit the memory: a `GreedyResult`."""
    n, k = C.shape
    budget = k if tol is not None else min(int(n_nonzero_coefs), k)
    eps = float(torch.finfo(torch.float64).eps)
    if not (n and k):
        return GreedyResult(torch.zeros_like(C), torch.zeros(n, dtype=torch.int64,
                            device=C.device), x_sq.clone(),
                            torch.zeros(n, dtype=torch.bool, device=C.device))
    rows = _rows_per_batch(n, k, budget if tol is None else min(budget, 32), C.device)
    parts = [_greedy_batch(C[i:i + rows], G, x_sq[i:i + rows], budget, tol,
                           method == "ols", eps) for i in range(0, n, rows)]
    return GreedyResult(*(torch.cat(field) for field in zip(*parts, strict=True)))
