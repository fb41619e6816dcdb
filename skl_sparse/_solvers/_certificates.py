"""Certificates of lasso codes in Gram form: objectives and duality gaps (`duality_gap`),
exact solves on a support (`_support_solve`: the candidate ``h_S = G_SS^{-1} (c_S - alpha
s)``, accepted where it satisfies the KKT conditions), primal-dual active-set proposals,
and the convergence check that combines them on the rows still running
(`convergence_check`), with the sorting of those rows into support-size buckets
(`sort_key`, `bucket_slices`). No validation: callers validate.

The gap is computed in float64 whatever the input dtype: in float32 ``||x||^2 - 2 c.h +
hGh`` cancels catastrophically.
"""

import torch

__all__ = ["GAP_TOL_FLOOR", "MERGE_UP_TO", "bucket_slices", "convergence_check",
           "duality_gap", "lasso_objective", "padded_gram", "sort_key", "step_support"]

# the duality gap is float64 whatever the input dtype: the tolerance floor is float64's
GAP_TOL_FLOOR = 100 * torch.finfo(torch.float64).eps
# elements of the padded sub-Gram matrices built at once by one support solve
_SUPPORT_CHUNK = 1 << 25
# supports padded to at most this size share one solve (small Cholesky factors cost
# less than the few dozen kernel launches of one more solve)
MERGE_UP_TO = 16


def lasso_objective(X, D, H, alpha):
    """Per-sample objective ``1/2 ||x - h D||^2 + alpha ||h||_1``."""
    R = X - H @ D
    return 0.5 * (R * R).sum(dim=1) + alpha * H.abs().sum(dim=1)


def duality_gap(C, G, H, x_sqnorm, alpha, positive=False, HG=None, grad=None):
    """Per-sample primal value and duality gap, computed in Gram form.

    With the residual ``r = x - h D`` and its correlations ``D r = c - G h``,
    the dual point ``theta = r min(1, alpha / ||D r||_inf)`` is feasible and
    ``gap = P(h) - (theta . x - 1/2 ||theta||^2) >= 0`` bounds the distance of
    ``P(h)`` to the optimum.

    ``HG = H @ G`` and ``grad = C - HG`` may be given where the caller has them.

    Returns
    -------
    primal, gap : tensors of shape (n_samples,)
    """
    if HG is None:
        HG = H @ G
    if grad is None:
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


def padded_gram(G, m):
    """``[[G, 0], [0, I_m]]``: padded support slots index the identity block (decoupled
    from the support), so the padded sub-Gram matrices of up to ``m`` slots are one
    gather. Built once per `lasso_gram` call."""
    k = G.shape[0]
    G_pad = torch.zeros(k + m, k + m, dtype=G.dtype, device=G.device)
    G_pad[:k, :k] = G
    G_pad[k:, k:].diagonal().fill_(1.0)
    return G_pad


def _support_solve(C, G, idx, signs, alpha, positive, G_pad=None):
    """The lasso solution on the supports ``idx`` (padded: ``signs`` 0) with signs ``signs``,
    and whether it is one: the candidate ``h_S = G_SS^{-1} (c_S - alpha s)``, a boolean mask
    of the rows where it keeps its signs and no atom off the support violates
    ``|c_j - G_j h| <= alpha`` (the KKT conditions), and ``candidate @ G``. ``G_pad``:
    `padded_gram` of at least ``idx.shape[1]`` slots (built here if None)."""
    k, m = G.shape[0], idx.shape[1]
    mask = signs != 0
    if G_pad is None:
        G_pad = padded_gram(G, m)
    idx_pad = torch.where(mask, idx, torch.arange(k, k + m, device=idx.device))
    G_SS = G_pad[idx_pad[:, :, None], idx_pad[:, None, :]]
    rhs = C.gather(1, idx) - alpha * signs
    L, info = torch.linalg.cholesky_ex(G_SS)
    # a singular sub-Gram (atoms linearly dependent on the support) is left to the
    # iterations: its factor's garbage is zeroed after the solves
    ok = info == 0
    # two triangular solves (cuBLAS) rather than cholesky_solve (MAGMA on CUDA, whose
    # host-side copies and waits cost more than the solves)
    h_S = torch.linalg.solve_triangular(L, rhs.unsqueeze(-1), upper=False)
    h_S = torch.linalg.solve_triangular(L.mT, h_S, upper=True).squeeze(-1)
    h_S = torch.where(mask & ok[:, None], h_S, 0.0)
    ok &= ((h_S * signs > 0) | ~mask).all(dim=1)
    cand = torch.zeros_like(C).scatter_(1, idx, h_S)
    cand_HG = cand @ G
    grad = C - cand_HG
    viol = grad if positive else grad.abs()
    ok &= ((viol <= alpha * (1 + 1e-7) + 1e-12) | (cand != 0)).all(dim=1)
    return cand, ok, cand_HG, grad


