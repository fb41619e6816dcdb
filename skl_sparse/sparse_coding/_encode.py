"""The coding function layer: lasso codes of numpy arrays or tensors, `sparse_encode`.

`encode_tensor` codes a tensor batch on a dictionary (the Gram set-up and the solver);
`encode_numpy` streams a numpy array through it in batches and warns about samples that
did not converge; `sparse_encode` is the validated public function. Estimators call
these; no validation below `sparse_encode`.
"""

import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._device import (
    STAGING_BYTES,
    copy_to_numpy,
    matmul,
    own_threads,
    resolve_device,
    to_tensor,
    zero_in_background,
)
from .._solvers import GAP_TOL_FLOOR, SOLVERS, gram_eigmax, lasso_gram, resolve_solver
from .._validation import check_no_overflow, finite_on_device

TRANSFORM_BATCH = 4096


def gram_context(D, solver):
    """``G = D D^T`` and, for the iterative solvers, its largest eigenvalue."""
    G = D @ D.T
    if resolve_solver(solver, D.device) == "lars" or not G.numel():
        return G, None  # the homotopy needs no step size; its fallback computes it if needed
    return G, gram_eigmax(G)


class _LastDictionary:
    """The last dictionary `dictionary_context` prepared: its key (device, dtype, shape,
    kind of solver), its host copy, tensor and `gram_context`; kept while its Gram matrix
    is at most `max_gram_bytes`."""

    max_gram_bytes = 1 << 26

    def __init__(self):
        self.entry = None

    def get(self, key, D):
        """The tensor and Gram context of ``D`` if it is the last one, else None."""
        entry = self.entry
        if entry is not None and entry[0] == key and np.array_equal(entry[1], D):
            return entry[2], entry[3]
        return None

    def put(self, key, D, Dt, gram):
        if D.shape[0] ** 2 * D.itemsize <= self.max_gram_bytes:
            self.entry = (key, D, Dt, gram)

    def clear(self):
        self.entry = None


LAST_DICTIONARY = _LastDictionary()


def dictionary_context(D, device, dtype, solver):
    """The numpy dictionary ``D`` as a tensor on ``device`` in ``dtype``, and its
    `gram_context`: ``(Dt, (G, lipschitz))``.

    The last result is kept (`LAST_DICTIONARY`) and returned again for an equal
    dictionary, compared entry by entry (far cheaper than what it saves), on the same
    device, dtype and kind of solver: repeated transforms with one fitted dictionary
    skip the upload, the product and the eigenvalue solve. An array changed in place no
    longer compares equal.
    """
    D = np.asarray(D, dtype=dtype)
    key = (device, D.dtype, D.shape, resolve_solver(solver, device) == "lars")
    cached = LAST_DICTIONARY.get(key, D)
    if cached is not None:
        return cached
    D = D.copy()  # owned: on the CPU the tensor shares its memory
    Dt = to_tensor(D, device)
    gram = gram_context(Dt, solver)
    LAST_DICTIONARY.put(key, D, Dt, gram)
    return Dt, gram


def owns_cpu_threads(device, solver):
    """Whether coding on ``device`` runs on our CPU threads (`skl_sparse._device._threads`): the
    homotopy on the CPU, whose rows our pool shares out, and which torch's OpenMP threads
    would slow down, spinning after each of torch's parallel products."""
    return device.type == "cpu" and resolve_solver(solver, device) == "lars"


def encode_tensor(X, D, alpha, *, solver, positive, max_iter, tol, init=None, gram=None):
    """Lasso codes of the rows of tensor ``X``; returns ``(H, n_iter, primal, gap)``."""
    with own_threads(owns_cpu_threads(X.device, solver)):
        G, lipschitz = gram if gram is not None else gram_context(D, solver)
        C = matmul(X, D.T)
        x_sq = (X * X).sum(dim=1)
        return lasso_gram(
            C, G, x_sq, alpha, solver=solver, positive=positive, max_iter=max_iter,
            tol=tol, init=init, lipschitz=lipschitz, max_support=D.shape[1],
        )


def warn_unconverged(n_bad, n_total, max_iter):
    if n_bad:
        warnings.warn(
            f"Lasso did not reach the duality-gap tolerance for {n_bad} of {n_total} samples "
            f"within transform_max_iter={max_iter} iterations; increase transform_max_iter "
            "or transform_tol.",
            ConvergenceWarning,
            stacklevel=3,
        )


