"""Dictionary updates on torch tensors (no validation: callers validate).

Atoms are the rows of ``D`` (``n_components x n_features``) and have unit
norm (and, with ``positive``, no negative entry: each update projects on the
non-negative orthant before normalising). With codes ``H`` for data ``X``, the
sufficient statistics are ``A = H^T H`` (``n_components x n_components``) and
``B = H^T X`` (``n_components x n_features``); the smooth part of the objective
is ``1/2 tr(D^T A D) - tr(D^T B)`` up to a constant. K-SVD (`update_dict_ksvd_`)
updates the codes with the atoms, from ``X`` and ``H`` themselves.
"""

import numpy as np
import torch

from .._solvers import gram_eigmax
from ._dictionary_cpu import bcd_sweeps_, ksvd_sweep_


def normalize_rows_(D, eps=1e-12):
    """Scale each row of ``D`` to unit norm in place; returns the rows that were ~0."""
    norms = torch.linalg.vector_norm(D, dim=1)
    small = norms <= eps
    D /= torch.clamp(norms, min=eps)[:, None]
    return small


def _fill(rng, shape, positive):
    """Gaussian draws (their absolute values if ``positive``)."""
    draw = rng.standard_normal(shape)
    return np.abs(draw) if positive else draw


def init_dictionary(X, n_components, rng, device=None, positive=False):
    """Unit-norm atoms drawn from the rows of ``X`` (gaussian ones when ``X`` is short;
    with ``positive``, the rows' positive parts).

    ``X`` is a tensor, or a numpy array whose drawn rows alone go to ``device``.
    ``rng`` is a ``numpy.random.RandomState``: the draw is the same on every device.
    """
    n, p = X.shape
    take = min(n, n_components)
    rows = rng.permutation(n)[:take]
    if isinstance(X, np.ndarray):
        picked = torch.as_tensor(np.ascontiguousarray(X[rows]), device=device)
    else:
        picked = X[torch.as_tensor(rows, device=X.device)]
    D = torch.empty((n_components, p), dtype=picked.dtype, device=picked.device)
    D[:take] = picked
    D[take:] = torch.as_tensor(_fill(rng, (n_components - take, p), positive), dtype=D.dtype)
    if positive:
        D.clamp_(min=0)
    small = normalize_rows_(D)
    if bool(small.any()):
        fill = _fill(rng, (int(small.sum()), p), positive)
        D[small] = torch.as_tensor(fill, dtype=D.dtype, device=D.device)
        normalize_rows_(D)
    return D


def project_atoms_(D, positive):
    """Unit-norm atoms (non-negative ones if ``positive``), in place; an atom that has
    nothing left after the projection is drawn again (its absolute value, normalised).
    For a user's initial dictionary."""
    if positive:
        nothing = torch.linalg.vector_norm(D.clamp(min=0), dim=1) <= 1e-12
        D.copy_(torch.where(nothing[:, None], D.abs(), D.clamp(min=0)))
    normalize_rows_(D)


def resample_atoms_(D, atoms, X, H, rng, positive=False):
    """Replace ``atoms`` by the worst-reconstructed samples of ``X`` (normalised).

    An unused atom has zero codes, so replacing it leaves ``X - H D`` and the
    objective unchanged: the descent stays monotone.
    """
    if len(atoms) == 0:
        return
    residual = torch.linalg.vector_norm(X - H @ D, dim=1)
    order = torch.argsort(residual, descending=True)[: len(atoms)]
    atoms = torch.as_tensor(atoms, device=D.device)
    new = X[order].clone()
    if new.shape[0] < len(atoms):
        extra = _fill(rng, (len(atoms) - new.shape[0], D.shape[1]), positive)
        new = torch.cat([new, torch.as_tensor(extra, dtype=D.dtype, device=D.device)])
    if positive:
        new.clamp_(min=0)
    small = normalize_rows_(new)
    if bool(small.any()):
        fill = _fill(rng, (int(small.sum()), D.shape[1]), positive)
        new[small] = torch.as_tensor(fill, dtype=D.dtype, device=D.device)
        normalize_rows_(new)
    D[atoms] = new


