"""Sparse coding estimators: SparseCoder, OnlineDictionaryLearner, sparse_encode."""

import functools
import time
import warnings
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import (
    BaseEstimator,
    ClassNamePrefixFeaturesOutMixin,
    TransformerMixin,
    _fit_context,
)
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_array, check_random_state
from sklearn.utils._param_validation import Interval, StrOptions, validate_params
from sklearn.utils.validation import check_is_fitted, validate_data

from . import _lasso
from ._dictionary import (
    init_dictionary,
    resample_atoms_,
    resample_atoms_masked_,
    stationarity,
    update_dict_bcd_,
    update_dict_parallel_,
    update_dict_pgd_,
)
from ._lasso import (
    BUDGET_ITER,
    GAP_TOL_FLOOR,
    SOLVERS,
    lasso_gram,
    lasso_gram_budget,
    lipschitz_bound,
    resolve_solver,
)
from ._utils import (
    capture_cuda_graph,
    check_codes,
    check_dictionary,
    gen_batches_idx,
    peak_magnitude,
    progress,
    resolve_device,
    restore_on_error,
    to_numpy,
    to_tensor,
)

_TRANSFORM_BATCH = 4096


def _upload_rows(n_features, itemsize, batch_size):
    """Rows sent to the device at once: whole batches, about 64 MiB."""
    per_batch = max(1, batch_size * n_features * itemsize)
    return batch_size * max(1, (64 << 20) // per_batch)


def _gram_context(D, solver):
    """``G = D D^T`` and, for the iterative solvers, its largest eigenvalue."""
    G = D @ D.T
    if resolve_solver(solver, D.device) == "lars" or not G.numel():
        return G, None  # the homotopy needs no step size; its fallback computes it if needed
    return G, float(torch.linalg.eigvalsh(G.double()).max())


def _encode_tensor(X, D, alpha, *, solver, positive, max_iter, tol, init=None, gram=None):
    """Lasso codes of the rows of tensor ``X``; returns ``(H, n_iter, primal, gap)``."""
    G, lipschitz = gram if gram is not None else _gram_context(D, solver)
    C = X @ D.T
    x_sq = (X * X).sum(dim=1)
    return lasso_gram(
        C, G, x_sq, alpha, solver=solver, positive=positive, max_iter=max_iter,
        tol=tol, init=init, lipschitz=lipschitz, max_support=D.shape[1],
    )


def _warn_unconverged(n_bad, n_total, max_iter):
    if n_bad:
        warnings.warn(
            f"Lasso did not reach the duality-gap tolerance for {n_bad} of {n_total} samples "
            f"within transform_max_iter={max_iter} iterations; increase transform_max_iter "
            "or transform_tol.",
            ConvergenceWarning,
            stacklevel=3,
        )


def _check_no_overflow(X, D=None):
    """ValueError when ``X D^T``, ``D D^T`` or ``||x||^2`` would overflow X's dtype."""
    big = np.finfo(X.dtype).max / max(X.shape[1], 1)
    for name, A in (("X", X), ("dictionary", D)):
        if A is None:
            continue
        peak = peak_magnitude(A)
        if peak * peak > big:
            raise ValueError(
                f"{name} has values of magnitude up to {peak:.3g}: the lasso's inner products "
                f"would overflow {X.dtype}; rescale {name}."
            )


def _encode_numpy(X, D, alpha, *, solver, positive, max_iter, tol, batch_size, device):
    """Stream ``X`` (numpy) through the solver in batches; returns numpy codes."""
    device = resolve_device(device)
    _check_no_overflow(X, D)
    Dt = to_tensor(D, device, dtype=X.dtype)
    gram = _gram_context(Dt, solver)
    if device.type == "cuda":
        # a GPU wants every sample at once: an eighth of its free memory, ~100 bytes
        # per code entry of working set
        free, _ = torch.cuda.mem_get_info(device)
        batch_size = max(batch_size, free // 8 // (100 * max(D.shape[0], 1)))
    out = np.empty((X.shape[0], D.shape[0]), dtype=X.dtype)
    if device.type == "cuda":
        # page-locked: the codes come back by DMA (a copy to pageable memory took ~120 ms
        # for 100,000 x 256 float64 codes on an H200 machine, a fifth of the transform)
        out = torch.empty(out.shape, dtype=Dt.dtype, pin_memory=True).numpy()
    n_bad = 0
    tol_eff = max(tol, GAP_TOL_FLOOR)
    for start, stop in gen_batches_idx(X.shape[0], batch_size):
        Xb = to_tensor(X[start:stop], device)
        H, _, primal, gap = _encode_tensor(
            Xb, Dt, alpha, solver=solver, positive=positive, max_iter=max_iter, tol=tol,
            gram=gram,
        )
        n_bad += int((gap > tol_eff * primal).sum())
        torch.from_numpy(out[start:stop]).copy_(H)
    _warn_unconverged(n_bad, X.shape[0], max_iter)
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
    batch_size=_TRANSFORM_BATCH,
    device="auto",
):
    r"""Lasso codes of the rows of ``X`` against the rows of ``dictionary``.

    Each row ``x`` is coded as

    .. math:: h(x) = \arg\min_h \tfrac12 \|x - h D\|_2^2 + \alpha \|h\|_1
              \quad (h \ge 0 \text{ if positive}),

    the same objective as :func:`sklearn.decomposition.sparse_encode` with
    ``algorithm="lasso_cd"``. Each sample stops once its duality gap is at most
    ``tol`` times its objective.

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
        one sample per thread: the CPU's solver); "fista" and "ista"
        (proximal gradient, vectorised over the samples: the GPU's solver)
        iterate. Every solver finishes with an exact solve on the detected
        support, accepted when the duality gap confirms it. "auto" is "lars"
        on the CPU and "fista" on a GPU.
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

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import sparse_encode
    >>> D = np.eye(3)
    >>> sparse_encode(np.array([[2.0, 0.5, -1.0]]), D, alpha=1.0, device="cpu")
    array([[1., 0., 0.]])
    """
    X = check_array(X, dtype=[np.float64, np.float32])
    dictionary = check_array(dictionary, dtype=X.dtype)
    if dictionary.shape[1] != X.shape[1]:
        raise ValueError(
            f"dictionary has {dictionary.shape[1]} features but X has {X.shape[1]} features."
        )
    return _encode_numpy(
        X, dictionary, alpha, solver=solver, positive=positive, max_iter=max_iter, tol=tol,
        batch_size=batch_size, device=device,
    )


class _BaseSparseCoding(ClassNamePrefixFeaturesOutMixin, TransformerMixin):
    """Transform-time behaviour shared by the dictionary-based estimators."""

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions(set(SOLVERS))],
        "positive": ["boolean"],
        "transform_max_iter": [Interval(Integral, 1, None, closed="left")],
        "transform_tol": [Interval(Real, 0, None, closed="left")],
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "device": [str],
        "random_state": ["random_state"],
        "verbose": ["verbose"],
    }

    @property
    def _n_features_out(self):
        return self.components_.shape[0]

    def _log(self, message):
        if self.verbose:
            print(f"[{type(self).__name__}] {message}", flush=True)

    def _codes(self, X, D):
        """Codes of tensor ``X`` on the dictionary being learned, and their objectives."""
        H, _, primal, gap = _encode_tensor(
            X, D, self.alpha, solver=self.solver, positive=self.positive,
            max_iter=self.transform_max_iter, tol=self.transform_tol,
        )
        return H, primal

    def transform(self, X):
        """Lasso codes of ``X`` on the learned dictionary.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)

        Returns
        -------
        codes : ndarray of shape (n_samples, n_components)
            Same float dtype as ``X``.
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False)
        return _encode_numpy(
            X, self.components_, self.alpha, solver=self.solver, positive=self.positive,
            max_iter=self.transform_max_iter, tol=self.transform_tol,
            batch_size=self._transform_batch_size(), device=self.device,
        )

    def _transform_batch_size(self):
        return max(self.batch_size, _TRANSFORM_BATCH)

    def inverse_transform(self, X):
        """Reconstruction ``codes @ components_``.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_components)
            Codes.

        Returns
        -------
        X_rec : ndarray of shape (n_samples, n_features)
        """
        X = check_codes(self, X, self.components_.shape[0])
        return X @ self.components_.astype(X.dtype, copy=False)

    def score(self, X, y=None):
        """Negative mean lasso objective of ``X`` (higher is better).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        score : float
        """
        codes = self.transform(X)
        X = np.asarray(validate_data(self, X, dtype=[np.float64, np.float32], reset=False))
        residual = X - codes @ self.components_.astype(X.dtype, copy=False)
        obj = 0.5 * (residual**2).sum(axis=1) + self.alpha * np.abs(codes).sum(axis=1)
        return -float(obj.mean())

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.transformer_tags.preserves_dtype = ["float64", "float32"]
        return tags


class SparseCoder(_BaseSparseCoding, BaseEstimator):
    r"""Lasso sparse coding with a dictionary learned in batch (or given).

    Codes solve, for every sample :math:`x`,

    .. math:: h(x) = \arg\min_h \tfrac12 \|x - h D\|_2^2 + \alpha \|h\|_1,

    with unit-norm atoms (rows of :math:`D`). Without ``dictionary``, ``fit``
    learns :math:`D` on the whole training set by alternating exact inference
    of all codes and a dictionary update from :math:`A=\sum_t h_t h_t^\top`,
    :math:`B=\sum_t h_t^\top x_t`: block-coordinate descent
    (:math:`d_j \leftarrow (b_j - A_j D + A_{jj} d_j)/A_{jj}`, then
    normalise; the objective never increases) or a projected gradient step.
    Unused atoms are replaced by the worst-reconstructed samples. It stops
    when the relative norm of the dictionary's Riemannian gradient on the unit
    sphere (its KKT violation) is below ``tol``.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms; ``None`` means ``n_features`` (or the number of rows
        of ``dictionary``).
    alpha : float, default=1.0
        Weight of the :math:`\ell_1` penalty.
    dictionary : array-like of shape (n_components, n_features), default=None
        Fixed dictionary; when given, ``fit`` learns nothing and uses it as is.
    solver : {"auto", "lars", "fista", "ista"}, default="auto"
        Lasso solver (see :func:`sparse_encode`): "lars" on the CPU and
        "fista" on a GPU by default.
    fit_algorithm : {"bcd", "pgd"}, default="bcd"
        Dictionary update: block-coordinate descent or projected gradient.
    max_iter : int, default=30
        Alternations of inference and dictionary update.
    tol : float, default=1e-3
        Stationarity tolerance of the dictionary.
    transform_max_iter : int, default=1000
        Iterations of the lasso solver.
    transform_tol : float, default=1e-6
        Relative duality-gap tolerance of the lasso solver.
    positive : bool, default=False
        Non-negative codes.
    batch_size : int, default=4096
        Samples coded at once by ``transform`` (memory O(batch_size x n_components)).
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]".
    random_state : int, RandomState instance or None, default=None
        Initial dictionary draw.
    verbose : int, default=0
        Print the objective at every iteration.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Unit-norm atoms.
    objective_ : ndarray of shape (`n_iter_`,)
        Mean objective per sample after each inference step.
    stationarity_ : ndarray of shape (`n_iter_`,)
        Dictionary KKT violation after each inference step.
    n_iter_ : int
        Alternations run.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when they are all strings.

    See Also
    --------
    OnlineDictionaryLearner : the same model learned from mini-batches.
    sparse_encode : the coding function.

    References
    ----------
    Olshausen and Field, "Emergence of simple-cell receptive field properties
    by learning a sparse code for natural images", Nature 1996.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import SparseCoder
    >>> X = np.random.RandomState(0).randn(100, 8)
    >>> coder = SparseCoder(n_components=12, alpha=0.5, random_state=0, device="cpu").fit(X)
    >>> coder.transform(X).shape
    (100, 12)
    >>> bool(np.allclose(np.linalg.norm(coder.components_, axis=1), 1))
    True
    """

    _parameter_constraints: dict = {
        **_BaseSparseCoding._parameter_constraints,
        "dictionary": ["array-like", None],
        "fit_algorithm": [StrOptions({"bcd", "pgd"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=None,
        *,
        alpha=1.0,
        dictionary=None,
        solver="auto",
        fit_algorithm="bcd",
        max_iter=30,
        tol=1e-3,
        transform_max_iter=1000,
        transform_tol=1e-6,
        positive=False,
        batch_size=_TRANSFORM_BATCH,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.dictionary = dictionary
        self.solver = solver
        self.fit_algorithm = fit_algorithm
        self.max_iter = max_iter
        self.tol = tol
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.positive = positive
        self.batch_size = batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _given_dictionary(self, n_features, dtype):
        return check_dictionary(self.dictionary, n_features, self.n_components, dtype)

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` (or adopt the given one).

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : SparseCoder
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        _check_no_overflow(X)
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        Xt = to_tensor(X, device)
        learn = self.dictionary is None
        if learn:
            D = init_dictionary(Xt, self.n_components or X.shape[1], rng)
        else:
            D = to_tensor(self._given_dictionary(X.shape[1], X.dtype), device)
        objective, kkt = [], []
        start = time.perf_counter()
        for it in range(self.max_iter):
            H, primal = self._codes(Xt, D)
            A, B = H.T @ H, H.T @ Xt
            objective.append(float(primal.mean()))
            kkt.append(stationarity(D, A, B))
            self._log(
                f"iteration {it + 1}: objective={objective[-1]:.6g} "
                f"kkt={kkt[-1]:.3g} ({time.perf_counter() - start:.1f}s)"
            )
            if not learn or kkt[-1] <= self.tol:
                break
            update = update_dict_bcd_ if self.fit_algorithm == "bcd" else update_dict_pgd_
            unused = update(D, A, B)
            resample_atoms_(D, unused, Xt, H, rng)
        else:
            warnings.warn(
                f"Dictionary learning did not reach tol={self.tol} (stationarity "
                f"{kkt[-1]:.3g}) in max_iter={self.max_iter} iterations.",
                ConvergenceWarning,
                stacklevel=2,
            )
        self.components_ = to_numpy(D)
        self.objective_ = np.asarray(objective)
        self.stationarity_ = np.asarray(kkt)
        self.n_iter_ = len(objective)
        return self


class OnlineDictionaryLearner(_BaseSparseCoding, BaseEstimator):
    r"""Online dictionary learning (Mairal, Bach, Ponce and Sapiro, 2009).

    For each mini-batch :math:`X_t` of ``batch_size`` samples: infer the lasso
    codes :math:`H_t` with the current dictionary, update the running averages

    .. math::
        A \leftarrow \beta_t A + (1-\beta_t) H_t^\top H_t / b, \qquad
        B \leftarrow \beta_t B + (1-\beta_t) H_t^\top X_t / b,

    with :math:`\beta_t = \min(\text{forget\_factor}, 1 - 1/t)` (a plain
    average over the first batches, then exponential forgetting), and run one
    warm-started block-coordinate sweep
    :math:`d_j \leftarrow (b_j - A_j D + A_{jj} d_j)/A_{jj}`, normalised.
    Atoms no batch has used are replaced by badly reconstructed samples.
    ``partial_fit`` continues exactly where the last call stopped.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms; ``None`` means ``n_features``.
    alpha : float, default=1.0
        Weight of the :math:`\ell_1` penalty.
    batch_size : int, default=256
        Samples per mini-batch.
    forget_factor : float, default=0.97
        :math:`\beta` in the running averages, in (0, 1]: step ``t`` uses
        :math:`\beta_t = \min(\beta, 1 - 1/t)`, a plain average of the first
        batches, then a window of about :math:`1/(1-\beta)` batches. A short
        window forgets the codes computed with early, poor dictionaries; on
        100,000 whitened patches (256 atoms, batches of 256) 0.97 reached the
        best held-out objective after 1 to 3 epochs among 0.9 to 0.995.
    max_iter : int, default=10
        Epochs (passes over the data) of ``fit``.
    tol : float, default=1e-3
        ``fit`` stops when the mean objective of an epoch improves by less
        than ``tol`` relative to the previous epoch.
    shuffle : bool, default=True
        Shuffle the samples before each epoch of ``fit``.
    dict_init : array-like of shape (n_components, n_features), default=None
        Initial dictionary (rows normalised); random samples otherwise.
    solver : {"auto", "lars", "fista", "ista"}, default="auto"
        Lasso solver (see :func:`sparse_encode`): "lars" on the CPU and
        "fista" on a GPU by default. On a GPU the mini-batch codes of ``fit``
        and ``partial_fit`` take a fixed budget of 30 FISTA iterations (on
        whitened patches the learned dictionary was as good as with exact
        codes), so that no step waits for the host; ``transform`` is always
        exact.
    transform_max_iter : int, default=1000
        Iterations of the lasso solver.
    transform_tol : float, default=1e-6
        Relative duality-gap tolerance of the lasso solver.
    positive : bool, default=False
        Non-negative codes.
    device : str, default="auto"
        "auto" (CUDA when available), "cpu" or "cuda[:N]".
    random_state : int, RandomState instance or None, default=None
        Initial dictionary and shuffling.
    verbose : int, default=0
        Print the mean objective after each epoch.

    Attributes
    ----------
    components_ : ndarray of shape (n_components, n_features)
        Unit-norm atoms.
    A_ : ndarray of shape (n_components, n_components)
        Running average of :math:`h h^\top`.
    B_ : ndarray of shape (n_components, n_features)
        Running average of :math:`h x^\top`.
    objective_ : ndarray of shape (`n_iter_`,)
        Mean objective of the mini-batches of each epoch (each ``partial_fit``).
    n_iter_ : int
        Epochs run by ``fit`` (calls, for ``partial_fit``).
    n_steps_ : int
        Mini-batches processed so far.
    n_features_in_ : int
        Number of features seen during fit.
    feature_names_in_ : ndarray of shape (`n_features_in_`,)
        Names of features seen during fit, when they are all strings.

    See Also
    --------
    SparseCoder : batch dictionary learning.

    References
    ----------
    J. Mairal, F. Bach, J. Ponce, G. Sapiro, "Online dictionary learning for
    sparse coding", ICML 2009.

    Examples
    --------
    >>> import numpy as np
    >>> from skl_sparse import OnlineDictionaryLearner
    >>> X = np.random.RandomState(0).randn(500, 8)
    >>> odl = OnlineDictionaryLearner(16, alpha=0.5, batch_size=100, max_iter=2,
    ...                               random_state=0, device="cpu").fit(X)
    >>> odl.components_.shape, odl.n_steps_
    ((16, 8), 10)
    """

    _parameter_constraints: dict = {
        **_BaseSparseCoding._parameter_constraints,
        "forget_factor": [Interval(Real, 0, 1, closed="right")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
        "dict_init": ["array-like", None],
    }

    def __init__(
        self,
        n_components=None,
        *,
        alpha=1.0,
        batch_size=256,
        forget_factor=0.97,
        max_iter=10,
        tol=1e-3,
        shuffle=True,
        dict_init=None,
        solver="auto",
        transform_max_iter=1000,
        transform_tol=1e-6,
        positive=False,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.batch_size = batch_size
        self.forget_factor = forget_factor
        self.max_iter = max_iter
        self.tol = tol
        self.shuffle = shuffle
        self.dict_init = dict_init
        self.solver = solver
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.positive = positive
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _init_state(self, X, device, rng):
        n_components = self.n_components or X.shape[1]
        if self.dict_init is not None:
            D0 = check_array(self.dict_init, dtype=X.dtype, input_name="dict_init")
            if D0.shape != (n_components, X.shape[1]):
                raise ValueError(
                    f"dict_init has shape {D0.shape}, expected ({n_components}, {X.shape[1]})."
                )
            D = to_tensor(D0, device).clone()
            D /= torch.clamp(torch.linalg.vector_norm(D, dim=1), min=1e-12)[:, None]
        else:
            D = init_dictionary(X, n_components, rng, device=device)  # only the drawn rows move
        A = torch.zeros((n_components, n_components), dtype=D.dtype, device=device)
        B = torch.zeros_like(D)
        return {"D": D, "A": A, "B": B, "step": 0}

    def _state_from_attributes(self, device, dtype):
        # copies: on the CPU a tensor from numpy shares its memory, and the steps update
        # the state in place (earlier references to components_ must not change)
        return {
            "D": to_tensor(self.components_, device, dtype=dtype).clone(),
            "A": to_tensor(self.A_, device, dtype=dtype).clone(),
            "B": to_tensor(self.B_, device, dtype=dtype).clone(),
            "step": self.n_steps_,
            # the power-iteration vector of the GPU steps: partial_fit continues exactly
            "v": None if getattr(self, "_power_vector", None) is None else to_tensor(
                self._power_vector, device, dtype=dtype),
        }

    def _minibatch_step(self, Xb, state, rng):
        """One online step on tensor ``Xb``; returns the batch's mean objective (0-d tensor).

        On the CPU: exact codes and a block-coordinate sweep. On a GPU, where each
        small kernel and each wait for the host costs more than the arithmetic:
        `_sync_free_step`, captured once as a CUDA graph and replayed for every
        full batch (one launch instead of a few hundred).
        """
        D, A, B = state["D"], state["A"], state["B"]
        state["step"] += 1
        beta = min(self.forget_factor, 1.0 - 1.0 / state["step"])
        if _lasso.sync_free(Xb.device, self.solver):
            if state.get("v") is None:
                state["v"] = lipschitz_bound(D @ D.T)[1]
            if "beta" not in state:
                state["beta"] = torch.zeros((), dtype=D.dtype, device=D.device)
            state["beta"].fill_(beta)
            graph = state.get("graph")  # None: not captured yet; False: capture failed
            full = Xb.is_cuda and Xb.shape[0] == self.batch_size
            if full and graph:
                return graph(Xb)
            step = functools.partial(self._sync_free_step, state=state)
            if full and graph is None:
                out, replay = capture_cuda_graph(step, Xb)
                state["graph"] = replay or False
                return out
            return step(Xb)
        H, primal = self._codes(Xb, D)
        b = Xb.shape[0]
        A.mul_(beta).add_(H.T @ H, alpha=(1 - beta) / b)
        B.mul_(beta).add_(H.T @ Xb, alpha=(1 - beta) / b)
        unused = update_dict_bcd_(D, A, B)
        if unused:
            resample_atoms_(D, unused, Xb, H, rng)
            A[unused, :] = 0
            A[:, unused] = 0
            B[unused] = 0
        return primal.mean()

    def _sync_free_step(self, Xb, state):
        """The mini-batch step with no host synchronisation (every shape fixed).

        Budgeted codes (`lasso_gram_budget`), the running averages with ``beta``
        read from a device scalar, majorise-minimise steps on all atoms at once
        (`update_dict_parallel_`) and unused atoms resampled by masks.
        """
        D, A, B, beta = state["D"], state["A"], state["B"], state["beta"]
        G = D @ D.T
        lipschitz, v = lipschitz_bound(G, v=state["v"])
        state["v"].copy_(v)  # warm start for the next batch (D moves little)
        H, primal = lasso_gram_budget(
            Xb @ D.T, G, (Xb * Xb).sum(dim=1), self.alpha, positive=self.positive,
            n_iter=BUDGET_ITER, lipschitz=lipschitz,
        )
        weight = (1 - beta) / Xb.shape[0]
        A.mul_(beta).add_((H.T @ H) * weight)
        B.mul_(beta).add_((H.T @ Xb) * weight)
        unused = update_dict_parallel_(D, A, B)
        resample_atoms_masked_(D, A, B, unused, Xb, H)
        return primal.mean()

    def _run_epoch(self, X, order, state, rng, device, desc="epoch"):
        """Mini-batch steps over ``X[order]``; the mean batch objective (one host sync).

        The data go to the device in chunks of many batches (a copy from host
        memory waits for the device, so one per batch would stall it).
        """
        losses = []
        chunk = _upload_rows(X.shape[1], X.itemsize, self.batch_size)
        batches = progress(gen_batches_idx(len(order), self.batch_size), verbose=self.verbose,
                           desc=desc)
        Xc, base = None, 0
        for start, stop in batches:
            if Xc is None or stop > base + Xc.shape[0]:
                base = start
                Xc = to_tensor(X[order[start : start + chunk]], device)
            losses.append(self._minibatch_step(Xc[start - base : stop - base], state, rng))
        return float(torch.stack(losses).mean()) if losses else float("nan")

    def _store(self, state, objective, rng):
        self.components_ = to_numpy(state["D"])
        self.A_ = to_numpy(state["A"])
        self.B_ = to_numpy(state["B"])
        self.n_steps_ = state["step"]
        self._power_vector = None if state.get("v") is None else to_numpy(state["v"])
        self.objective_ = np.asarray(objective)
        self._rng = rng

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def fit(self, X, y=None):
        """Learn the dictionary with ``max_iter`` epochs of mini-batches.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : OnlineDictionaryLearner
        """
        X = validate_data(self, X, dtype=[np.float64, np.float32])
        _check_no_overflow(X)
        device = resolve_device(self.device)
        rng = check_random_state(self.random_state)
        state = self._init_state(X, device, rng)
        objective = []
        start = time.perf_counter()
        for epoch in range(self.max_iter):
            order = rng.permutation(X.shape[0]) if self.shuffle else np.arange(X.shape[0])
            epoch_desc = f"epoch {epoch + 1}"
            objective.append(self._run_epoch(X, order, state, rng, device, epoch_desc))
            self._log(
                f"epoch {epoch + 1}: objective={objective[-1]:.6g} "
                f"({time.perf_counter() - start:.1f}s)"
            )
            if epoch and objective[-2] - objective[-1] <= self.tol * abs(objective[-2]):
                break
        else:
            if self.max_iter > 1:
                warnings.warn(
                    f"{type(self).__name__}: the epoch objective still improved by more "
                    f"than tol={self.tol} after max_iter={self.max_iter} epochs.",
                    ConvergenceWarning,
                    stacklevel=2,
                )
        self._store(state, objective, rng)
        self.n_iter_ = len(objective)
        return self

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def partial_fit(self, X, y=None):
        """One pass over ``X`` in mini-batches, continuing from the current state.

        ``partial_fit`` on consecutive chunks whose sizes are multiples of
        ``batch_size`` gives exactly ``fit(..., shuffle=False, max_iter=1)`` on
        their concatenation.

        Parameters
        ----------
        X : array-like of shape (n_samples, n_features)
        y : Ignored

        Returns
        -------
        self : OnlineDictionaryLearner
        """
        first = not hasattr(self, "components_")
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=first)
        _check_no_overflow(X)
        device = resolve_device(self.device)
        if first:
            rng = check_random_state(self.random_state)
            state = self._init_state(X, device, rng)
            objective = []
        else:
            rng = self._rng
            state = self._state_from_attributes(device, X.dtype)
            objective = list(self.objective_)
        objective.append(self._run_epoch(X, np.arange(X.shape[0]), state, rng, device))
        self._store(state, objective, rng)
        self.n_iter_ = len(objective)
        return self
