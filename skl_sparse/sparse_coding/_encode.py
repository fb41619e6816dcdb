"""The coding function layer: codes of numpy arrays or tensors, `sparse_encode`.

`encode_tensor` codes a tensor batch on a dictionary (the Gram set-up and the solver:
a lasso solver, a greedy ℓ0 one or thresholding); `encode_numpy` streams a numpy array
through it in batches and warns about samples that did not converge; `sparse_encode` is
the validated public function. Estimators call these; no validation below
`sparse_encode` but `resolve_n_nonzero_coefs`, which the public layers share.
"""

from numbers import Integral, Real
from typing import NamedTuple

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, gen_batches
from sklearn.utils._param_validation import Interval, StrOptions, validate_params

from .._array_api import check_real, dispatched_namespace, from_torch, to_torch
from .._device import (
    STAGING_BYTES,
    copy_to_numpy,
    matmul,
    numpy_dtype,
    own_threads,
    resolve_device,
    to_tensor,
    zero_in_background,
)
from .._solvers import (
    GAP_TOL_FLOOR,
    GREEDY_SOLVERS,
    SOLVERS,
    RowProducts,
    gram_eigmax,
    greedy_gram,
    lasso_gram,
    resolve_solver,
    threshold_gram,
)
from .._validation import (
    check_dictionary,
    check_no_overflow,
    finite_on_device,
    suggests_names,
    warn_user,
)

TRANSFORM_BATCH = 4096
# every value of ``solver``: the lasso's, the greedy ℓ0 codes', thresholding
CODERS = (*SOLVERS, *GREEDY_SOLVERS, "threshold")
# the coders that have no non-negative variant
UNSIGNED_ONLY = GREEDY_SOLVERS


class Codes(NamedTuple):
    """What `encode_tensor` returns."""

    codes: torch.Tensor  # (n_samples, n_components), in the dtype of X
    objective: torch.Tensor  # (n_samples,) float64: the lasso objective, or for the
    # greedy codes half the squared residual
    unconverged: torch.Tensor  # bool (n_samples,): a lasso gap above the tolerance, or
    # a greedy code stopped by dependent atoms before its budget or tolerance


def _gram_kind(solver, device):
    """What `gram_context` computes for ``solver``: "greedy" (``G`` in float64),
    "iterative" (``G`` and its largest eigenvalue) or "plain" (``G``)."""
    if solver in GREEDY_SOLVERS:
        return "greedy"
    return "iterative" if resolve_solver(solver, device) in ("fista", "ista") else "plain"


def gram_context(D, solver):
    """``G = D D^T`` (in float64 for the greedy solvers) and, for the iterative lasso
    solvers, its largest eigenvalue."""
    kind = _gram_kind(solver, D.device)
    if kind == "greedy":
        D = D.double()
    G = D @ D.T
    if kind != "iterative" or not G.numel():
        return G, None  # the homotopy needs no step size; its fallback computes it if needed
    return G, gram_eigmax(G)


class _LastDictionary:
    """The last dictionary `dictionary_context` prepared: its key (device, dtype, shape,
    kind of Gram context), its host copy, tensor and `gram_context`; kept while its Gram
    matrix is at most `max_gram_bytes`."""

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
    key = (device, D.dtype, D.shape, _gram_kind(solver, device))
    cached = LAST_DICTIONARY.get(key, D)
    if cached is not None:
        return cached
    D = D.copy()  # owned: on the CPU the tensor shares its memory
    Dt = to_tensor(D, device)
    gram = gram_context(Dt, solver)
    LAST_DICTIONARY.put(key, D, Dt, gram)
    return Dt, gram


class _LastTensorDictionary(_LastDictionary):
    """`LAST_DICTIONARY` for tensors (Array API dispatch): the `gram_context` of the last
    dictionary tensor coded on, kept with the tensor itself (so that its memory is not
    reused) while its Gram matrix is at most ``max_gram_bytes``. A fitted model's
    ``components_`` is the same tensor at every ``transform``; a tensor changed in place
    has a new version and no longer matches."""

    def gram(self, D, solver):
        key = (D.data_ptr(), D._version, D.shape, D.dtype, D.device,
               _gram_kind(solver, D.device))
        if self.entry is not None and self.entry[0] == key:
            return self.entry[2]
        gram = gram_context(D, solver)
        if D.shape[0] ** 2 * D.element_size() <= self.max_gram_bytes:
            self.entry = (key, D, gram)
        return gram


