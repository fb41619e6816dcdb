"""Batched LARS-lasso homotopy in Gram form (no validation: callers validate).

For each sample the regularisation path is followed from
``lambda = max_j |c_j|`` (where ``h = 0``) down to ``alpha``: on the active set
``S`` with signs ``s``, ``h_S(lambda) = G_SS^{-1} (c_S - lambda s)`` is linear
in ``lambda`` until an inactive atom reaches ``|c_j - G_j h| = lambda`` (it
joins) or an active coefficient crosses zero (it leaves: the lasso
modification of LARS, Efron et al. 2004). All samples advance one event per
step in lock-step, vectorised; ``G_SS^{-1}`` is kept per sample in a padded
buffer and updated by rank-one formulas in O(|S|^2) when an atom joins or
leaves, so no factorisation is recomputed. The number of steps is the number of
events, about the support size: independent of the conditioning of ``G``,
which is what makes iterative solvers slow on coherent dictionaries.

The result is exact up to rounding; `lasso_gram` polishes it on its support
and verifies it with the duality gap, and any sample that the homotopy could
not finish (degenerate ties, linearly dependent atoms) is left to the
iterative solver.
"""

import torch

__all__ = ["lars_path_gram"]


def _grow(t, cap, value):
    """Pad the slot dimensions of ``t`` (dims >= 1) to ``cap`` with ``value``."""
    pad = []
    for d in reversed(range(1, t.dim())):
        pad += [0, cap - t.shape[d]]
    return torch.nn.functional.pad(t, pad, value=value)


