"""Private bases of the dictionary estimators: transform-time behaviour, online learning.

`_BaseSparseCoding` holds what every estimator with ``components_`` and lasso codes
shares (transform, inverse_transform, score, tags); `_OnlineLearner` adds the online
loop (``fit`` in epochs of mini-batches, ``partial_fit`` continuing exactly) around
four hooks a subclass defines: ``_init_state``, ``_state_from_attributes``,
``_minibatch_step`` and ``_store``.
"""

import copy
import math
import time
from numbers import Integral, Real

import numpy as np
import torch
from sklearn.base import _fit_context
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils._param_validation import Interval, StrOptions
from sklearn.utils.validation import check_is_fitted, validate_data

from .._array_api import dispatched_namespace, from_torch, public_arrays_to, to_torch
from .._base import DEVICE_CONSTRAINTS, _Transformer, restore_on_error
from .._device import host_matmul, own_threads, resolve_device
from .._docstrings import fill_doc
from .._solvers import GREEDY_SOLVERS, SOLVERS, lasso_objective
from .._validation import check_codes, check_no_overflow, finite_on_device, warn_user
from ._dict_learning import online_epoch
from ._encode import (
    CODERS,
    TRANSFORM_BATCH,
    check_positive_supported,
    encode_numpy,
    encode_tensor,
    encode_tensors,
    owns_cpu_threads,
    resolve_n_nonzero_coefs,
)

# the options of the estimators that code with every solver, not only the lasso's
CODING_CONSTRAINTS = {
    "solver": [StrOptions(set(CODERS))],
    "n_nonzero_coefs": [Interval(Integral, 1, None, closed="left"), None],
    "residual_tol": [Interval(Real, 0, None, closed="left"), None],
    "split_sign": ["boolean"],
    "positive_dict": ["boolean"],
}


