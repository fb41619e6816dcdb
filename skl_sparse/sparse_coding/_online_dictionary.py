"""OnlineDictionaryLearner: Mairal et al.'s online dictionary learning."""

import functools

import numpy as np
import torch
from sklearn.base import BaseEstimator

from .. import _solvers
from .._device import capture_cuda_graph, to_numpy, to_tensor
from .._docstrings import fill_doc
from .._solvers import lipschitz_bound
from .._validation import check_dictionary, suggests_names
from ._base import CODING_CONSTRAINTS, _OnlineLearner
from ._dict_learning import online_step_, online_step_sync_free_
from ._dictionary import init_dictionary, project_atoms_


@fill_doc()
class OnlineDictionaryLearner(_OnlineLearner, BaseEstimator):
    r"""Online dictionary learning (Mairal, Bach, Ponce and Sapiro, 2009).

    For each mini-batch :math:`X_t` of ``batch_size`` samples: infer the lasso
    codes :math:`H_t` with the current dictionary, update the running averages

    .. math::
        A \leftarrow \beta_t A + (1-\beta_t) H_t^\top H_t / b, \qquad
        B \leftarrow \beta_t B + (1-\beta_t) H_t^\top X_t / b,

    with :math:`\beta_t = \min(\text{forget_factor}, 1 - 1/t)` (a plain
    average over the first batches, then exponential forgetting), and run one
    warm-started block-coordinate sweep
    :math:`d_j \leftarrow (b_j - A_j D + A_{jj} d_j)/A_{jj}`, normalised.
    Atoms no batch has used are replaced by badly reconstructed samples.
    ``partial_fit`` continues exactly where the last call stopped.

    Read more in the :ref:`User Guide <sparse_coding>`.

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
        than ``tol`` relative to the previous epoch; 0 runs all ``max_iter``
        epochs.
    shuffle : bool, default=True
        Shuffle the samples before each epoch of ``fit``.
    dict_init : array-like of shape (n_components, n_features), default=None
        Initial dictionary (rows normalised); random samples otherwise.
    solver : {"auto", "lars", "fista", "ista", "omp", "ols", "lar", "threshold"}, default="auto"
        Coding solver (see :func:`sparse_encode`): the lasso's ("lars" on the
        CPU and "fista" on a GPU by default; in ``transform``, after the
        homotopy kernel where it pays), a greedy :math:`\ell_0` one, or
        thresholding. On a GPU with a lasso solver the mini-batch codes of
        ``fit`` and ``partial_fit`` take a fixed budget of 30 FISTA iterations
        (on whitened patches the learned dictionary was as good as with exact
        codes), so that no step waits for the host; ``transform`` is always
        exact.
    {l0_parameters}
    {lasso_parameters}
    {split_sign_parameter}
    positive_dict : bool, default=False
        Constrain the atoms to be non-negative (each update is projected).
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
    {online_attributes}
    {fitted_features}

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
        **_OnlineLearner._parameter_constraints,
        **CODING_CONSTRAINTS,
        "dict_init": ["array-like", None],
    }
    _steps_own_threads = True

    @suggests_names
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
        n_nonzero_coefs=None,
        residual_tol=None,
        transform_max_iter=1000,
        transform_tol=1e-6,
        positive=False,
        split_sign=False,
        positive_dict=False,
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
        self.n_nonzero_coefs = n_nonzero_coefs
        self.residual_tol = residual_tol
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.positive = positive
        self.split_sign = split_sign
        self.positive_dict = positive_dict
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _init_state(self, X, device, rng):
        n_components = self.n_components or X.shape[1]
        if self.dict_init is not None:
            D0 = check_dictionary(self.dict_init, X.shape[1], n_components, X.dtype,
                                  name="dict_init")
            D = to_tensor(D0, device).clone()
            project_atoms_(D, self.positive_dict)
        else:  # only the drawn rows move to the device
            D = init_dictionary(X, n_components, rng, device=device, positive=self.positive_dict)
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
        beta = self._next_beta(state)
        if _solvers.sync_free(Xb.device, self.solver):
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
        return online_step_(Xb, D, A, B, beta, self._codes, rng, self.positive_dict)

    def _sync_free_step(self, Xb, state):
        """`online_step_sync_free_` on the state (the step the CUDA graph captures)."""
        return online_step_sync_free_(Xb, state["D"], state["A"], state["B"], state["beta"],
                                      state["v"], self.alpha, self.positive,
                                      self.positive_dict)

    def _store(self, state, objective, rng):
        self.components_ = to_numpy(state["D"])
        self.A_ = to_numpy(state["A"])
        self.B_ = to_numpy(state["B"])
        self.n_steps_ = state["step"]
        self._power_vector = None if state.get("v") is None else to_numpy(state["v"])
        self.objective_ = np.asarray(objective)
        self._rng = rng