def _lars_chunk(C, G, alpha, positive, max_steps):
    """The homotopy on one chunk of rows (see `lars_path_gram`).

    Returns
    -------
    H : tensor (n_samples, n_components)
    finished : bool tensor (n_samples,), False where the homotopy gave up.
    n_steps : int
    """
    n, k = C.shape
    dtype, device = C.dtype, C.device
    H_out = torch.zeros_like(C)
    finished = torch.ones(n, dtype=torch.bool, device=device)
    corr = C if positive else C.abs()
    lam, j0 = corr.max(dim=1)
    todo = torch.nonzero(lam > alpha).squeeze(1)
    if todo.numel() == 0:
        return H_out, finished, 0
    diagG = torch.diagonal(G).clone()
    tiny = torch.finfo(dtype).eps * 10

    # per-sample state, restricted to the samples still running
    rows = todo
    cap = 8
    lam = lam[todo]
    j0 = j0[todo]
    m = rows.numel()
    H = torch.zeros((m, k + 1), dtype=dtype, device=device)  # column k: sink for free slots
    g = C[todo].clone()
    slot_atom = torch.full((m, cap), k, dtype=torch.long, device=device)
    slot_atom[:, 0] = j0
    theta = torch.zeros((m, cap), dtype=dtype, device=device)
    theta[:, 0] = torch.sign(g.gather(1, j0[:, None]).squeeze(1))
    Minv = torch.zeros((m, cap, cap), dtype=dtype, device=device)
    Minv[:, 0, 0] = 1.0 / diagG[j0].clamp(min=tiny)
    active = torch.zeros((m, k + 1), dtype=torch.bool, device=device)
    active[torch.arange(m, device=device), j0] = True
    Gpad = torch.zeros((k + 1, k + 1), dtype=dtype, device=device)
    Gpad[:k, :k] = G
    diagG_pad = torch.zeros(k + 1, dtype=dtype, device=device)
    diagG_pad[:k] = diagG

    step = 0
    while rows.numel() and step < max_steps:
        step += 1
        m = rows.numel()
        ar = torch.arange(m, device=device)
        if step % 16 == 1:
            # d_S = G_SS^{-1} s_S, kept up to date by the rank-one formulas
            # below and recomputed now and then against rounding drift
            d_slot = torch.bmm(Minv, theta.unsqueeze(-1)).squeeze(-1)
        d = torch.zeros((m, k + 1), dtype=dtype, device=device).scatter_(1, slot_atom, d_slot)
        d[:, k] = 0
        a = d[:, :k] @ G
        # events: end of path, an inactive atom joins, an active coefficient leaves
        gamma_end = lam - alpha
        inactive = ~active[:, :k]
        big = torch.full_like(g, float("inf"))
        den1 = 1 - a
        g1 = torch.where(inactive & (den1 > tiny), (lam[:, None] - g) / den1, big)
        g1 = torch.where(g1 > tiny * lam[:, None], g1, big)
        gam_join, j_join = g1.min(dim=1)
        if not positive:
            den2 = 1 + a
            g2 = torch.where(inactive & (den2 > tiny), (lam[:, None] + g) / den2, big)
            g2 = torch.where(g2 > tiny * lam[:, None], g2, big)
            gam2, j2 = g2.min(dim=1)
            take2 = gam2 < gam_join
            gam_join = torch.where(take2, gam2, gam_join)
            j_join = torch.where(take2, j2, j_join)
        h_slot = H.gather(1, slot_atom)
        inf = torch.full_like(h_slot, float("inf"))
        gd = torch.where((slot_atom < k) & (h_slot * d_slot < 0), -h_slot / d_slot, inf)
        gd = torch.where(gd > 0, gd, inf)
        gam_drop, s_drop = gd.min(dim=1)
        gamma = torch.minimum(torch.minimum(gamma_end, gam_join), gam_drop)
        H += gamma[:, None] * d
        g -= gamma[:, None] * a
        lam = lam - gamma
        is_end = gamma >= gamma_end
        is_drop = ~is_end & (gam_drop <= gam_join)
        is_join = ~is_end & ~is_drop

        if bool(is_drop.any()):
            # Schur downdate of the inverse, in place on all rows (weight 0
            # where no atom leaves): M <- M - M[:, s] M[s, :] / M[s, s]
            s = torch.where(is_drop, s_drop, torch.zeros_like(s_drop))
            col = Minv[ar, :, s]
            piv = col.gather(1, s[:, None]).squeeze(1)
            w = torch.where(is_drop, -1.0 / piv, torch.zeros_like(piv))
            Minv.baddbmm_((col * w[:, None]).unsqueeze(-1), col.unsqueeze(1))
            d_slot += col * (w * d_slot.gather(1, s[:, None]).squeeze(1))[:, None]
            r, s = torch.nonzero(is_drop).squeeze(1), s_drop[is_drop]
            atom = slot_atom[r, s]
            H[r, atom] = 0
            active[r, atom] = False
            Minv[r, s, :] = 0
            Minv[r, :, s] = 0
            d_slot[r, s] = 0
            slot_atom[r, s] = k
            theta[r, s] = 0

        failed = torch.zeros(m, dtype=torch.bool, device=device)
        if bool(is_join.any()):
            free = slot_atom == k
            if not bool(free[is_join].any(dim=1).all()):
                cap *= 2
                slot_atom = _grow(slot_atom, cap, k)
                theta = _grow(theta, cap, 0.0)
                Minv = _grow(Minv, cap, 0.0)
                d_slot = _grow(d_slot, cap, 0.0)
                free = slot_atom == k
            s = torch.argmax(free.to(torch.int8), dim=1)
            j = torch.where(is_join, j_join, torch.full_like(j_join, k))
            b = Gpad[j[:, None], slot_atom]  # (m, cap); 0 on free slots and idle rows
            u = torch.bmm(Minv, b.unsqueeze(-1)).squeeze(-1)
            schur = diagG_pad[j] - (b * u).sum(dim=1)
            ok = schur > 1e-9 * diagG_pad[j].clamp(min=tiny)
            failed = is_join & ~ok
            join = is_join & ok
            inv_schur = torch.where(join, 1.0 / torch.where(ok, schur, 1.0), 0.0)
            # block inverse update: M <- M + u u^T / schur, new row/col -u/schur
            Minv.baddbmm_((u * inv_schur[:, None]).unsqueeze(-1), u.unsqueeze(1))
            if positive:
                new_sign = torch.ones_like(inv_schur)
            else:
                new_sign = torch.sign(g[ar, j.clamp(max=k - 1)])
            # d <- d + ((u.theta - theta_s) / schur) (u - e_s)
            coef = ((u * theta).sum(dim=1) - new_sign) * inv_schur
            d_slot += coef[:, None] * u
            d_slot[ar, s] -= coef
            r = torch.nonzero(join).squeeze(1)
            s, j, u, inv_schur = s[r], j[r], u[r], inv_schur[r]
            Minv[r, s, :] = -u * inv_schur[:, None]
            Minv[r, :, s] = -u * inv_schur[:, None]
            Minv[r, s, s] = inv_schur
            slot_atom[r, s] = j
            theta[r, s] = new_sign[r]
            active[r, j] = True

        leave = is_end | failed
        # compact lazily: copying the padded inverses every step would cost more
        # than carrying a few finished rows (they are frozen by alpha == lam)
        n_leave = int(leave.sum())
        if n_leave and (n_leave * 8 >= m or n_leave == m):
            out = rows[leave]
            H_out[out] = H[leave, :k]
            finished[rows[failed]] = False
            keep = ~leave
            rows, lam, H, g = rows[keep], lam[keep], H[keep], g[keep]
            slot_atom, theta, Minv = slot_atom[keep], theta[keep], Minv[keep]
            d_slot = d_slot[keep]
            active = active[keep]
        elif n_leave:
            frozen = torch.nonzero(leave).squeeze(1)
            H_out[rows[frozen]] = H[frozen, :k]
            finished[rows[frozen]] = ~failed[frozen]
            _freeze(frozen, lam, theta, d_slot, alpha)
    if rows.numel():
        H_out[rows] = H[:, :k]
        finished[rows] = False
    return H_out, finished, step


def _freeze(rows, lam, theta, d_slot, alpha):
    """Park finished rows until the next compaction: no direction, end event at 0."""
    lam[rows] = alpha
    theta[rows] = 0
    d_slot[rows] = 0


def lars_path_gram(C, G, alpha, *, positive=False, max_steps=None, chunk_size=1024):
    """Lasso codes by homotopy for every row of ``C = X D^T``.

    Rows are processed in chunks of similar expected support size (the number
    of correlations above ``alpha``), so that the padded per-sample inverses of
    a chunk stay close to the supports actually needed.

    Returns
    -------
    H : tensor (n_samples, n_components)
    finished : bool tensor (n_samples,), False where the homotopy gave up.
    n_steps : int, the most steps any chunk took.
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
    return H, finished, steps
