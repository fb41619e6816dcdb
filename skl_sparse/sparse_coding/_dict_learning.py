"""The dictionary-learning function layer: the batch alternation and the online epoch.

`dict_learning_batch` alternates exact codes of all samples with a dictionary update
(SparseCoder); `online_epoch` runs one pass of mini-batch steps over a numpy array,
sending the data to the device in large chunks (OnlineDictionaryLearner,
GaborDictionaryLearner). No validation: the estimators validate.
"""

import time

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import gen_batches

from .._device import to_tensor
from .._progress import progress
from .._solvers import BUDGET_ITER, lasso_gram_budget, lipschitz_bound
from .._validation import warn_user
from ._dictionary import (
    resample_atoms_,
    resample_atoms_masked_,
    stationarity,
    update_dict_bcd_,
    update_dict_parallel_,
)
from ._dictionary_cpu import accumulate_sparse_


def dict_learning_batch(X, D, code, update, *, max_iter, tol, rng, learn=True, log=None,
                        positive=False):
    """Alternate the codes of all of ``X`` and a dictionary update of ``D`` (in place).

    ``code(X, D)`` returns the codes and their objectives; ``update(D, A, B, X, H,
    positive)`` (a value of `DICT_UPDATES`) returns the unused atoms, which are replaced
    by the worst-reconstructed samples. Stops when the dictionary's stationarity (its KKT
    violation on the unit sphere) is at most ``tol``, or after the first codes when
    ``learn`` is False. Returns the objective and stationarity after each coding.
    """
    objective, kkt = [], []
    start = time.perf_counter()
    for it in range(max_iter):
        H, primal = code(X, D)
        A, B = code_statistics(H, X)
        objective.append(float(primal.mean()))
        kkt.append(stationarity(D, A, B))
        if log is not None:
            log(f"iteration {it + 1}: objective={objective[-1]:.6g} "
                f"kkt={kkt[-1]:.3g} ({time.perf_counter() - start:.1f}s)")
        if not learn or kkt[-1] <= tol:
            break
        unused = update(D, A, B, X, H, positive)
        resample_atoms_(D, unused, X, H, rng, positive=positive)
    else:
        warn_user(
            f"Dictionary learning did not reach tol={tol} (stationarity {kkt[-1]:.3g}) in "
            f"max_iter={max_iter} iterations.",
            ConvergenceWarning,
        )
    return objective, kkt