def _used_atoms(A):
    """Mask of the atoms whose codes carry weight (``A_jj`` not negligible), decided on
    the device (none when ``A`` is zero)."""
    diag = torch.diagonal(A)
    return diag > 1e-10 * diag.mean().clamp(min=1e-300)


def update_dict_bcd_(D, A, B, n_sweeps=1, positive=False):
    """Block-coordinate descent on the atoms, in place.

    For each atom ``j``: ``d_j <- (b_j - A_j D + A_jj d_j) / A_jj`` then
    ``d_j <- d_j / ||d_j||`` (with ``positive``, ``d_j <- max(d_j, 0)`` first).
    Normalising is the exact minimiser over the unit sphere (the quadratic term
    is constant there), so every block step lowers the objective; with
    ``positive`` the projection makes it a projected step. Returns the indices
    of unused atoms (``A_jj ~ 0``), left untouched for the caller to resample.
    """
    used = _used_atoms(A)
    unused = torch.nonzero(~used).squeeze(1).tolist()
    if not bool(used.any()):
        return unused
    if D.device.type == "cpu" and D.is_contiguous():
        atoms = torch.nonzero(used).squeeze(1).numpy()
        bcd_sweeps_(D.numpy(), A.contiguous().numpy(), B.contiguous().numpy(), atoms, n_sweeps,
                    positive)
        return unused
    for _ in range(n_sweeps):
        for j in torch.nonzero(used).squeeze(1).tolist():
            u = D[j] + (B[j] - A[j] @ D) / A[j, j]
            if positive:
                u.clamp_(min=0)
            norm = torch.linalg.vector_norm(u)
            if norm > 1e-12:
                D[j] = u / norm
            elif positive:  # nothing left in the orthant: the atom's own magnitudes
                D[j] = D[j].abs() / torch.linalg.vector_norm(D[j]).clamp(min=1e-300)
    return unused


def update_dict_pgd_(D, A, B, step=None, positive=False):
    """One projected-gradient step ``D <- normalise(D - step (A D - B))``, in place
    (``max(., 0)`` before normalising with ``positive``).

    ``step`` defaults to ``1 / ||A||_2``, the inverse Lipschitz constant of the
    gradient. Returns the indices of unused atoms, as `update_dict_bcd_`.
    """
    used = _used_atoms(A)
    unused = torch.nonzero(~used).squeeze(1).tolist()
    if not bool(used.any()):
        return unused
    if step is None:
        step = 1.0 / gram_eigmax(A)
    old = D.clone()
    D -= step * (A @ D - B)
    if positive:
        D.clamp_(min=0)
        old.abs_()  # an atom with nothing left in the orthant: its own magnitudes
    small = normalize_rows_(D)
    D[small] = old[small]
    return unused


def update_dict_ksvd_(D, X, H):
    """One sweep of approximate K-SVD over the atoms, in place on ``D`` and ``H``.

    For each atom ``j`` in turn, with ``I`` the samples whose codes use it and ``g =
    H[I, j]``, the residual without it, ``E = X_I - H_I D + g d_j``, is approximated
    by a rank one ``g d^T`` with one step of the power method (Rubinstein, Zibulevsky
    and Elad 2008): ``d <- E^T g / ||E^T g||`` then ``g <- E d``. The supports do not
    change, every code value on atom ``j`` does, and the later atoms of the sweep see
    the new ones (as block-coordinate descent does); no step increases
    ``||X - H D||``. Returns the indices of the atoms no code uses, left untouched.

    On the CPU the sweep is compiled and goes through each atom's samples only
    (`ksvd_sweep_`); elsewhere each atom is a few products over all samples, masked to
    its own, with no host synchronisation.
    """
    used = (H != 0).any(dim=0)
    unused = torch.nonzero(~used).squeeze(1).tolist()
    if D.device.type == "cpu" and all(t.is_contiguous() for t in (D, X, H)):
        ksvd_sweep_(D.numpy(), X.numpy(), H.numpy())
        return unused
    for j in range(D.shape[0]):
        g, old = H[:, j].clone(), D[j].clone()
        D[j] = 0
        d = X.T @ g - D.T @ (H.T @ g)
        norm = torch.linalg.vector_norm(d)
        moves = norm > 1e-12  # an atom no sample uses keeps its value
        d = torch.where(moves, d / norm.clamp(min=1e-12), old)
        H[:, j] = torch.where(moves & (g != 0), X @ d - H @ (D @ d), g)
        D[j] = d
    return unused