LAST_TENSOR_DICTIONARY = _LastTensorDictionary()


def owns_cpu_threads(device, solver):
    """Whether coding on ``device`` runs on our CPU threads (`skl_sparse._device._threads`):
    the homotopy and the greedy codes on the CPU, whose rows our pool shares out, and
    which torch's OpenMP threads would slow down, spinning after each of torch's parallel
    products."""
    return device.type == "cpu" and (resolve_solver(solver, device) == "lars"
                                     or solver in GREEDY_SOLVERS)


def resolve_n_nonzero_coefs(n_nonzero_coefs, n_components, n_features,
                            name="n_nonzero_coefs"):
    """The atoms a greedy code may use: ``n_nonzero_coefs``, or 10% of ``n_features`` (at
    least 1) when None, as scikit-learn; more than ``min(n_components, n_features)``
    (more atoms than a code can use independently) is clipped, with a warning."""
    if n_nonzero_coefs is None:
        return max(1, min(int(n_features / 10), n_components))
    most = max(1, min(n_components, n_features))
    if n_nonzero_coefs > most:
        warn_user(f"{name}={n_nonzero_coefs} is more than min(n_components, n_features) = "
                  f"{most}, the most atoms a code can use: clipped to {most}.", UserWarning)
        return most
    return int(n_nonzero_coefs)


def check_positive_supported(solver, positive):
    """Greedy codes have no non-negative variant: say so, naming both parameters."""
    if positive and solver in UNSIGNED_ONLY:
        raise ValueError(f"positive=True is not supported by solver={solver!r}: use a "
                         "lasso solver (\"auto\", \"lars\", \"fista\", \"ista\") or "
                         "\"threshold\".")


def encode_tensor(X, D, alpha, *, solver, positive, max_iter, tol, init=None, gram=None,
                  n_nonzero_coefs=None, residual_tol=None, out=None):
    """Codes of the rows of tensor ``X``: a `Codes`.

    ``solver`` is one of `CODERS`: a lasso solver (``alpha``, ``positive``, ``max_iter``,
    ``tol``, ``init``), a greedy one (``n_nonzero_coefs`` atoms, or until the squared
    residual is at most ``residual_tol``; computed in float64) or "threshold"
    (``alpha``, ``positive``). ``gram``: the `gram_context` of ``D`` if known. ``out``
    (greedy solvers, CPU, float64): the numpy array the codes are written into.
    """
    with own_threads(owns_cpu_threads(X.device, solver)):
        G, lipschitz = gram if gram is not None else gram_context(D, solver)
        if solver in GREEDY_SOLVERS:
            X64, D64 = X.double(), D.double()
            x_sq = torch.einsum("ij,ij->i", X64, X64)
            out = greedy_gram(RowProducts(X64, D64), G, x_sq, method=solver,
                              n_nonzero_coefs=n_nonzero_coefs, tol=residual_tol,
                              n_features=D.shape[1], out=out)
            floor = residual_tol if residual_tol is not None else 1e-10 * x_sq
            return Codes(out.codes.to(X.dtype), 0.5 * out.residual,
                         out.premature & (out.residual > floor))
        C = matmul(X, D.T)
        x_sq = (X * X).sum(dim=1)
        if solver == "threshold":
            H, objective = threshold_gram(C, G, x_sq, alpha, positive=positive)
            return Codes(H, objective.double(),
                         torch.zeros(len(H), dtype=torch.bool, device=H.device))
        H, _, primal, gap = lasso_gram(
            C, G, x_sq, alpha, solver=solver, positive=positive, max_iter=max_iter,
            tol=tol, init=init, lipschitz=lipschitz, max_support=D.shape[1],
        )
        return Codes(H, primal, gap > max(tol, GAP_TOL_FLOOR) * primal)


