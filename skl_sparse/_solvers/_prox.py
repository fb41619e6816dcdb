"""Proximal gradient for the lasso in Gram form: (F)ISTA iterations vectorised over the
samples (`ProxGrad`), the bounds on the step size (`gram_eigmax`, `lipschitz_bound`), and
`lasso_gram_budget`, a fixed number of iterations with no host synchronisation (the
learners' mini-batch codes on a GPU). No validation: callers validate.

One iteration is one fused ``addmm`` with ``I - G/L`` (the gradient step), a soft
threshold (`shrink`) and a ``lerp`` (the momentum): three kernels whatever the batch
size, and no host synchronisation.
"""

import contextlib
import math

import torch

from ._certificates import duality_gap

__all__ = ["BUDGET_ITER", "ProxGrad", "gram_eigmax", "lasso_gram_budget", "lipschitz_bound",
           "shrink"]

# FISTA iterations of the budgeted mini-batch codes of the learners on a GPU
BUDGET_ITER = 30


def shrink(v, thresh, positive=False):
    """Soft threshold ``sign(v) max(|v| - thresh, 0)`` (``max(v - thresh, 0)`` if positive).

    Written ``v - clamp(v, -t, t)``: two kernels instead of four, and the entries below
    the threshold are ``v - v = +0.0``, never -0.0. ``thresh`` may be a tensor that
    broadcasts against ``v``.
    """
    if positive:
        return torch.clamp(v - thresh, min=0)
    if not torch.is_tensor(thresh):
        # one kernel, with the same arithmetic (v -/+ t outside the interval, +0.0 inside)
        return torch.nn.functional.softshrink(v, thresh)
    return v - torch.clamp(v, -thresh, thresh)


def gram_eigmax(G):
    """Largest eigenvalue of the symmetric ``G`` (in float64), as a float; one host sync.

    The exact Lipschitz constant of the lasso's gradient; `lipschitz_bound` is the
    sync-free upper bound used inside device loops. Up to 2048 atoms it is computed on the
    CPU: a GPU's symmetric eigensolver is bound by its many small kernels and host round
    trips at these sizes.
    """
    if not G.numel():
        return 0.0
    G = G.detach().to("cpu" if G.shape[0] <= 2048 else G.device, torch.float64)
    return float(torch.linalg.eigvalsh(G).max())


def lipschitz_bound(G, n_iter=None, v=None):
    """An upper estimate of the largest eigenvalue of the PSD matrix ``G``, on the device.

    Power iteration from ``v`` (ones by default; pass the previous vector when
    ``G`` changes little, as between mini-batches) with no host
    synchronisation, unlike ``eigvalsh``; the Rayleigh quotient is inflated by
    5% and capped by the max absolute row sum, which bounds the spectrum.
    ``n_iter`` defaults to 30 steps from scratch and 3 from a warm start.

    Returns
    -------
    L : 0-d tensor
    v : tensor (n,), the last iterate, to warm-start the next call.
    """
    if n_iter is None:
        n_iter = 30 if v is None else 3
    if v is None:
        v = torch.ones(G.shape[0], dtype=G.dtype, device=G.device)
    for _ in range(n_iter):
        v = G @ v
        v = v / torch.clamp(torch.linalg.vector_norm(v), min=1e-300)
    rayleigh = torch.dot(v, G @ v)
    L = torch.minimum(1.05 * rayleigh, G.abs().sum(dim=1).max()).clamp(min=1e-12)
    return L, v


@contextlib.contextmanager
def _tf32_products(enabled):
    """Within the block, cuBLAS may compute float32 products on TF32 tensor cores.

    Through the process-wide ``torch.backends.cuda.matmul.fp32_precision`` (no per-call
    setting exists), restored on exit, so other threads' float32 products in the
    meantime may run in TF32 too; a no-op where it is already "tf32" or torch lacks the
    setting. For the first FISTA iterations on a GPU: they only find the supports, which
    float64 support solves then finish (with the inputs of those products rounded to TF32
    the checks leave as many rows), and a TF32 product of many rows moves its data at the
    memory's speed, where the float32 one computes on the SIMT cores.
    """
    matmul = torch.backends.cuda.matmul
    previous = None
    if enabled:
        try:
            previous = matmul.fp32_precision
        except (AttributeError, RuntimeError):
            previous = None
    if previous in (None, "tf32"):
        yield
        return
    matmul.fp32_precision = "tf32"
    try:
        yield
    finally:
        matmul.fp32_precision = previous


