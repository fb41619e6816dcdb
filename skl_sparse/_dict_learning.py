"""The dictionary-learning function layer: the batch alternation and the online epoch.

`dict_learning_batch` alternates exact codes of all samples with a dictionary update
(SparseCoder); `online_epoch` runs one pass of mini-batch steps over a numpy array,
sending the data to the device in large chunks (OnlineDictionaryLearner,
GaborDictionaryLearner). No validation: the estimators validate.
"""

import time
import warnings

import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import gen_batches

from ._dictionary import resample_atoms_, stationarity
from ._utils import progress, to_tensor


def dict_learning_batch(X, D, code, update, *, max_iter, tol, rng, learn=True, log=None):
    """Alternate the codes of all of ``X`` and a dictionary update of ``D`` (in place).

    ``code(X, D)`` returns the codes and their objectives; ``update(D, A, B)`` (e.g.
    `update_dict_bcd_`) returns the unused atoms, which are replaced by the
    worst-reconstructed samples. Stops when the dictionary's stationarity (its KKT
    violation on the unit sphere) is at most ``tol``, or after the first codes when
    ``learn`` is False. Returns the objective and stationarity after each coding.
    """
    objective, kkt = [], []
    start = time.perf_counter()
    for it in range(max_iter):
        H, primal = code(X, D)
        A, B = H.T @ H, H.T @ X
        objective.append(float(primal.mean()))
        kkt.append(stationarity(D, A, B))
        if log is not None:
            log(f"iteration {it + 1}: objective={objective[-1]:.6g} "
                f"kkt={kkt[-1]:.3g} ({time.perf_counter() - start:.1f}s)")
        if not learn or kkt[-1] <= tol:
            break
        resample_atoms_(D, update(D, A, B), X, H, rng)
    else:
        warnings.warn(
            f"Dictionary learning did not reach tol={tol} (stationarity {kkt[-1]:.3g}) in "
            f"max_iter={max_iter} iterations.",
            ConvergenceWarning,
            stacklevel=3,
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