def warn_unconverged(n_bad, n_total, solver, max_iter):
    """One warning for the samples of a call that did not converge: the lasso's (a
    `ConvergenceWarning`), or greedy codes stopped early by dependent atoms (a
    ``RuntimeWarning``, as scikit-learn's OMP)."""
    if not n_bad:
        return
    if solver in GREEDY_SOLVERS:
        warn_user(f"{n_bad} of {n_total} samples stopped short of their n_nonzero_coefs "
                  f"or residual_tol (solver={solver!r}): every atom left is used or "
                  "depends linearly on the chosen ones, so the requested precision might "
                  "not have been met.", RuntimeWarning)
        return
    warn_user(f"Lasso did not reach the duality-gap tolerance for {n_bad} of {n_total} "
              f"samples within transform_max_iter={max_iter} iterations; increase "
              "transform_max_iter or transform_tol.", ConvergenceWarning)


def device_batch_size(batch_size, device, n_components):
    """Rows coded at once on ``device``: ``batch_size``, or on a GPU, which wants every
    sample at once, as many as an eighth of its free memory holds at ~100 bytes per code
    entry of working set."""
    if device.type != "cuda":
        return batch_size
    free, _ = torch.cuda.mem_get_info(device)
    return max(batch_size, free // 8 // (100 * max(n_components, 1)))


def encode_tensors(X, D, alpha, *, solver, positive, max_iter, tol, batch_size,
                   n_nonzero_coefs=None, residual_tol=None, init=None):
    """`encode_numpy` for tensors (Array API dispatch): codes of tensor ``X`` on tensor
    ``D``, computed on ``X``'s device and returned there, in ``X``'s dtype; neither the
    data nor the codes go through the host. One host synchronisation counts the samples
    that did not converge. ``init``: codes (a tensor) the iterative lasso solvers start
    from."""
    device = X.device
    D = D.to(device=device, dtype=X.dtype)
    check_no_overflow(X, D, dtype=numpy_dtype(X.dtype))
    gram = LAST_TENSOR_DICTIONARY.gram(D, solver)
    batch_size = device_batch_size(batch_size, device, D.shape[0])
    out, n_bad = None, 0
    with own_threads(owns_cpu_threads(device, solver)):
        for batch in gen_batches(X.shape[0], batch_size):
            codes = encode_tensor(
                X[batch], D, alpha, solver=solver, positive=positive, max_iter=max_iter,
                tol=tol, gram=gram, n_nonzero_coefs=n_nonzero_coefs,
                residual_tol=residual_tol,
                init=None if init is None else init[batch].to(device=device, dtype=X.dtype))
            if batch.start == 0 and batch.stop == X.shape[0]:
                out = codes.codes
            else:
                if out is None:
                    out = X.new_empty((X.shape[0], D.shape[0]))
                out[batch] = codes.codes
            n_bad = n_bad + codes.unconverged.sum()
    if out is None:  # no sample
        out = X.new_zeros((0, D.shape[0]))
    warn_unconverged(int(n_bad), X.shape[0], solver, max_iter)
    return out


def encode_numpy(X, D, alpha, *, solver, positive, max_iter, tol, batch_size, device,
                 n_nonzero_coefs=None, residual_tol=None, init=None):
    """Stream ``X`` (numpy) through `encode_tensor` in batches; returns numpy codes.
    ``init``: numpy codes the iterative lasso solvers start from."""
    device = resolve_device(device)
    # on a GPU the data's range and finiteness are checked there, after the upload (one
    # pass of the host over X fewer)
    on_device = finite_on_device(device)
    check_no_overflow(None if on_device else X, D, dtype=X.dtype)
    Dt, gram = dictionary_context(D, device, X.dtype, solver)
    shape = (X.shape[0], D.shape[0])
    batch_size = device_batch_size(batch_size, device, D.shape[0])
    out = np.empty(shape, dtype=X.dtype)
    # the CPU's greedy engine writes float64 codes straight into the output
    in_place = solver in GREEDY_SOLVERS and device.type == "cpu" and X.dtype == np.float64
    if in_place and solver != "lar" and X.flags.c_contiguous and X.flags.writeable:
        # OMP and OLS hold no more than a block of X D^T per thread (`RowProducts`; LAR
        # forms it whole), and torch wraps such an X without a copy (a memory map or a
        # strided view is copied, a batch at a time): one batch, whose rows the threads
        # share with no wait between batches
        batch_size = max(X.shape[0], 1)
    zeroing = None
    n_bad = 0
    with own_threads(owns_cpu_threads(device, solver)):
        for batch in gen_batches(X.shape[0], batch_size):
            Xb = to_tensor(X[batch], device)
            if on_device:
                check_no_overflow(Xb, dtype=X.dtype, host=X[batch])
            if zeroing is None and device.type == "cuda" and out.nbytes > STAGING_BYTES:
                # the output's pages are faulted in by a helper thread while the GPU codes
                # (started after the upload, whose host copies it would slow down)
                zeroing = zero_in_background(out)
            start = None if init is None else to_tensor(init[batch], device, dtype=X.dtype)
            codes = encode_tensor(
                Xb, Dt, alpha, solver=solver, positive=positive, max_iter=max_iter, tol=tol,
                gram=gram, n_nonzero_coefs=n_nonzero_coefs, residual_tol=residual_tol,
                init=start, out=out[batch] if in_place else None,
            )
            n_bad += int(codes.unconverged.sum())
            if zeroing is not None:
                zeroing.join()
            if not in_place:
                copy_to_numpy(out[batch], codes.codes)
    warn_unconverged(n_bad, X.shape[0], solver, max_iter)
    return out


@suggests_names
@validate_params(
    {
        "X": ["array-like"],
        "dictionary": ["array-like"],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions(set(CODERS))],
        "n_nonzero_coefs": [Interval(Integral, 1, None, closed="left"), None],
        "residual_tol": [Interval(Real, 0, None, closed="left"), None],
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
    n_nonzero_coefs=None,
    residual_tol=None,
    positive=False,
    max_iter=1000,
    tol=1e-6,
    batch_size=TRANSFORM_BATCH,
    device="auto",
):
    r"""Sparse codes of the rows of ``X`` against the rows of ``dictionary``.

    With a lasso solver ("auto", "lars", "fista", "ista") each row ``x`` is
    coded as

    .. math:: h(x) = \arg\min_h \tfrac12 \|x - h D\|_2^2 + \alpha \|h\|_1
              \quad (h \ge 0 \text{ if positive}),

    the same objective as :func:`sklearn.decomposition.sparse_encode` with
    ``algorithm="lasso_cd"``; each sample stops once its duality gap is at most
    ``tol`` times its objective. The greedy solvers give :math:`\ell_0` codes
    of at most ``n_nonzero_coefs`` atoms,

    .. math:: h(x) \approx \arg\min_h \|x - h D\|_2^2
              \quad \text{s.t. } \|h\|_0 \le L,

    choosing one atom at a time and re-fitting the chosen ones by least
    squares: "omp" the atom most correlated with the residual (scikit-learn's
    ``algorithm="omp"``), "ols" the atom whose addition leaves the smallest
    residual (SPAMS' ``omp``), "lar" least angle regression stopped after
    ``n_nonzero_coefs`` steps (scikit-learn's ``algorithm="lars"``).
    "threshold" soft-thresholds the correlations,
    :math:`h = \operatorname{sign}(xD^\top)\max(|xD^\top| - \alpha, 0)`.

    Read more in the :ref:`User Guide <sparse_coding>`.

    Parameters
    ----------
    X : array-like of shape (n_samples, n_features)
        Data to code.
    dictionary : array-like of shape (n_components, n_features)
        Atoms as rows (normally of unit norm).
    alpha : float, default=1.0
        Weight of the :math:`\ell_1` penalty (lasso solvers), or the threshold
        ("threshold"); unused by the greedy solvers.
    solver : {"auto", "lars", "fista", "ista", "omp", "ols", "lar", "threshold"}, default="auto"
        Lasso solvers: "lars" follows the exact lasso homotopy (fast when codes
        are sparse, one sample per thread: the CPU's solver; on a GPU one
        sample per warp on CUDA GPUs); "fista" and "ista" (proximal gradient,
        vectorised over the samples: the GPU's solver) iterate. Every lasso
        solver finishes with an exact solve on the detected support, accepted
        when the duality gap confirms it. "auto" is "lars" on the CPU and
        "fista" on a GPU, where the homotopy kernel first codes the rows of
        very sparse codes (when a sample of ~2,048 rows finishes with at most
        32 atoms, save 1%). Greedy :math:`\ell_0` solvers: "omp", "ols", "lar"
        (compiled on the CPU, samples shared among threads; batched over the
        samples on a GPU, "lar" excepted, which runs on the CPU). "threshold":
        thresholded correlations.
    n_nonzero_coefs : int, default=None
        Atoms per code of the greedy solvers; ``None`` means 10% of
        ``n_features`` (at least 1). More than ``min(n_components,
        n_features)`` is clipped to it, with a warning.
    residual_tol : float, default=None
        Squared norm of the residual at which "omp" and "ols" stop adding
        atoms; overrides ``n_nonzero_coefs`` when given.
    positive : bool, default=False
        Constrain the codes to be non-negative (lasso solvers and "threshold").
    max_iter : int, default=1000
        Iterations of the iterative phase of the lasso solvers.
    tol : float, default=1e-6
        Relative duality-gap tolerance of the lasso solvers.
    batch_size : int, default=4096
        Samples coded at once: memory is O(batch_size x n_components).
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]". Not used under
        scikit-learn's Array API dispatch, where the codes are computed on
        ``X``'s device (see :ref:`gpu_pipelines`).

    Returns
    -------
    codes : ndarray of shape (n_samples, n_components)
        In the float dtype of ``X`` (float32 stays float32); under Array API
        dispatch an array of ``X``'s namespace on its device (a torch tensor
        for a tensor ``X``).

    See Also
    --------
    SparseCoder : the same codes as a transformer, with a learned dictionary.
    skl_sparse.decomposition.sparse_encode : scikit-learn's signature.
    sklearn.decomposition.sparse_encode : scikit-learn's coding function.

    References
    ----------
    R. Rubinstein, M. Zibulevsky and M. Elad, "Efficient implementation of the
    K-SVD algorithm using batch orthogonal matching pursuit", Technion 2008.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import sparse_encode
    >>> D = np.eye(3)
    >>> sparse_encode(np.array([[2.0, 0.5, -1.0]]), D, alpha=1.0, device="cpu")
    array([[1., 0., 0.]])
    >>> sparse_encode(np.array([[2.0, 0.5, -1.0]]), D, solver="omp",
    ...               n_nonzero_coefs=2, device="cpu")
    array([[ 2.,  0., -1.]])
    """
    xp, xp_device = dispatched_namespace(X)
    if xp is None:
        X = check_array(X, dtype=[np.float64, np.float32],
                        ensure_all_finite=not finite_on_device(device))
    else:  # Array API dispatch: X's namespace and device (``device`` is not used)
        X = check_array(check_real(X, xp), dtype=[xp.float64, xp.float32])
    dictionary = check_dictionary(dictionary, X.shape[1], None, X.dtype)
    check_positive_supported(solver, positive)
    if solver in GREEDY_SOLVERS and residual_tol is None:
        n_nonzero_coefs = resolve_n_nonzero_coefs(n_nonzero_coefs, *dictionary.shape)
    options = {"solver": solver, "positive": positive, "max_iter": max_iter, "tol": tol,
               "batch_size": batch_size, "n_nonzero_coefs": n_nonzero_coefs,
               "residual_tol": residual_tol if solver in ("omp", "ols") else None}
    if xp is None:
        return encode_numpy(X, dictionary, alpha, device=device, **options)
    codes = encode_tensors(to_torch(X, xp), torch.from_numpy(dictionary), alpha, **options)
    return from_torch(codes, xp, xp_device)