class ProxGrad:
    """(F)ISTA iterations in Gram form, in the working dtype.

    ``V = H (I - G/L) + C/L`` is one ``addmm``; the soft threshold `shrink` one
    kernel (two for a tensor ``L``); the momentum step
    ``H + w (H - H_prev)`` is one ``lerp``. From ``zero`` codes the first iteration
    is the threshold of ``C/L`` alone (no product, no momentum). ``L`` may be a float
    or a 0-d tensor (then nothing is read back to the host).
    """

    def __init__(self, C, G, H, alpha, positive, lipschitz, momentum, dtype, zero=False):
        step = 1.0 / lipschitz
        eye = torch.eye(G.shape[0], dtype=G.dtype, device=G.device)
        self.Gp = (eye - G * step).to(dtype)
        self.Cs = (C * step).to(dtype)
        self.thr = alpha * step
        if torch.is_tensor(self.thr):
            self.thr = self.thr.to(dtype)
        self.positive, self.momentum = positive, momentum
        self.H = H.to(dtype)
        self.Y = self.H
        self.t = 1.0
        self.zero = zero

    def run(self, n_iter, tf32=False):
        """``n_iter`` iterations; ``tf32``: float32 products on a GPU's TF32 tensor cores
        (inputs rounded to 10-bit mantissas, see `_tf32_products`)."""
        with _tf32_products(tf32 and self.H.dtype == torch.float32 and self.H.is_cuda):
            for _ in range(n_iter):
                V = self.Cs if self.zero else torch.addmm(self.Cs, self.Y, self.Gp)
                self.zero = False
                H_new = shrink(V, self.thr, self.positive)
                if self.momentum:
                    t_new = 0.5 * (1 + math.sqrt(1 + 4 * self.t * self.t))
                    # Y = H_new + w (H_new - H) = lerp(H_new, H, -w); w = 0 at the start
                    w = (self.t - 1) / t_new
                    self.Y = torch.lerp(H_new, self.H, -w) if w else H_new
                    self.t = t_new
                else:
                    self.Y = H_new
                self.H = H_new

    def keep(self, rows):
        self.Cs, self.H = self.Cs[rows], self.H[rows]
        self.Y = self.Y[rows] if self.momentum else self.H


def lasso_gram_budget(C, G, x_sqnorm, alpha, *, positive=False, n_iter=30, init=None,
                      lipschitz=None):
    """Lasso codes for a fixed amount of work, with no host synchronisation.

    ``n_iter`` FISTA iterations from ``init`` (zero by default): four kernels
    each, nothing read back. For the mini-batch steps of the learners on a
    GPU, where waiting for the host costs more than the arithmetic and the
    codes need not be exact (`BUDGET_ITER` iterations learn as good a dictionary as
    exact codes: benchmarks/README.md).

    Returns
    -------
    H : tensor (n_samples, n_components), in the dtype of ``C``.
    primal : tensor (n_samples,), objectives ``P(h)`` (float64).
    """
    dtype, exact = C.dtype, torch.float64
    C64, G64, x_sq = C.to(exact), G.to(exact), x_sqnorm.to(exact)
    H = torch.zeros_like(C64) if init is None else init.to(exact)
    if positive:
        H = H.clamp(min=0)
    if H.numel() == 0:
        return H.to(dtype), 0.5 * x_sq
    if lipschitz is None:
        lipschitz, _ = lipschitz_bound(G64)
    state = ProxGrad(C64, G64, H, alpha, positive, lipschitz, momentum=True, dtype=dtype)
    state.run(n_iter)
    primal, _ = duality_gap(C64, G64, state.H.to(exact), x_sq, alpha, positive)
    return state.H, primal
