"""Batched lasso solvers on torch tensors (no validation: callers validate).

Every sample ``x`` (a row of ``X``) is coded independently against the rows of
a dictionary ``D`` (``n_components x n_features``)::

    h(x) = argmin_h  1/2 ||x - h D||^2 + alpha ||h||_1     (h >= 0 if positive)

The solvers work in Gram form, on the correlations ``C = X D^T`` and the Gram
matrix ``G = D D^T``, so their cost does not depend on ``n_features``.

Design (see the user guide for the references):

* a first phase: the exact LARS-lasso homotopy (compiled, one sample per
  thread, on the CPU: `skl_sparse._lars_cpu`; batched in torch on other
  devices: `skl_sparse._lars`), or ISTA, FISTA or cyclic coordinate descent
  iterations, vectorised over the samples of the batch;
* every ``check_every`` iterations, an *exact support solve*: for each sample
  the current support ``S`` and signs ``s`` give the candidate
  ``h_S = G_SS^{-1} (c_S - alpha s)``; it is the lasso solution when its signs
  agree with ``s`` and ``|c_j - G_j h| <= alpha`` off the support (the KKT
  conditions), which the duality gap then confirms;
* samples whose duality gap is below ``tol`` leave the batch, so the
  iterations that follow only pay for the hard samples.

The result of one sample never depends on the other samples of its batch.
"""

import math

import torch

from ._lars import lars_path_gram
from ._lars_cpu import lars_path_gram_cpu

__all__ = ["lasso_gram", "duality_gap", "lasso_objective", "SOLVERS"]

SOLVERS = ("lars", "fista", "ista", "cd")


def _shrink(v, thresh, positive):
    if positive:
        return torch.clamp(v - thresh, min=0)
    # + 0.0 turns the -0.0 of negative entries below the threshold into 0.0
    return torch.sign(v) * torch.clamp(v.abs() - thresh, min=0) + 0.0


def lasso_objective(X, D, H, alpha):
    """Per-sample objective ``1/2 ||x - h D||^2 + alpha ||h||_1``."""
    R = X - H @ D
    return 0.5 * (R * R).sum(dim=1) + alpha * H.abs().sum(dim=1)


def duality_gap(C, G, H, x_sqnorm, alpha, positive=False, HG=None):
    """Per-sample primal value and duality gap, computed in Gram form.

    With the residual ``r = x - h D`` and its correlations ``D r = c - G h``,
    the dual point ``theta = r min(1, alpha / ||D r||_inf)`` is feasible and
    ``gap = P(h) - (theta . x - 1/2 ||theta||^2) >= 0`` bounds the distance of
    ``P(h)`` to the optimum.

    Returns
    -------
    primal, gap : tensors of shape (n_samples,)
    """
    if HG is None:
        HG = H @ G
    grad = C - HG  # = D r
    ch = (C * H).sum(dim=1)
    hGh = (HG * H).sum(dim=1)
    r_sq = torch.clamp(x_sqnorm - 2 * ch + hGh, min=0)
    l1 = H.abs().sum(dim=1)
    primal = 0.5 * r_sq + alpha * l1
    if positive:
        dual_norm = torch.clamp(grad.max(dim=1).values, min=0)
    else:
        dual_norm = grad.abs().max(dim=1).values
    scale = torch.where(
        dual_norm > alpha, alpha / torch.clamp(dual_norm, min=1e-300), torch.ones_like(dual_norm)
    )
    # theta . x = scale (||x||^2 - c.h);  ||theta||^2 = scale^2 ||r||^2
    dual = scale * (x_sqnorm - ch) - 0.5 * scale * scale * r_sq
    gap = torch.clamp(primal - dual, min=0)
    return primal, gap


