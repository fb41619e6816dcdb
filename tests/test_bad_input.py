"""Bad input for every public estimator (issue #13): a ValueError or TypeError whose
message names the problem, or a correct (finite) result; never NaN output, a hang or a
raw linear-algebra error."""

import warnings

import numpy as np
import pytest
import scipy.sparse as sp
from _config import INIT_PARAMS, OPTION_VARIANTS, TENSOR_DEVICE, all_estimators
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

# every estimator, and each option variant of the common checks
CASES = [(name, cls(**{**INIT_PARAMS.get(name, {}), **variant}), variant)
         for name, cls in all_estimators()
         for variant in [{}, *OPTION_VARIANTS.get(name, [])]]
ESTIMATORS = [est for _, est, _ in CASES]
IDS = [name + "".join(f"-{k}={v}" for k, v in variant.items()) for name, _, variant in CASES]
NAMES = {id(est): name for name, est, _ in CASES}

# one invalid value per estimator, for a parameter it has
INVALID = {"ZCAWhitener": ("eps", -1.0), "ImagePatchEncoder": ("n_fit_patches", 0),
           "decomposition.SparseCoder": ("transform_max_iter", -1)}

BAD_X = {
    "nan": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.nan, X),
            r"NaN"),
    "inf": (lambda X: np.where(np.arange(X.size).reshape(X.shape) == 3, np.inf, X),
            r"[Ii]nf"),
    "empty": (lambda X: X[:0], r"0 sample"),
    "1-D": (lambda X: X[:, 0], r"2D array|1D"),
    "3-D": (lambda X: X[:, :, None], r"dim"),
    "complex": (lambda X: X + 1j, r"[Cc]omplex"),
    "object": (lambda X: np.array([["a"] * X.shape[1]] * len(X), dtype=object),
               r"convert|numeric|dtype"),
    "sparse": (lambda X: sp.csr_matrix(X), r"[Ss]parse"),
}


def _data(rng):
    return np.abs(rng.randn(40, 9))  # non-negative: valid for every estimator


def _call(fn):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return fn()


@pytest.mark.parametrize("case", list(BAD_X))
@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_bad_fit_input_gets_a_clear_error(est, case, rng):
    if case == "3-D" and type(est).__name__ == "ImagePatchEncoder":
        pytest.skip("(n, h, w) images are valid input of ImagePatchEncoder")
    make, match = BAD_X[case]
    with pytest.raises((ValueError, TypeError), match=match):
        _call(lambda: clone(est).fit(make(_data(rng))))


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_huge_values_are_rejected_or_coded_finitely(est, rng):
    X = _data(rng)
    for scale in (1e30, 1e200):
        try:
            out = _call(lambda s=scale: clone(est).fit(X * s).transform(X * s))
        except ValueError as exc:
            assert any(w in str(exc) for w in ("rescale", "range", "diverged", "overflow")), exc
        else:
            assert np.all(np.isfinite(out))


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_wrong_n_features_after_fit(est, rng):
    X = _data(rng)
    fitted = _call(lambda: clone(est).fit(X))
    with pytest.raises(ValueError, match="features"):
        fitted.transform(X[:, :5])
    if hasattr(fitted, "partial_fit"):
        with pytest.raises(ValueError, match="features"):
            fitted.partial_fit(X[:, :5])
    # the fitted model is still usable
    assert np.all(np.isfinite(fitted.transform(X)))


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_invalid_parameter_is_named(est, rng):
    name = NAMES[id(est)]
    param, value = INVALID.get(name, ("n_components", 0))
    with pytest.raises(InvalidParameterError, match=param):
        clone(est).set_params(**{param: value}).fit(_data(rng))


def _arrays(est):
    """Every array of a fitted estimator (fitted attributes, private ones and lists of
    layers), as numpy copies by name: its state, to compare before and after a call."""
    import torch

    out = {}
    for name, value in vars(est).items():
        for i, A in enumerate(value if isinstance(value, list) else [value]):
            if torch.is_tensor(A):
                out[f"{name}[{i}]"] = A.detach().cpu().numpy().copy()
            elif isinstance(A, np.ndarray):
                out[f"{name}[{i}]"] = A.copy()
    return out


@pytest.mark.parametrize("est", ESTIMATORS, ids=IDS)
def test_bad_tensor_input_gets_the_same_clear_errors(est, rng):
    """Under Array API dispatch, tensor input gets numpy input's errors (NaN, infinity,
    complex values, the wrong number of features, an input from another namespace), and
    a fit or partial_fit that fails leaves the model fitted on tensors as it was."""
    import sklearn
    import torch

    X = torch.asarray(_data(rng), device=TENSOR_DEVICE)
    nan, inf = X.clone(), X.clone()
    nan[3, 2], inf[3, 2] = float("nan"), float("inf")
    with sklearn.config_context(array_api_dispatch=True):
        for bad, match in ((nan, "NaN"), (inf, "[Ii]nf"),
                           (X.to(torch.complex128), "[Cc]omplex")):
            with pytest.raises(ValueError, match=match):
                _call(lambda b=bad: clone(est).fit(b))
        fitted = _call(lambda: clone(est).fit(X))
        before = _arrays(fitted)
        assert before, "no fitted array to compare"
        with pytest.raises(ValueError, match="features"):
            fitted.transform(X[:, :5])
        with pytest.raises(ValueError, match="namespace"):
            fitted.transform(X.cpu().numpy())
        for method in ("fit", "partial_fit"):
            if hasattr(fitted, method):
                with pytest.raises(ValueError, match="NaN"):
                    _call(lambda m=method: getattr(fitted, m)(nan))
                after = _arrays(fitted)
                assert after.keys() == before.keys()
                for name, A in before.items():
                    np.testing.assert_array_equal(after[name], A, err_msg=name)