def stationarity(D, A, B):
    """Relative norm of the Riemannian gradient of the objective on the sphere.

    ``grad = A D - B``; its component along each unit atom does not change the
    objective on the sphere, so ``|| grad - diag(grad D^T) D ||_F / ||B||_F``
    is the first-order (KKT) violation of the dictionary; 0 at a stationary point.
    """
    grad = A @ D - B
    radial = (grad * D).sum(dim=1, keepdim=True)
    tangent = grad - radial * D
    denom = max(float(torch.linalg.norm(B)), 1e-300)
    return float(torch.linalg.norm(tangent)) / denom


def update_dict_parallel_(D, A, B, n_steps=3, positive=False):
    """Majorise-minimise steps that update every atom at once, in place; no host sync.

    With ``r_j = sum_i |A_ji|``, ``diag(r) - A`` is diagonally dominant, hence
    PSD, so ``1/2 sum_j r_j ||d'_j - d_j||^2`` plus the linearisation majorises
    the objective; its minimiser on the unit sphere is
    ``d_j <- normalise(d_j - (A_j D - b_j) / r_j)``: every step lowers the
    objective, as a block-coordinate sweep does, but as one matrix product
    instead of one small update per atom (what a GPU wants). For nearly
    diagonal ``A`` (atoms rarely used together) ``r_j ~ A_jj`` and a step is
    close to a sweep.

    Returns the boolean mask of unused atoms (``A_jj ~ 0``), left untouched.
    With ``positive``, ``max(., 0)`` before normalising.
    """
    used = _used_atoms(A)
    inv_r = torch.where(used, 1 / A.abs().sum(dim=1).clamp(min=1e-300), 0)[:, None]
    for _ in range(n_steps):
        U = torch.addcmul(D, torch.addmm(B, A, D, alpha=1, beta=-1), inv_r, value=-1)
        if positive:
            U.clamp_(min=0)
        norms = torch.linalg.vector_norm(U, dim=1, keepdim=True)
        fallback = D.abs() if positive else D  # nothing left in the orthant
        D.copy_(torch.where(norms > 1e-12, U / norms.clamp(min=1e-12), fallback))
    return ~used


def resample_atoms_masked_(D, A, B, unused, X, H, positive=False):
    """`resample_atoms_` for a boolean mask, on the device, with no host sync.

    The unused atoms take, in order, the worst-reconstructed samples of ``X``
    (normalised, their positive parts with ``positive``; their statistics in ``A`` and
    ``B`` are reset).
    """
    residual = torch.linalg.vector_norm(X - H @ D, dim=1)
    worst = torch.argsort(residual, descending=True)
    rank = (torch.cumsum(unused.to(torch.int64), 0) - 1).clamp(0, X.shape[0] - 1)
    new = X[worst[rank]]
    if positive:
        new = new.clamp(min=0)
    norms = torch.linalg.vector_norm(new, dim=1, keepdim=True)
    replace = unused[:, None] & (norms > 1e-12)
    D.copy_(torch.where(replace, new / norms.clamp(min=1e-12), D))
    keep = ~replace[:, :1]
    A.mul_(keep).mul_(keep.T)
    B.mul_(keep)


# the batch dictionary updates by name, as ``update(D, A, B, X, H, positive)``: the
# statistics' updates ignore the data, K-SVD uses them (and has no non-negative form)
DICT_UPDATES = {
    "bcd": lambda D, A, B, X, H, positive: update_dict_bcd_(D, A, B, positive=positive),
    "pgd": lambda D, A, B, X, H, positive: update_dict_pgd_(D, A, B, positive=positive),
    "ksvd": lambda D, A, B, X, H, positive: update_dict_ksvd_(D, X, H),
}