def _support_solve_padded(C, G, H, alpha, positive):
    """Exact lasso solution on each sample's current support, if it is one.

    Returns the candidate codes and a boolean mask of the samples for which
    the candidate satisfies the KKT conditions (signs kept, no violation off
    the support).
    """
    n, k = H.shape
    nnz = (H != 0).sum(dim=1)
    m = int(nnz.max()) if n else 0
    if m == 0:
        cand = torch.zeros_like(H)
        grad = C
    else:
        vals, idx = torch.topk(H.abs(), m, dim=1)
        mask = vals > 0
        signs = torch.sign(H.gather(1, idx)) * mask
        G_SS = G[idx[:, :, None], idx[:, None, :]]
        mask2 = mask[:, :, None] & mask[:, None, :]
        eye = torch.eye(m, dtype=H.dtype, device=H.device)
        G_SS = torch.where(mask2, G_SS, eye.expand_as(G_SS) * (~mask[:, :, None]))
        rhs = (C.gather(1, idx) - alpha * signs) * mask
        L, info = torch.linalg.cholesky_ex(G_SS)
        ok = info == 0
        if not bool(ok.all()):
            # singular sub-Gram (atoms linearly dependent on the support):
            # leave those samples to the iterative solver
            L = torch.where(ok[:, None, None], L, eye.expand_as(L))
        h_S = torch.cholesky_solve(rhs.unsqueeze(-1), L).squeeze(-1) * mask
        ok &= ((h_S * signs > 0) | ~mask).all(dim=1)
        cand = torch.zeros_like(H).scatter_(1, idx, h_S)
        grad = C - cand @ G
    viol = grad if positive else grad.abs()
    slack = alpha * (1 + 1e-7) + 1e-12
    off = cand == 0
    ok = (ok if m else torch.ones(n, dtype=torch.bool, device=H.device)) & (
        (viol <= slack) | ~off
    ).all(dim=1)
    return cand, ok, cand @ G


def _support_solve(C, G, H, alpha, positive):
    """`_support_solve_padded` on groups of samples of similar support size.

    Padding every sample to the largest support of the batch would make one
    dense sample cost as much as the whole batch; groups by powers of two of
    the support size bound the padding to a factor two.
    """
    nnz = (H != 0).sum(dim=1)
    group = torch.ceil(torch.log2(nnz.clamp(min=1).to(torch.float64))).to(torch.int64)
    if int(group.max()) == int(group.min()):
        return _support_solve_padded(C, G, H, alpha, positive)
    cand = torch.empty_like(H)
    cand_HG = torch.empty_like(H)
    ok = torch.empty(H.shape[0], dtype=torch.bool, device=H.device)
    for g in torch.unique(group).tolist():
        rows = torch.nonzero(group == g).squeeze(1)
        cand[rows], ok[rows], cand_HG[rows] = _support_solve_padded(
            C[rows], G, H[rows], alpha, positive
        )
    return cand, ok, cand_HG


class _Ista:
    """(F)ISTA iterations on the samples still active."""

    def __init__(self, C, G, H, alpha, positive, lipschitz, momentum):
        self.C, self.G, self.alpha, self.positive = C, G, alpha, positive
        self.lipschitz = lipschitz  # None: computed when first needed (LARS rarely needs it)
        self.momentum = momentum
        self.H = H
        self.Y = H.clone() if momentum else H
        self.t = 1.0

    def run(self, n_iter):
        if self.lipschitz is None:
            self.lipschitz = float(torch.linalg.eigvalsh(self.G.double()).max())
        C, G, step = self.C, self.G, 1.0 / max(self.lipschitz, 1e-12)
        thr = self.alpha * step
        for _ in range(n_iter):
            H_new = _shrink(self.Y + step * (C - self.Y @ G), thr, self.positive)
            if self.momentum:
                t_new = 0.5 * (1 + math.sqrt(1 + 4 * self.t * self.t))
                self.Y = H_new + ((self.t - 1) / t_new) * (H_new - self.H)
                self.t = t_new
            else:
                self.Y = H_new
            self.H = H_new

    def keep(self, rows):
        self.C, self.H = self.C[rows], self.H[rows]
        self.Y = self.Y[rows] if self.momentum else self.H

    def restart(self, H):
        self.H = H
        self.Y = H.clone() if self.momentum else H
        self.t = 1.0


class _CoordinateDescent:
    """Cyclic coordinate descent, one coordinate at a time for all samples.

    Keeps the residual correlations ``R = C - H G`` up to date with rank-one
    updates restricted to the samples whose coordinate changed.
    """

    def __init__(self, C, G, H, alpha, positive):
        self.C, self.G, self.alpha, self.positive = C, G, alpha, positive
        self.diag = torch.diagonal(G).clone()
        self.inv_diag = torch.where(self.diag > 0, 1 / self.diag, torch.zeros_like(self.diag))
        self.H = H.clone()
        self.R = C - H @ G

    def run(self, n_iter):
        H, R, G = self.H, self.R, self.G
        for _ in range(n_iter):
            for j in range(H.shape[1]):
                if self.inv_diag[j] == 0:
                    continue
                old = H[:, j]
                new = _shrink(
                    old + R[:, j] * self.inv_diag[j], self.alpha * self.inv_diag[j], self.positive
                )
                delta = new - old
                rows = torch.nonzero(delta).squeeze(1)
                if rows.numel() == 0:
                    continue
                H[rows, j] = new[rows]
                R[rows] -= delta[rows, None] * G[j]

    def keep(self, rows):
        self.C, self.H, self.R = self.C[rows], self.H[rows], self.R[rows]

    def restart(self, H):
        self.H = H.clone()
        self.R = self.C - H @ self.G