@fill_doc()
class _BaseSparseCoding(_Transformer):
    """Transform-time behaviour shared by the dictionary-based estimators.

    The options of `CODING_CONSTRAINTS` are parameters of the estimators that take them;
    the class values below stand for the others (lasso codes, as they are).
    """

    n_nonzero_coefs = None
    residual_tol = None
    split_sign = False

    _parameter_constraints: dict = {
        "n_components": [Interval(Integral, 1, None, closed="left"), None],
        "alpha": [Interval(Real, 0, None, closed="left")],
        "solver": [StrOptions(set(SOLVERS))],
        "positive": ["boolean"],
        "transform_max_iter": [Interval(Integral, 1, None, closed="left")],
        "transform_tol": [Interval(Real, 0, None, closed="left")],
        **DEVICE_CONSTRAINTS,
    }

    @property
    def _n_features_out(self):
        return self.components_.shape[0] * (2 if self.split_sign else 1)

    def _check_fit_data(self, X, reset=True):
        """``fit``'s validation: the data (float64/float32, no overflow), the options
        that exclude each other, the device. Returns ``(X, device, namespace)``: under
        Array API dispatch ``X`` is a tensor on its own device, which the fit computes
        on, and ``namespace`` the ``(xp, device)`` the fitted attributes go to; without
        it a numpy array, ``resolve_device(self.device)`` and None."""
        xp, xp_device = (dispatched_namespace(X) if reset
                         else self._fitted_namespace(X, "partial_fit"))
        if xp is None:
            X = validate_data(self, X, dtype=[np.float64, np.float32], reset=reset)
            device, namespace = resolve_device(self.device), None
        else:
            X = self._tensor_input(X, xp, reset)
            device, namespace = X.device, (xp, xp_device)
        check_positive_supported(self.solver, self.positive)
        check_no_overflow(X)
        return X, device, namespace

    def _coding(self, n_components, n_features):
        """The keyword arguments of `encode_tensor` and `encode_numpy` for this
        estimator's codes (``n_nonzero_coefs`` resolved for the greedy solvers)."""
        kwargs = {"solver": self.solver, "positive": self.positive,
                  "max_iter": self.transform_max_iter, "tol": self.transform_tol}
        if self.solver in GREEDY_SOLVERS:
            residual_tol = self.residual_tol if self.solver != "lar" else None
            kwargs["residual_tol"] = residual_tol
            kwargs["n_nonzero_coefs"] = None if residual_tol is not None else (
                resolve_n_nonzero_coefs(self.n_nonzero_coefs, n_components, n_features))
        return kwargs

    def _objective(self, X, D, H):
        """Per-sample objective of codes ``H`` (tensors): the lasso's, or half the
        squared residual for the greedy codes."""
        if self.solver in GREEDY_SOLVERS:
            R = X - H @ D
            return 0.5 * (R * R).sum(dim=1)
        return lasso_objective(X, D, H, self.alpha)

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def fit(self, X, y=None):
        """Learn the dictionary from ``X`` (a fixed ``dictionary`` is used as given).

        {fit_parameters}

        {fit_returns}
        """
        X, device, namespace = self._check_fit_data(X)
        self._fit(X, device, check_random_state(self.random_state))
        if namespace is not None:
            public_arrays_to(self, *namespace)
        return self

    def _codes(self, X, D):
        """Codes of tensor ``X`` on the dictionary being learned, and their objectives."""
        H, objective, _ = encode_tensor(X, D, self.alpha, **self._coding(*D.shape))
        return H, objective

    def _validated_codes(self, X, method="transform"):
        """Validated ``X`` (fitted, float, right width), its codes (not split) and the
        ``(xp, device)`` of Array API dispatch (None without): under dispatch ``X`` and
        the codes are tensors on ``X``'s device, else numpy arrays."""
        check_is_fitted(self)
        xp, xp_device = self._fitted_namespace(X, method)
        check_positive_supported(self.solver, self.positive)
        options = {**self._coding(*self.components_.shape),
                   "batch_size": self._transform_batch_size()}
        if xp is not None:
            X = self._tensor_input(X, xp, reset=False)
            codes = encode_tensors(X, to_torch(self.components_, xp), self.alpha, **options)
            return X, codes, (xp, xp_device)
        X = validate_data(self, X, dtype=[np.float64, np.float32], reset=False,
                          ensure_all_finite=not finite_on_device(self.device))
        codes = encode_numpy(X, self.components_, self.alpha, device=self.device, **options)
        return X, codes, None

    def transform(self, X):
        """Codes of ``X`` on the learned dictionary (split by sign with ``split_sign``).

        {transform_parameters}

        {codes_returns}
        """
        _, codes, namespace = self._validated_codes(X)
        if namespace is not None:
            if self.split_sign:
                codes = torch.cat([codes.clamp(min=0), (-codes).clamp(min=0)], dim=1)
            return from_torch(codes, *namespace)
        if not self.split_sign:
            return codes
        return np.hstack([np.maximum(codes, 0), np.maximum(-codes, 0)])

    def inverse_transform(self, X):
        """Reconstruction ``codes @ components_`` (codes split by sign are first
        recombined, ``h = h_+ - h_-``).

        {inverse_transform_doc}
        """
        check_is_fitted(self)
        xp = self._fitted_namespace(X, "inverse_transform")[0]
        k = self.components_.shape[0]
        if self.split_sign and getattr(X, "shape", (0, 0))[-1] == 2 * k:
            X = check_codes(self, X, 2 * k, xp)
            X = X[:, :k] - X[:, k:]
        X = check_codes(self, X, k, xp)
        if xp is not None:
            return X @ xp.astype(self.components_, X.dtype)
        return host_matmul(X, self.components_.astype(X.dtype, copy=False))

    def score(self, X, y=None):
        """Negative mean objective of ``X``'s codes (higher is better): the lasso
        objective, or half the squared residual for the greedy solvers.

        {score_doc}
        """
        X, codes, namespace = self._validated_codes(X, "score")
        if namespace is not None:
            D = to_torch(self.components_, namespace[0]).to(device=X.device, dtype=X.dtype)
            return -float(self._objective(X, D, codes).mean())
        D = self.components_.astype(X.dtype, copy=False)
        obj = self._objective(*(torch.from_numpy(np.ascontiguousarray(a)) for a in (X, D, codes)))
        return -float(obj.mean())