def _active_set(Z, m, threshold, positive):
    """The ``m`` largest entries of ``|Z|`` (of ``Z`` if positive) above ``threshold``:
    their indices and signs (0 for the padding slots).

    The selection ranks float32 magnitudes (a GPU's top-k over float64 takes twice the
    radix passes); which entries pass the threshold is decided in ``Z``'s dtype."""
    key = Z if positive else Z.abs()
    if key.dtype == torch.float64:
        key = key.to(torch.float32)
    idx = torch.topk(key, m, dim=1).indices
    vals = Z.gather(1, idx)
    signs = torch.sign(vals) * ((vals if positive else vals.abs()) > threshold)
    return idx, signs


def _support_candidates(C, G, S, alpha, positive, m, g_diag, propose=False, G_pad=None):
    """Exact lasso solution on each sample's support, where it is one.

    The support is that of ``S`` (the iterate, or an active-set proposal), padded to
    ``m`` slots (a row with more non-zeros is tried on its ``m`` largest: a lasso
    solution has at most ``n_features`` atoms in general position). Float64 in,
    float64 out; no host synchronisation.

    With ``propose``, also the support a primal-dual active-set step
    (Hintermueller, Ito & Kunisch 2002; for the lasso Fan, Jiao & Lu 2014) would try
    next: where the coordinate-wise update ``z = h + (c - G h) / diag(G)`` exceeds
    ``alpha / diag(G)`` (that is, ``|diag(G) h + c - G h| > alpha``), with the signs of
    ``z``; it fixes at once the atoms that entered or left, which gradient iterations
    approach only slowly.

    Returns the candidate codes, a boolean mask of the rows whose candidate satisfies
    the KKT conditions, ``candidate @ G``, its ``C - candidate @ G`` and the proposal (the
    ``m`` largest entries of ``z`` above the threshold, 0 elsewhere; None without
    ``propose``).
    """
    idx, signs = _active_set(S, m, 0, positive)
    cand, ok, cand_HG, grad = _support_solve(C, G, idx, signs, alpha, positive, G_pad)
    # at most m atoms again: the next solve costs no more than this one
    proposal = step_support(cand, grad, g_diag, alpha, positive, m) if propose else None
    return cand, ok, cand_HG, grad, proposal


def step_support(H, grad, g_diag, alpha, positive, m=None):
    """The support (and signs) of one primal-dual active-set step from ``H``, whose
    ``D r`` is ``grad``: ``z = diag(G) h + grad`` where ``|z| > alpha`` (``z > alpha``
    if positive), 0 elsewhere; with ``m``, only its ``m`` largest entries. At a lasso
    solution it is the solution's support; from an iterate it drops the tiny
    coefficients whose gradient lies inside the dual ball and adds the atoms whose
    gradient lies outside it."""
    z = torch.addcmul(grad, H, g_diag)
    if m is None:
        return torch.where((z if positive else z.abs()) > alpha, z, 0.0)
    idx, signs = _active_set(z, m, alpha, positive)
    return torch.zeros_like(z).scatter_(1, idx, z.gather(1, idx) * signs.abs())