def lasso_gram(
    C,
    G,
    x_sqnorm,
    alpha,
    *,
    solver="lars",
    positive=False,
    max_iter=1000,
    tol=1e-6,
    init=None,
    check_every=10,
    lipschitz=None,
):
    """Solve the lasso for every row of ``C = X D^T`` given ``G = D D^T``.

    Parameters
    ----------
    C : tensor (n_samples, n_components)
    G : tensor (n_components, n_components)
    x_sqnorm : tensor (n_samples,), the squared norms ``||x||^2``.
    alpha : float
    solver : {"lars", "fista", "ista", "cd"}
        "lars": the batched homotopy of `lars_path_gram`, FISTA for the rows it
        could not finish; the others iterate from ``init``.
    positive : bool
    max_iter : int, iterations (sweeps for "cd") of the iterative phase.
    tol : float, stop a sample once ``gap <= tol * P(h)``.
    init : tensor (n_samples, n_components) or None, warm start.
    check_every : int, iterations between gap checks and support solves.
    lipschitz : float or None, largest eigenvalue of ``G`` (computed if None).

    Returns
    -------
    H : tensor (n_samples, n_components)
    n_iter : int, the largest number of iterations any sample needed.
    primal : tensor (n_samples,), final objectives ``P(h)``.
    gap : tensor (n_samples,), final duality gaps.
    """
    n, k = C.shape
    dtype = C.dtype
    tol = max(tol, 100 * torch.finfo(dtype).eps)
    H_out = torch.zeros_like(C) if init is None else init.clone()
    gaps = torch.zeros(n, dtype=dtype, device=C.device)
    primals = 0.5 * x_sqnorm.clone()
    if n == 0 or k == 0:
        return H_out, 0, primals, gaps
    if positive:
        H_out.clamp_(min=0)
    active = torch.arange(n, device=C.device)
    x_sq = x_sqnorm

    if solver == "lars":
        # exact homotopy first; FISTA finishes the samples it could not
        if C.device.type == "cpu":
            H_np, _, _ = lars_path_gram_cpu(
                C.detach().numpy(), G.detach().numpy(), alpha, positive=positive
            )
            H_out = torch.from_numpy(H_np).to(dtype)
        else:
            H_out, _, _ = lars_path_gram(C, G, alpha, positive=positive)
    if solver == "cd":
        state = _CoordinateDescent(C, G, H_out, alpha, positive)
    else:
        state = _Ista(C, G, H_out, alpha, positive, lipschitz, momentum=solver != "ista")

    n_iter = 0
    while True:
        H = state.H
        primal, gap = duality_gap(state.C, G, H, x_sq, alpha, positive)
        done = gap <= tol * primal
        todo = torch.nonzero(~done).squeeze(1)
        if todo.numel():
            # the exact solution on the current support, where it is one
            cand, ok, cand_HG = _support_solve(state.C[todo], G, H[todo], alpha, positive)
            if bool(ok.any()):
                c_primal, c_gap = duality_gap(
                    state.C[todo], G, cand, x_sq[todo], alpha, positive, HG=cand_HG
                )
                ok &= c_gap <= tol * c_primal
                todo, cand = todo[ok], cand[ok]
                H = H.clone() if H is state.H else H
                H[todo], gap[todo], primal[todo] = cand, c_gap[ok], c_primal[ok]
                done[todo] = True
        last = bool(done.all()) or n_iter >= max_iter
        leaving = torch.ones_like(done) if last else done
        if bool(leaving.any()):
            rows = active[leaving]
            H_out[rows] = H[leaving]
            gaps[rows] = gap[leaving]
            primals[rows] = primal[leaving]
        if last:
            break
        keep = torch.nonzero(~done).squeeze(1)
        active, x_sq = active[keep], x_sq[keep]
        state.keep(keep)
        steps = min(check_every, max_iter - n_iter)
        state.run(steps)
        n_iter += steps
    return H_out, n_iter, primals, gaps