def upload_rows(n_features, itemsize, batch_size):
    """Rows sent to the device at once: whole batches, about 64 MiB."""
    per_batch = max(1, batch_size * n_features * itemsize)
    return batch_size * max(1, (64 << 20) // per_batch)


def online_epoch(step, X, order, batch_size, device, *, verbose=0, desc="epoch"):
    """``step(X_batch)`` over the mini-batches of ``X[order]``; their mean objective.

    ``step`` returns a 0-d tensor, so the mean costs one host sync per epoch. The
    data go to the device in chunks of many batches (a copy from host memory waits
    for the device, so one per batch would stall it).
    """
    losses = []
    chunk = upload_rows(X.shape[1], X.itemsize, batch_size)
    batches = progress(gen_batches(len(order), batch_size), verbose=verbose, desc=desc)
    Xc, base = None, 0
    for batch in batches:
        start, stop = batch.start, batch.stop
        if Xc is None or stop > base + Xc.shape[0]:
            base = start
            Xc = to_tensor(X[order[start : start + chunk]], device)
        losses.append(step(Xc[start - base : stop - base]))
    return float(torch.stack(losses).mean()) if losses else float("nan")


# codes at most this dense update the running averages through their non-zero entries
# on the CPU (`accumulate_sparse_`); denser ones by matrix products
SPARSE_ACCUMULATE_DENSITY = 0.25


def _sparse_on_cpu(*tensors):
    """Whether `accumulate_sparse_` takes these (codes ``H`` first): contiguous CPU
    tensors of one dtype, ``H`` at most `SPARSE_ACCUMULATE_DENSITY` dense."""
    H = tensors[0]
    return (H.device.type == "cpu" and all(t.is_contiguous() for t in tensors)
            and all(t.dtype == H.dtype for t in tensors)
            and torch.count_nonzero(H) <= SPARSE_ACCUMULATE_DENSITY * H.numel())


def add_code_statistics_(A, B, H, X, beta, weight):
    """``A <- beta A + weight H^T H`` and ``B <- beta B + weight H^T X``, in place.

    On the CPU, sparse codes go through their non-zero entries, O(s^2 + s p) a row for s
    of them where the products cost O(k^2 + k p)."""
    if _sparse_on_cpu(H, X, A, B):
        accumulate_sparse_(A.numpy(), B.numpy(), H.numpy(), X.numpy(), float(beta),
                           float(weight))
        return
    A.mul_(beta).add_(H.T @ H, alpha=weight)
    B.mul_(beta).add_(H.T @ X, alpha=weight)


def code_statistics(H, X):
    """``H^T H`` and ``H^T X`` (through the non-zero codes where `add_code_statistics_`
    would)."""
    if not _sparse_on_cpu(H, X):
        return H.T @ H, H.T @ X
    A, B = H.new_zeros((H.shape[1], H.shape[1])), H.new_zeros((H.shape[1], X.shape[1]))
    accumulate_sparse_(A.numpy(), B.numpy(), H.numpy(), X.numpy(), 0.0, 1.0)
    return A, B


def accumulate_(A, B, H, X, beta):
    """Running averages ``A <- beta A + (1-beta) H^T H / b`` and
    ``B <- beta B + (1-beta) H^T X / b``, in place (``b`` rows in the batch)."""
    add_code_statistics_(A, B, H, X, beta, (1 - beta) / X.shape[0])


def online_step_(X, D, A, B, beta, code, rng, positive_dict=False):
    """One online step of Mairal et al. with exact codes ``code(X, D)``; in place.

    The running averages, one warm-started block-coordinate sweep, and unused atoms
    replaced by badly reconstructed samples (their statistics reset). Returns the
    batch's mean objective (a 0-d tensor). ``positive_dict``: non-negative atoms.
    """
    H, primal = code(X, D)
    accumulate_(A, B, H, X, beta)
    unused = update_dict_bcd_(D, A, B, positive=positive_dict)
    if unused:
        resample_atoms_(D, unused, X, H, rng, positive=positive_dict)
        A[unused, :] = 0
        A[:, unused] = 0
        B[unused] = 0
    return primal.mean()


def online_step_sync_free_(X, D, A, B, beta, v, alpha, positive, positive_dict=False):
    """The online step with no host synchronisation (every shape fixed; a GPU's).

    Budgeted codes (`lasso_gram_budget`, step size from the power iteration warm-started
    at ``v``, updated in place), the running averages with ``beta`` a device scalar,
    majorise-minimise steps on all atoms at once (`update_dict_parallel_`) and unused
    atoms resampled by masks. Returns the batch's mean objective (a 0-d tensor).
    ``positive`` constrains the codes, ``positive_dict`` the atoms.
    """
    G = D @ D.T
    lipschitz, v_new = lipschitz_bound(G, v=v)
    v.copy_(v_new)  # warm start for the next batch (D moves little)
    H, primal = lasso_gram_budget(
        X @ D.T, G, (X * X).sum(dim=1), alpha, positive=positive, n_iter=BUDGET_ITER,
        lipschitz=lipschitz,
    )
    weight = (1 - beta) / X.shape[0]
    A.mul_(beta).add_((H.T @ H) * weight)
    B.mul_(beta).add_((H.T @ X) * weight)
    unused = update_dict_parallel_(D, A, B, positive=positive_dict)
    resample_atoms_masked_(D, A, B, unused, X, H, positive=positive_dict)
    return primal.mean()