def _support_chunk(device):
    """Elements of one padded sub-Gram chunk: ``_SUPPORT_CHUNK`` on the CPU; on a GPU (where
    each chunk costs a few dozen launches) up to 4x more, an eighth of its memory over the
    four float64 matrices of a solve."""
    if device.type != "cuda":
        return _SUPPORT_CHUNK
    total = torch.cuda.get_device_properties(device).total_memory
    return min(max(total // 8 // 4 // 8, _SUPPORT_CHUNK), 4 * _SUPPORT_CHUNK)


def _n_buckets(k):
    return max(k - 1, 0).bit_length() + 1


def sort_key(H, prev_signs, done, try_up_to, support=None):
    """Sort key of the working rows: first those a support solve will try, by support-size
    bucket ``b`` (``2^(b-1) < nnz <= 2^b``, the non-zeros of ``support``, by default
    ``H``), then those it will not (supports above ``try_up_to`` atoms whose signs moved
    since the last check), the converged rows last.

    Returns the key, the signs of ``H`` (int8) and the number of distinct keys.
    """
    nb = _n_buckets(H.shape[1])
    nnz = ((H if support is None else support) != 0).sum(dim=1)
    bucket = torch.ceil(torch.log2(nnz.clamp(min=1).to(torch.float64))).to(torch.int64)
    signs = torch.sign(H).to(torch.int8)
    key = bucket
    if prev_signs is not None:
        moved = (signs != prev_signs).any(dim=1) & (nnz > try_up_to)
        key = bucket + nb * moved
    return torch.where(done, 2 * nb, key), signs, 2 * nb + 1


def bucket_slices(counts, max_pad):
    """``(start, stop, padding)`` of the rows of each support-size bucket to try, padded to
    at most ``max_pad``; the small buckets share one slice padded to the largest of them.
    ``counts``: the rows of each key of `sort_key`."""
    out, start = [], 0
    for b, c in enumerate(counts[: len(counts) // 2]):
        m = min(1 << b, max_pad)
        if not c:
            continue
        if out and m <= MERGE_UP_TO and out[-1][2] <= MERGE_UP_TO and out[-1][1] == start:
            out[-1] = (out[-1][0], start + c, m)
        else:
            out.append((start, start + c, m))
        start += c
    return out


def convergence_check(C, G, x_sq, H, alpha, positive, tol, slices, support=None,
                      iterate_gap=None, propose=False, G_pad=None):
    """Gaps of ``H`` and exact support solves on each bucket's slice (device only).

    The solves take the supports of ``support`` with ``iterate_gap`` (the objectives
    and gaps of ``H``, none of its rows converged: a round of active-set steps), or
    else those of one active-set step from ``H`` (`step_support`). With ``propose``,
    each row's next active-set support (`_support_candidates`; this one for rows not
    tried).

    Returns the best codes (the exact candidate where the gap confirms it), their
    objectives and gaps, the mask of the converged rows, the proposal (or None) and the
    supports solved on.
    """
    g_diag = G.diagonal()
    if iterate_gap is not None:
        primal, gap = (t.clone() for t in iterate_gap)
        done = torch.zeros_like(gap, dtype=torch.bool)
        S = support
    else:
        HG = H @ G
        grad = C - HG  # D r
        primal, gap = duality_gap(C, G, H, x_sq, alpha, positive, HG=HG, grad=grad)
        done = gap <= tol * primal
        if alpha == 0:
            # least squares: the dual point theta = r min(1, alpha / ||D r||_inf) is 0 and
            # the gap is the objective itself, so the relative gap test can never hold;
            # test the stationarity ||D r||_inf <= tol ||D x||_inf instead
            stationary = grad.abs().amax(dim=1) <= tol * C.abs().amax(dim=1)
            gap = torch.where(stationary, 0.0, gap)  # reported as converged
            done |= stationary
        # an iterate is solved on the support of one active-set step from it
        S = step_support(H, grad, g_diag, alpha, positive) if slices else H
    best = H.clone()
    proposal = S.clone() if propose else None
    chunk = _support_chunk(C.device)
    for start, stop, m in slices:
        step = max(1, chunk // (m * m))
        for s in range(start, stop, step):
            e = min(s + step, stop)
            cand, ok, cand_HG, c_grad, prop = _support_candidates(
                C[s:e], G, S[s:e], alpha, positive, m, g_diag, propose, G_pad)
            c_primal, c_gap = duality_gap(C[s:e], G, cand, x_sq[s:e], alpha, positive,
                                          HG=cand_HG, grad=c_grad)
            take = ok & (c_gap <= tol * c_primal) & ~done[s:e]
            best[s:e] = torch.where(take[:, None], cand, best[s:e])
            primal[s:e] = torch.where(take, c_primal, primal[s:e])
            gap[s:e] = torch.where(take, c_gap, gap[s:e])
            done[s:e] |= take
            if propose:
                proposal[s:e] = prop
    return best, primal, gap, done, proposal, S
