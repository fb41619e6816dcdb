"""SparseCoder: sparse codes on a dictionary learned in batch (or given)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, InvalidParameterError, StrOptions

from .._device import to_numpy, to_tensor
from .._docstrings import fill_doc
from .._validation import check_dictionary, suggests_names
from ._base import CODING_CONSTRAINTS, _BaseSparseCoding
from ._dict_learning import dict_learning_batch
from ._dictionary import DICT_UPDATES, init_dictionary, project_atoms_
from ._encode import TRANSFORM_BATCH


@fill_doc()
class SparseCoder(_BaseSparseCoding, BaseEstimator):
    r"""Sparse coding with a dictionary learned in batch (or given).

    With a lasso solver, codes solve, for every sample :math:`x`,

    .. math:: h(x) = \arg\min_h \tfrac12 \|x - h D\|_2^2 + \alpha \|h\|_1,

    with unit-norm atoms (rows of :math:`D`); the greedy solvers ("omp",
    "ols", "lar") give instead :math:`\ell_0` codes of ``n_nonzero_coefs``
    atoms (see :func:`sparse_encode`). Without ``dictionary``, ``fit``
    learns :math:`D` on the whole training set by alternating exact inference
    of all codes and a dictionary update from :math:`A=\sum_t h_t h_t^\top`,
    :math:`B=\sum_t h_t^\top x_t`: block-coordinate descent
    (:math:`d_j \leftarrow (b_j - A_j D + A_{jj} d_j)/A_{jj}`, then
    normalise; the objective never increases), a projected gradient step, or
    K-SVD, which updates each atom with the codes that use it (the rank-one
    approximation :math:`g d^\top` of the residual without the atom, by one
    power step; the usual partner of OMP codes). Unused atoms are replaced by
    the worst-reconstructed samples. It stops when the relative norm of the
    dictionary's Riemannian gradient on the unit sphere (its KKT violation) is
    below ``tol``.

    Read more in the :ref:`User Guide <sparse_coding>`.

    Parameters
    ----------
    n_components : int, default=None
        Number of atoms; ``None`` means ``n_features`` (or the number of rows
        of ``dictionary``).
    alpha : float, default=1.0
        Weight of the :math:`\ell_1` penalty.
    dictionary : array-like of shape (n_components, n_features), default=None
        Fixed dictionary; when given, ``fit`` learns nothing and uses it as is.
    dict_init : array-like of shape (n_components, n_features), default=None
        Initial dictionary of the learning (rows normalised; with
        ``positive_dict``, projected): for example the principal components of
        the data, or a DCT basis. Random samples of ``X`` otherwise.
    solver : {"auto", "lars", "fista", "ista", "omp", "ols", "lar", "threshold"}, default="auto"
        Coding solver (see :func:`sparse_encode`): the lasso's ("lars" on the
        CPU and "fista" on a GPU by default, after the homotopy kernel where a
        sample of the rows says it finishes nearly all of them), a greedy
        :math:`\ell_0` one, or thresholding.
    {l0_parameters}
    dict_update : {"bcd", "pgd", "ksvd"}, default="bcd"
        Dictionary update: block-coordinate descent, projected gradient, or
        approximate K-SVD (Rubinstein et al. 2008).
    max_iter : int, default=200
        Most alternations of inference and dictionary update; the fit stops
        earlier when the dictionary is stationary to ``tol`` (40 alternations
        on scikit-learn's digits, 83 on 20,000 whitened 12×12 patches).
    tol : float, default=1e-3
        Stationarity tolerance of the dictionary.
    {lasso_parameters}
    {split_sign_parameter}
    positive_dict : bool, default=False
        Constrain the learned atoms to be non-negative (not with
        ``dict_update="ksvd"``).
    transform_batch_size : int, default=4096
        Samples coded at once by ``transform`` (memory
        O(transform_batch_size x n_components)).
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
    {fitted_features}

    See Also
    --------
    OnlineDictionaryLearner : the same model learned from mini-batches.
    sparse_encode : the coding function.

    References
    ----------
    Olshausen and Field, "Emergence of simple-cell receptive field properties
    by learning a sparse code for natural images", Nature 1996.

    R. Rubinstein, M. Zibulevsky and M. Elad, "Efficient implementation of the
    K-SVD algorithm using batch orthogonal matching pursuit", Technion 2008.

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
    >>> ksvd = SparseCoder(n_components=12, solver="omp", n_nonzero_coefs=2,
    ...                    dict_update="ksvd", random_state=0, device="cpu").fit(X)
    >>> int((ksvd.transform(X) != 0).sum(axis=1).max())
    2
    """

    _parameter_constraints: dict = {
        **_BaseSparseCoding._parameter_constraints,
        **CODING_CONSTRAINTS,
        "dictionary": ["array-like", None],
        "dict_init": ["array-like", None],
        "dict_update": [StrOptions(set(DICT_UPDATES))],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "transform_batch_size": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    @suggests_names
    def __init__(
        self,
        n_components=None,
        *,
        alpha=1.0,
        dictionary=None,
        dict_init=None,
        solver="auto",
        n_nonzero_coefs=None,
        residual_tol=None,
        dict_update="bcd",
        max_iter=200,
        tol=1e-3,
        transform_max_iter=1000,
        transform_tol=1e-6,
        positive=False,
        split_sign=False,
        positive_dict=False,
        transform_batch_size=TRANSFORM_BATCH,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.dictionary = dictionary
        self.dict_init = dict_init
        self.solver = solver
        self.n_nonzero_coefs = n_nonzero_coefs
        self.residual_tol = residual_tol
        self.dict_update = dict_update
        self.max_iter = max_iter
        self.tol = tol
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.positive = positive
        self.split_sign = split_sign
        self.positive_dict = positive_dict
        self.transform_batch_size = transform_batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _transform_batch_size(self):
        return self.transform_batch_size

    def _validate_params(self):
        if np.ndim(self.n_components) > 0:  # scikit-learn's SparseCoder(dictionary)
            raise InvalidParameterError(
                "The 'n_components' parameter of SparseCoder must be an int or None, got "
                f"an array of shape {np.shape(self.n_components)}: a fixed dictionary is "
                "given as SparseCoder(dictionary=D) (skl_sparse.decomposition.SparseCoder "
                "takes it first, as scikit-learn's).")
        super()._validate_params()

    def _given_dictionary(self, n_features, dtype):
        return check_dictionary(self.dictionary, n_features, self.n_components, dtype)

    def _fit(self, X, device, rng):
        """Alternations of exact codes and dictionary updates (`dict_learning_batch`)."""
        if self.positive_dict and self.dict_update == "ksvd":
            raise ValueError("positive_dict=True is not supported by dict_update='ksvd': "
                             "use dict_update='bcd' or 'pgd'.")
        Xt = to_tensor(X, device)
        learn = self.dictionary is None
        if learn and self.dict_init is not None:
            D = to_tensor(check_dictionary(self.dict_init, X.shape[1], self.n_components,
                                           X.dtype, name="dict_init"), device)
            project_atoms_(D, self.positive_dict)
        elif learn:
            D = init_dictionary(Xt, self.n_components or X.shape[1], rng,
                                positive=self.positive_dict)
        else:
            D = to_tensor(self._given_dictionary(X.shape[1], X.dtype), device)
        objective, kkt = dict_learning_batch(
            Xt, D, self._codes, DICT_UPDATES[self.dict_update], max_iter=self.max_iter,
            tol=self.tol, rng=rng, learn=learn, log=self._log, positive=self.positive_dict,
        )
        self.components_ = to_numpy(D)
        self.objective_ = np.asarray(objective)
        self.stationarity_ = np.asarray(kkt)
        self.n_iter_ = len(objective)
