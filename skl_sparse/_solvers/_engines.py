"""Which compiled homotopy engine codes the rows, and whether the GPU's kernel codes them
first (`skl_sparse._solvers._homotopy` says what every engine returns).

`compiled_homotopy` runs the device's compiled engine: `homotopy_cpu` on the CPU, the
shipped CUDA kernel `homotopy_cuda` on a CUDA GPU, whose first results in each process are
checked against torch's (`kernel_agrees`). `kernel_first` decides, on a strided sample of
the rows, whether the kernel should code all of them (``solver="auto"`` on a GPU). Both
return None where no compiled engine runs; `lasso_gram` then uses the batched torch
homotopy or the proximal gradient.
"""

import torch

from ._certificates import duality_gap
from ._homotopy import HomotopyResult
from ._homotopy_cpu import homotopy_cpu
from ._homotopy_cuda import KERNEL, S_MAX, cuda_homotopy_available, homotopy_cuda

__all__ = ["compiled_homotopy", "kernel_agrees", "kernel_first"]


def compiled_homotopy(C, G, alpha, positive, x_sq, sizes=S_MAX, rerun_over=0):
    """The compiled homotopy on every row (float64 tensors): on the CPU `homotopy_cpu`, on
    a CUDA GPU the shipped kernel `homotopy_cuda` (with the factor sizes ``sizes``; a
    larger size only for more than ``rerun_over`` rows) where the driver runs it. A
    `HomotopyResult`, or None where neither runs."""
    if C.device.type == "cpu":
        return homotopy_cpu(C, G, alpha, positive=positive, x_sq=x_sq)
    if C.device.type != "cuda" or not cuda_homotopy_available(C.shape[1]):
        return None
    try:
        path = homotopy_cuda(C, G, alpha, positive=positive, x_sq=x_sq, s_max=sizes,
                             rerun_over=rerun_over)
    except RuntimeError:  # the driver could not load or run the kernel: warned once
        return None
    if C.device not in KERNEL.checked:
        KERNEL.checked.add(C.device)
        if not kernel_agrees(C, G, x_sq, alpha, positive, path):
            return None
    return path


def kernel_first(C, G, alpha, positive, x_sq, tol, policy, cpu_tail):
    """The homotopy kernel first (``solver="auto"`` on a GPU, `LassoPolicy.homotopy`), on
    the rows where it pays: on a strided sample of about ``policy.homotopy_sample`` rows
    with the first factor size, then, where at most ``policy.homotopy_left`` of the sample
    needed more atoms, on the other rows with all the sizes. One host synchronisation
    decides.

    Returns ``(path, from_zero)``: a `HomotopyResult` for every row (where the kernel did
    not run: zero codes, unfinished, and an infinite gap so that they go on) or None where
    the kernel cannot run; and whether the rows left should start the proximal gradient
    from zero (the kernel ran on the sample only).
    """
    n = len(C)
    step = n // policy.homotopy_sample
    if step < 2:  # the sample would be most of the rows: all of them
        return compiled_homotopy(C, G, alpha, positive, x_sq, policy.homotopy, cpu_tail), False
    sample = torch.arange(0, n, step, device=C.device)
    first = compiled_homotopy(C[sample], G, alpha, positive, x_sq[sample],
                              policy.homotopy[:1])
    if first is None:
        return None, False
    path = _on_rows(first, sample, C, x_sq)
    left = int((~(first.gap <= tol * first.primal)).sum())  # the one sync (NaN is left)
    if left > policy.homotopy_left * len(sample):
        return path, True
    # the other rows, in order, without a synchronisation: step - 1 of them after each
    # sampled row
    q = torch.arange(n - len(sample), device=C.device)
    others = q // (step - 1) * step + 1 + q % (step - 1)
    rest = compiled_homotopy(C[others], G, alpha, positive, x_sq[others], policy.homotopy,
                             cpu_tail)
    if rest is None:  # turned off since the sample: the proximal gradient for the others
        return path, True
    _set_rows(path, others, rest)
    return path._replace(n_steps=torch.maximum(first.n_steps, rest.n_steps)), False


def _on_rows(path, rows, C, x_sq):
    """``path``, the result of the rows ``rows`` of ``C``, as a result of all of them: the
    other rows with zero codes, unfinished, and an infinite gap (they go on)."""
    full = HomotopyResult(torch.zeros_like(C),
                          torch.zeros(len(C), dtype=torch.bool, device=C.device),
                          path.n_steps, 0.5 * x_sq, torch.full_like(x_sq, torch.inf))
    _set_rows(full, rows, path)
    return full


def _set_rows(full, rows, part):
    """Write the per-row fields of the `HomotopyResult` ``part`` into the rows ``rows`` of
    ``full``, in place (``n_steps`` is the caller's)."""
    for whole, piece in zip(full, part, strict=True):
        if whole.dim():
            whole[rows] = piece


def kernel_agrees(C, G, x_sq, alpha, positive, path):
    """Whether the objectives and gaps a compiled kernel reported (the `HomotopyResult`
    ``path``) are torch's for its codes (`duality_gap`, from ``C``, ``G`` and ``x_sq``), to
    rounding: done once a process and device, on the kernel's first results, for a GPU
    kernel shipped compiled (a driver or architecture that ran it wrongly would otherwise
    certify wrong codes). Where they differ, warns and turns the kernel off (one host
    synchronisation)."""
    p_t, g_t = duality_gap(C, G, path.codes, x_sq, alpha, positive)
    tol = 1e-9 * (p_t.abs() + x_sq.abs()) + 1e-300
    if bool(torch.all(((p_t - path.primal).abs() <= tol) & ((g_t - path.gap).abs() <= tol))):
        return True
    KERNEL.turn_off("gave objectives and duality gaps that disagreed with torch's on this "
                    "GPU (please report it, with the GPU and driver)", stacklevel=3)
    return False
