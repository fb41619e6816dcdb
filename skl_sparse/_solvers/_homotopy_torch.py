"""The LARS-lasso homotopy batched in torch, on any device (no validation: callers
validate); the engine where no compiled one runs (`skl_sparse._solvers._homotopy`).

All samples advance one event per step in lock-step, vectorised; ``G_SS^{-1}`` is kept
per sample in a padded buffer and updated by rank-one formulas in O(|S|^2) when an atom
joins or leaves, so no factorisation is recomputed. The result is exact up to rounding;
a sample it could not finish (degenerate ties, linearly dependent atoms) is reported
unfinished.
"""

import torch

from ._certificates import duality_gap
from ._homotopy import HomotopyResult

__all__ = ["homotopy_torch"]


def _grow(t, cap, value):
    """Pad the slot dimensions of ``t`` (dims >= 1) to ``cap`` with ``value``."""
    pad = []
    for d in reversed(range(1, t.dim())):
        pad += [0, cap - t.shape[d]]
    return torch.nn.functional.pad(t, pad, value=value)


class _Homotopy:
    """Per-sample state of the homotopy on the rows of one chunk still running.

    Slots hold the active atoms of each row (``slot_atom``; ``k`` marks a free
    slot), their signs ``theta``, the inverse ``Minv`` of the active Gram matrix
    and the direction ``d_slot = Minv theta``; ``H`` has a sink column ``k`` for
    free slots. `step` advances every row by one event.
    """

    def __init__(self, C, G, alpha, positive, todo, lam, j0):
        k = C.shape[1]
        dtype, device = C.dtype, C.device
        self.k, self.alpha, self.positive = k, alpha, positive
        self.tiny = torch.finfo(dtype).eps * 10
        self.cap = 8
        m = todo.numel()
        self.rows, self.lam = todo, lam
        self.H = torch.zeros((m, k + 1), dtype=dtype, device=device)
        self.g = C[todo].clone()
        self.slot_atom = torch.full((m, self.cap), k, dtype=torch.long, device=device)
        self.slot_atom[:, 0] = j0
        self.theta = torch.zeros((m, self.cap), dtype=dtype, device=device)
        self.theta[:, 0] = torch.sign(self.g.gather(1, j0[:, None]).squeeze(1))
        diagG = torch.diagonal(G).clone()
        self.Minv = torch.zeros((m, self.cap, self.cap), dtype=dtype, device=device)
        self.Minv[:, 0, 0] = 1.0 / diagG[j0].clamp(min=self.tiny)
        self.active = torch.zeros((m, k + 1), dtype=torch.bool, device=device)
        self.active[torch.arange(m, device=device), j0] = True
        self.G = G
        self.Gpad = torch.zeros((k + 1, k + 1), dtype=dtype, device=device)
        self.Gpad[:k, :k] = G
        self.diagG_pad = torch.zeros(k + 1, dtype=dtype, device=device)
        self.diagG_pad[:k] = diagG
        self.d_slot = None

    def step(self, n_step):
        """One event for every row; returns ``(ended, failed)`` masks of the rows."""
        if n_step % 16 == 1:
            # d_S = G_SS^{-1} s_S, kept up to date by the rank-one formulas of
            # `_drop`/`_join` and recomputed now and then against rounding drift
            self.d_slot = torch.bmm(self.Minv, self.theta.unsqueeze(-1)).squeeze(-1)
        k = self.k
        d = torch.zeros_like(self.H).scatter_(1, self.slot_atom, self.d_slot)
        d[:, k] = 0
        a = d[:, :k] @ self.G
        gamma_end = self.lam - self.alpha
        gam_join, j_join = self._join_event(a)
        gam_drop, s_drop = self._drop_event()
        gamma = torch.minimum(torch.minimum(gamma_end, gam_join), gam_drop)
        self.H += gamma[:, None] * d
        self.g -= gamma[:, None] * a
        self.lam = self.lam - gamma
        is_end = gamma >= gamma_end
        is_drop = ~is_end & (gam_drop <= gam_join)
        is_join = ~is_end & ~is_drop
        if bool(is_drop.any()):
            self._drop(is_drop, s_drop)
        failed = torch.zeros_like(is_end)
        if bool(is_join.any()):
            failed = self._join(is_join, j_join)
        return is_end, failed

    def _join_event(self, a):
        """Step length until an inactive atom's correlation reaches lambda, and the atom."""
        lam, g, tiny = self.lam[:, None], self.g, self.tiny
        inactive = ~self.active[:, : self.k]
        big = torch.full_like(g, float("inf"))
        gam, j = big.min(dim=1)
        for sign in (1.0,) if self.positive else (1.0, -1.0):
            den = 1 - sign * a
            cand = torch.where(inactive & (den > tiny), (lam - sign * g) / den, big)
            cand = torch.where(cand > tiny * lam, cand, big)
            gam_s, j_s = cand.min(dim=1)
            take = gam_s < gam
            gam, j = torch.where(take, gam_s, gam), torch.where(take, j_s, j)
        return gam, j

    def _drop_event(self):
        """Step length until an active coefficient crosses zero, and its slot."""
        h_slot = self.H.gather(1, self.slot_atom)
        inf = torch.full_like(h_slot, float("inf"))
        crossing = (self.slot_atom < self.k) & (h_slot * self.d_slot < 0)
        gd = torch.where(crossing, -h_slot / self.d_slot, inf)
        return torch.where(gd > 0, gd, inf).min(dim=1)

    def _drop(self, is_drop, s_drop):
        """Schur downdate of the inverse, in place on all rows (weight 0 where no atom
        leaves): ``M <- M - M[:, s] M[s, :] / M[s, s]``; the slot is freed."""
        Minv, d_slot = self.Minv, self.d_slot
        ar = torch.arange(Minv.shape[0], device=Minv.device)
        s = torch.where(is_drop, s_drop, torch.zeros_like(s_drop))
        col = Minv[ar, :, s]
        piv = col.gather(1, s[:, None]).squeeze(1)
        w = torch.where(is_drop, -1.0 / piv, torch.zeros_like(piv))
        Minv.baddbmm_((col * w[:, None]).unsqueeze(-1), col.unsqueeze(1))
        d_slot += col * (w * d_slot.gather(1, s[:, None]).squeeze(1))[:, None]
        r, s = torch.nonzero(is_drop).squeeze(1), s_drop[is_drop]
        atom = self.slot_atom[r, s]
        self.H[r, atom] = 0
        self.active[r, atom] = False
        Minv[r, s, :] = 0
        Minv[r, :, s] = 0
        d_slot[r, s] = 0
        self.slot_atom[r, s] = self.k
        self.theta[r, s] = 0

    def _grow_slots(self):
        self.cap *= 2
        self.slot_atom = _grow(self.slot_atom, self.cap, self.k)
        self.theta = _grow(self.theta, self.cap, 0.0)
        self.Minv = _grow(self.Minv, self.cap, 0.0)
        self.d_slot = _grow(self.d_slot, self.cap, 0.0)

    def _join(self, is_join, j_join):
        """Block update of the inverse for the joining atoms; the rows whose new atom is
        (numerically) dependent on the active ones fail."""
        k, tiny = self.k, self.tiny
        free = self.slot_atom == k
        if not bool(free[is_join].any(dim=1).all()):
            self._grow_slots()
            free = self.slot_atom == k
        Minv, theta = self.Minv, self.theta
        ar = torch.arange(Minv.shape[0], device=Minv.device)
        s = torch.argmax(free.to(torch.int8), dim=1)
        j = torch.where(is_join, j_join, torch.full_like(j_join, k))
        b = self.Gpad[j[:, None], self.slot_atom]  # (m, cap); 0 on free slots and idle rows
        u = torch.bmm(Minv, b.unsqueeze(-1)).squeeze(-1)
        schur = self.diagG_pad[j] - (b * u).sum(dim=1)
        ok = schur > 1e-9 * self.diagG_pad[j].clamp(min=tiny)
        failed = is_join & ~ok
        join = is_join & ok
        inv_schur = torch.where(join, 1.0 / torch.where(ok, schur, 1.0), 0.0)
        # block inverse update: M <- M + u u^T / schur, new row/col -u/schur
        Minv.baddbmm_((u * inv_schur[:, None]).unsqueeze(-1), u.unsqueeze(1))
        if self.positive:
            new_sign = torch.ones_like(inv_schur)
        else:
            new_sign = torch.sign(self.g[ar, j.clamp(max=k - 1)])
        # d <- d + ((u.theta - theta_s) / schur) (u - e_s)
        coef = ((u * theta).sum(dim=1) - new_sign) * inv_schur
        self.d_slot += coef[:, None] * u
        self.d_slot[ar, s] -= coef
        r = torch.nonzero(join).squeeze(1)
        s, j, u, inv_schur = s[r], j[r], u[r], inv_schur[r]
        Minv[r, s, :] = -u * inv_schur[:, None]
        Minv[r, :, s] = -u * inv_schur[:, None]
        Minv[r, s, s] = inv_schur
        self.slot_atom[r, s] = j
        theta[r, s] = new_sign[r]
        self.active[r, j] = True
        return failed

    def retire(self, leave, failed, H_out, finished):
        """Write out the rows that ended or failed. Compacts lazily: copying the padded
        inverses every step would cost more than carrying a few finished rows (they
        are frozen by ``alpha == lam``)."""
        m = self.rows.numel()
        n_leave = int(leave.sum())
        if n_leave and (n_leave * 8 >= m or n_leave == m):
            H_out[self.rows[leave]] = self.H[leave, : self.k]
            finished[self.rows[failed]] = False
            keep = ~leave
            for name in ("rows", "lam", "H", "g", "slot_atom", "theta", "Minv", "d_slot",
                         "active"):
                setattr(self, name, getattr(self, name)[keep])
        elif n_leave:
            frozen = torch.nonzero(leave).squeeze(1)
            H_out[self.rows[frozen]] = self.H[frozen, : self.k]
            finished[self.rows[frozen]] = ~failed[frozen]
            # parked until the next compaction: no direction, end event at 0
            self.lam[frozen] = self.alpha
            self.theta[frozen] = 0
            self.d_slot[frozen] = 0