@fill_doc()
class _OnlineLearner(_BaseSparseCoding):
    """``fit``/``partial_fit`` by mini-batches around the subclass's step and state."""

    _parameter_constraints: dict = {
        **_BaseSparseCoding._parameter_constraints,
        "batch_size": [Interval(Integral, 1, None, closed="left")],
        "forget_factor": [Interval(Real, 0, 1, closed="right")],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
        "shuffle": ["boolean"],
    }

    # whether a whole epoch on the CPU runs torch on one thread (`_device.own_threads`):
    # it pays for steps of small products around the homotopy, whose threads torch's would
    # spin against, not for steps of many larger torch operations (benchmarks/README.md)
    _steps_own_threads = False

    def _next_beta(self, state):
        """Count one more mini-batch; its weight ``beta_t = min(forget_factor, 1 - 1/t)``
        of the running averages (a plain average of the first batches)."""
        state["step"] += 1
        return min(self.forget_factor, 1.0 - 1.0 / state["step"])

    def _transform_batch_size(self):
        # transform codes many samples at once; mini-batches of learning are smaller
        return max(self.batch_size, TRANSFORM_BATCH)

    def _run_epoch(self, X, order, state, rng, device, desc="epoch"):
        """Mini-batch steps over ``X[order]``; the mean batch objective (one host sync)."""
        def step(Xb):
            return self._minibatch_step(Xb, state, rng)

        with own_threads(self._steps_own_threads and owns_cpu_threads(device, self.solver)):
            objective = online_epoch(step, X, order, self.batch_size, device,
                                     verbose=self.verbose, desc=desc)
        if not math.isfinite(objective) or self._state_diverged(state):
            raise ValueError(
                f"{type(self).__name__} diverged (epoch objective {objective}); "
                f"{self._divergence_hint} The estimator was left unchanged."
            )
        return objective

    # what to change when an epoch diverges
    _divergence_hint = "rescale X."

    def _state_diverged(self, state):
        """Whether the learned state shows a diverged epoch, beyond a non-finite
        objective (a subclass whose steps can diverge checks it here)."""
        return False

    def _fit(self, X, device, rng):
        """``max_iter`` epochs of mini-batches, stopping when an epoch gains < ``tol``."""
        state = self._init_state(X, device, rng)
        objective = []
        start = time.perf_counter()
        for epoch in range(self.max_iter):
            order = rng.permutation(X.shape[0]) if self.shuffle else np.arange(X.shape[0])
            epoch_desc = f"epoch {epoch + 1}"
            objective.append(self._run_epoch(X, order, state, rng, device, epoch_desc))
            now = time.perf_counter()
            self._log(f"epoch {epoch + 1}: objective={objective[-1]:.6g} ({now - start:.1f}s)")
            start = now
            # tol=0 runs every epoch (scikit-learn's meaning): the float32 objective
            # stalls in its last bits long before the float64 one, and stopping there
            # would part the two precisions' dictionaries
            if (self.tol > 0 and epoch
                    and objective[-2] - objective[-1] <= self.tol * abs(objective[-2])):
                break
        else:
            if self.max_iter > 1:
                warn_user(
                    f"{type(self).__name__}: the epoch objective still improved by more "
                    f"than tol={self.tol} after max_iter={self.max_iter} epochs.",
                    ConvergenceWarning,
                )
        self._store(state, objective, rng)
        self.n_iter_ = len(objective)

    @_fit_context(prefer_skip_nested_validation=True)
    @restore_on_error
    def partial_fit(self, X, y=None):
        """One pass over ``X`` in mini-batches, continuing from the current state.

        ``partial_fit`` on consecutive chunks whose sizes are multiples of
        ``batch_size`` gives exactly ``fit(..., shuffle=False, max_iter=1)`` on
        their concatenation.

        {fit_parameters}

        {fit_returns}
        """
        first = not hasattr(self, "components_")
        X, device, namespace = self._check_fit_data(X, reset=first)
        if first:
            rng = check_random_state(self.random_state)
            state = self._init_state(X, device, rng)
            objective = []
        else:
            # a copy: a failed step must not leave the stored stream advanced
            rng = copy.deepcopy(self._rng)
            state = self._state_from_attributes(device, X.dtype)
            objective = [float(value) for value in self.objective_]
        start = time.perf_counter()
        desc = f"epoch {len(objective) + 1}"
        objective.append(self._run_epoch(X, np.arange(X.shape[0]), state, rng, device, desc))
        self._log(f"{desc}: objective={objective[-1]:.6g} "
                  f"({time.perf_counter() - start:.1f}s)")
        self._store(state, objective, rng)
        self.n_iter_ = len(objective)
        if namespace is not None:
            public_arrays_to(self, *namespace)
        return self
