"""SparseCoder: lasso codes on a dictionary learned in batch (or given)."""

from numbers import Integral, Real

import numpy as np
from sklearn.base import BaseEstimator
from sklearn.utils._param_validation import Interval, StrOptions

from .._device import to_numpy, to_tensor
from .._docstrings import fill_doc
from .._validation import check_dictionary
from ._base import _BaseSparseCoding
from ._dict_learning import dict_learning_batch
from ._dictionary import init_dictionary, update_dict_bcd_, update_dict_pgd_
from ._encode import TRANSFORM_BATCH


@fill_doc()
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
    solver : {"auto", "lars", "fista", "ista"}, default="auto"
        Lasso solver (see :func:`sparse_encode`): "lars" on the CPU and
        "fista" on a GPU by default, after the homotopy kernel where a sample of
        the rows says it finishes nearly all of them.
    dict_update : {"bcd", "pgd"}, default="bcd"
        Dictionary update: block-coordinate descent or projected gradient.
    max_iter : int, default=30
        Alternations of inference and dictionary update.
    tol : float, default=1e-3
        Stationarity tolerance of the dictionary.
    {lasso_parameters}
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
        "dict_update": [StrOptions({"bcd", "pgd"})],
        "max_iter": [Interval(Integral, 1, None, closed="left")],
        "transform_batch_size": [Interval(Integral, 1, None, closed="left")],
        "tol": [Interval(Real, 0, None, closed="left")],
    }

    def __init__(
        self,
        n_components=None,
        *,
        alpha=1.0,
        dictionary=None,
        solver="auto",
        dict_update="bcd",
        max_iter=30,
        tol=1e-3,
        transform_max_iter=1000,
        transform_tol=1e-6,
        positive=False,
        transform_batch_size=TRANSFORM_BATCH,
        device="auto",
        random_state=None,
        verbose=0,
    ):
        self.n_components = n_components
        self.alpha = alpha
        self.dictionary = dictionary
        self.solver = solver
        self.dict_update = dict_update
        self.max_iter = max_iter
        self.tol = tol
        self.transform_max_iter = transform_max_iter
        self.transform_tol = transform_tol
        self.positive = positive
        self.transform_batch_size = transform_batch_size
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _transform_batch_size(self):
        return self.transform_batch_size

    def _given_dictionary(self, n_features, dtype):
        return check_dictionary(self.dictionary, n_features, self.n_components, dtype)

    def _fit(self, X, device, rng):
        """Alternations of exact codes and dictionary updates (`dict_learning_batch`)."""
        Xt = to_tensor(X, device)
        learn = self.dictionary is None
        if learn:
            D = init_dictionary(Xt, self.n_components or X.shape[1], rng)
        else:
            D = to_tensor(self._given_dictionary(X.shape[1], X.dtype), device)
        update = update_dict_bcd_ if self.dict_update == "bcd" else update_dict_pgd_
        objective, kkt = dict_learning_batch(
            Xt, D, self._codes, update, max_iter=self.max_iter, tol=self.tol, rng=rng,
            learn=learn, log=self._log,
        )
        self.components_ = to_numpy(D)
        self.objective_ = np.asarray(objective)
        self.stationarity_ = np.asarray(kkt)
        self.n_iter_ = len(objective)