def _lars_chunk(C, G, alpha, positive, max_steps):
    """The homotopy on one chunk of rows (see `homotopy_torch`).

    Returns
    -------
    H : tensor (n_samples, n_components)
    finished : bool tensor (n_samples,), False where the homotopy gave up.
    n_steps : int
    """
    H_out = torch.zeros_like(C)
    finished = torch.ones(C.shape[0], dtype=torch.bool, device=C.device)
    lam, j0 = (C if positive else C.abs()).max(dim=1)
    todo = torch.nonzero(lam > alpha).squeeze(1)
    if todo.numel() == 0:
        return H_out, finished, 0
    state = _Homotopy(C, G, alpha, positive, todo, lam[todo], j0[todo])
    step = 0
    while state.rows.numel() and step < max_steps:
        step += 1
        ended, failed = state.step(step)
        state.retire(ended | failed, failed, H_out, finished)
    if state.rows.numel():
        H_out[state.rows] = state.H[:, : state.k]
        finished[state.rows] = False
    return H_out, finished, step


def homotopy_torch(C, G, alpha, *, positive=False, x_sq, max_steps=None, chunk_size=1024):
    """Lasso codes by homotopy for every row of ``C = X D^T``: a `HomotopyResult`.

    Rows are processed in chunks of similar expected support size (the number
    of correlations above ``alpha``), so that the padded per-sample inverses of
    a chunk stay close to the supports actually needed. ``n_steps`` is the most
    lock-step events any chunk took; the objectives and gaps are `duality_gap`'s.
    """
    n, k = C.shape
    max_steps = 4 * k if max_steps is None else max_steps
    corr = C if positive else C.abs()
    order = torch.argsort((corr > alpha).sum(dim=1), stable=True)
    H = torch.empty_like(C)
    finished = torch.empty(n, dtype=torch.bool, device=C.device)
    steps = 0
    for start in range(0, n, chunk_size):
        idx = order[start : start + chunk_size]
        H[idx], finished[idx], s = _lars_chunk(C[idx], G, alpha, positive, max_steps)
        steps = max(steps, s)
    primal, gap = duality_gap(C, G, H, x_sq, alpha, positive)
    return HomotopyResult(H, finished, torch.tensor(steps, device=C.device), primal, gap)