def encode_numpy(X, D, alpha, *, solver, positive, max_iter, tol, batch_size, device):
    """Stream ``X`` (numpy) through the solver in batches; returns numpy codes."""
    device = resolve_device(device)
    # on a GPU the data's range and finiteness are checked there, after the upload (one
    # pass of the host over X fewer)
    on_device = finite_on_device(device)
    check_no_overflow(None if on_device else X, D, dtype=X.dtype)
    Dt, gram = dictionary_context(D, device, X.dtype, solver)
    shape = (X.shape[0], D.shape[0])
    if device.type == "cuda":
        # a GPU wants every sample at once: an eighth of its free memory, ~100 bytes
        # per code entry of working set
        free, _ = torch.cuda.mem_get_info(device)
        batch_size = max(batch_size, free // 8 // (100 * max(D.shape[0], 1)))
    out = np.empty(shape, dtype=X.dtype)
    zeroing = None
    n_bad = 0
    tol_eff = max(tol, GAP_TOL_FLOOR)
    with own_threads(owns_cpu_threads(device, solver)):
        for batch in gen_batches(X.shape[0], batch_size):
            Xb = to_tensor(X[batch], device)
            if on_device:
                check_no_overflow(Xb, dtype=X.dtype, host=X[batch])
            if zeroing is None and device.type == "cuda" and out.nbytes > STAGING_BYTES:
                # the output's pages are faulted in by a helper thread while the GPU codes
                # (started after the upload, whose host copies it would slow down)
                zeroing = zero_in_background(out)
            H, _, primal, gap = encode_tensor(
                Xb, Dt, alpha, solver=solver, positive=positive, max_iter=max_iter, tol=tol,
                gram=gram,
            )
            n_bad += int((gap > tol_eff * primal).sum())
            if zeroing is not None:
                zeroing.join()
            copy_to_numpy(out[batch], H)
    warn_unconverged(n_bad, X.shape[0], max_iter)
    return out


@validate_params(
    {
        "X": ["array-like"],
        "dictionary": ["array-like"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions(set(SOLVERS))],
        "positive": ["boolean"],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
    },
    prefer_skip_nested_validation=True,
)
def sparse_encode(
    X,
    dictionary,
    *,
    alpha=1.0,
    solver="auto",
    positive=False,
    max_iter=1000,
    tol=1e-6,
    batch_size=TRANSFORM_BATCH,
    device="auto",
):
    r"""Lasso codes of the rows of ``X`` against the rows of ``dictionary``.

    Each row ``x`` is coded as

    .. math:: h(x) = \arg\min_h \tfrac12 \|x - h D\|_2^2 + \alpha \|h\|_1
              \quad (h \ge 0 \text{ if positive}),

    the same objective as :func:`sklearn.decomposition.sparse_encode` with
    ``algorithm="lasso_cd"``. Each sample stops once its duality gap is at most
    ``tol`` times its objective.

    Read more in the :ref:`User Guide <sparse_coding>`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data to code.
    dictionary : array-like of shape (n_components, n_features)
        Atoms as rows (normally of unit norm).
    alpha : float, default=1.0
        Weight of the :math:`\ell_1` penalty.
    solver : {"auto", "lars", "fista", "ista"}, default="auto"
        "lars" follows the exact lasso homotopy (fast when codes are sparse,
        one sample per thread: the CPU's solver; on a GPU one sample per warp
        on CUDA GPUs); "fista" and "ista"
        (proximal gradient, vectorised over the samples: the GPU's solver)
        iterate. Every solver finishes with an exact solve on the detected
        support, accepted when the duality gap confirms it. "auto" is "lars"
        on the CPU and "fista" on a GPU, where the homotopy kernel first codes
        the rows of very sparse codes (when a sample of ~2,048 rows finishes
        with at most 32 atoms, save 1%).
    positive : bool, default=False
        Constrain the codes to be non-negative.
    max_iter : int, default=1000
        Iterations of the iterative phase.
    tol : float, default=1e-6
        Relative duality-gap tolerance.
    batch_size : int, default=4096
        Samples coded at once: memory is O(batch_size x n_components).
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]".

    Returns
    -------
    codes : ndarray of shape (n_samples, n_components)
        In the float dtype of ``X`` (float32 stays float32).

    See Also
    --------
    SparseCoder : the same codes as a transformer, with a learned dictionary.
    sklearn.decomposition.sparse_encode : scikit-learn's coding function.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import sparse_encode
    >>> D = np.eye(3)
    >>> sparse_encode(np.array([[2.0, 0.5, -1.0]]), D, alpha=1.0, device="cpu")
    array([[1., 0., 0.]])
    """
    X = check_array(X, dtype=[np.float64, np.float32],
                    ensure_all_finite=not finite_on_device(device))
    dictionary = check_array(dictionary, dtype=X.dtype)
    if dictionary.shape[1] != X.shape[1]:
        raise ValueError(
            f"dictionary has {dictionary.shape[1]} features but X has {X.shape[1]} features."
        )
    return encode_numpy(
        X, dictionary, alpha, solver=solver, positive=positive, max_iter=max_iter, tol=tol,
        batch_size=batch_size, device=device,
    )
