"""scikit-learn's Array API dispatch (issue 27): torch tensors in, torch tensors out, on
their device, through a whole pipeline with no host copy of the data; pickled models load
without a GPU; tensor input gets the same clear errors as numpy input.

The common checks (`test_common.py`) run scikit-learn's array-API checks (torch float32 and
float64, array-api-strict) on every estimator tagged ``array_api_support``; these tests add
what those checks do not see. On a GPU machine (``SKL_SPARSE_TEST_DEVICE=cuda``) the
tensors are CUDA tensors.
"""

import pickle
import warnings

import numpy as np
import pytest
import sklearn
import torch
from _config import TENSOR_DEVICE
from _sync_counter import HostCopyCounter
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline

from skl_sparse import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    GaborDictionaryLearner,
    KSparseAutoencoder,
    LISTAEncoder,
    OnlineDictionaryLearner,
    PSDEncoder,
    SparseAutoencoder,
    SparseCoder,
    ZCAWhitener,
    sparse_encode,
)


@pytest.fixture
def dispatch():
    with sklearn.config_context(array_api_dispatch=True):
        yield


@pytest.fixture(scope="module")
def digits_tensors():
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    return (torch.asarray(X, device=TENSOR_DEVICE), torch.asarray(y, device=TENSOR_DEVICE),
            X, y)


def _coders():
    return [OnlineDictionaryLearner(32, alpha=0.1, max_iter=2, random_state=0),
            SparseCoder(32, alpha=0.1, max_iter=5, random_state=0),
            SparseCoder(32, solver="omp", n_nonzero_coefs=4, max_iter=3, random_state=0),
            KSparseAutoencoder(32, k=8, learning_rate=1e-2, max_iter=10, random_state=0),
            PSDEncoder(32, alpha=0.1, max_iter=3, random_state=0)]


def _model_tensors(est):
    """The public fitted arrays of ``est`` (a list attribute's too), by name."""
    out = {}
    for name, value in vars(est).items():
        if name.startswith("_") or not name.endswith("_"):
            continue
        for i, A in enumerate(value if isinstance(value, list) else [value]):
            if isinstance(A, np.ndarray | torch.Tensor) and A.ndim:
                out[f"{name}[{i}]"] = A
    return out


@pytest.mark.parametrize("coder", _coders(),
                         ids=lambda e: f"{type(e).__name__}-{getattr(e, 'solver', '')}")
def test_pipeline_on_tensors_copies_no_data_to_the_host(coder, digits_tensors, dispatch):
    Xt, yt, X, y = digits_tensors
    pipe = make_pipeline(ZCAWhitener(eps=0.1), coder, LogisticRegression(max_iter=200))
    # data-sized: half the rows or more (the dictionary has 32, the few rows a GPU's lasso
    # leaves to the CPU at most 256)
    counter = HostCopyCounter(min_rows=len(X) // 2)
    with warnings.catch_warnings(), counter:
        warnings.simplefilter("ignore")
        pipe.fit(Xt, yt)
        predicted = pipe.predict(Xt)
        codes = pipe[:-1].transform(Xt)
    assert counter.copies == []
    assert torch.is_tensor(predicted) and predicted.device == Xt.device
    assert torch.is_tensor(codes) and codes.device == Xt.device and codes.dtype == Xt.dtype
    fitted = _model_tensors(pipe[1])
    assert fitted and all(torch.is_tensor(A) and A.device == Xt.device
                          for A in fitted.values())
    assert float((predicted == yt).double().mean()) > 0.9


def test_the_counter_sees_a_host_copy(digits_tensors, dispatch):
    # the guard of the test above: numpy's conversion of a tensor inside skl_sparse counts
    Xt = digits_tensors[0]
    counter = HostCopyCounter(min_rows=len(Xt) // 2)
    with counter, sklearn.config_context(array_api_dispatch=False):
        ZCAWhitener().fit(Xt.cpu())
    assert counter.copies and counter.copies[0].startswith("__array__")


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
@pytest.mark.parametrize("solver", ["auto", "omp", "threshold"])
def test_sparse_encode_codes_tensors_where_they_are(solver, dtype, dispatch):
    rng = np.random.RandomState(0)
    X, D = rng.randn(200, 16), rng.randn(24, 16)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    kwargs = {"solver": solver, "alpha": 0.2, "n_nonzero_coefs": 3}
    Xt = torch.asarray(X, dtype=dtype, device=TENSOR_DEVICE)
    codes = sparse_encode(Xt, torch.asarray(D, device=TENSOR_DEVICE), **kwargs)
    with sklearn.config_context(array_api_dispatch=False):
        ref = sparse_encode(X.astype(codes.cpu().numpy().dtype), D, device="cpu", **kwargs)
    assert torch.is_tensor(codes) and codes.device == Xt.device and codes.dtype == dtype
    tol = 1e-9 if dtype == torch.float64 else 1e-4
    np.testing.assert_allclose(codes.cpu().numpy(), ref, atol=tol)
    # a numpy dictionary goes where X is
    again = sparse_encode(Xt, D, **kwargs)
    assert torch.equal(again, codes)


@pytest.mark.parametrize("make", [
    lambda: OnlineDictionaryLearner(8, alpha=0.2, max_iter=2, random_state=0),
    lambda: SparseCoder(8, alpha=0.2, max_iter=3, random_state=0),
    lambda: GaborDictionaryLearner(4, max_iter=1, batch_size=16, random_state=0),
    lambda: ZCAWhitener(),
    lambda: Autoencoder(6, max_iter=2, random_state=0),
    lambda: LISTAEncoder(2, n_components=6, max_iter=2, random_state=0),
], ids=["odl", "sparse_coder", "gabor", "zca", "autoencoder", "lista"])
def test_a_model_fitted_on_tensors_pickles_to_the_host(make, dispatch):
    X = torch.asarray(np.random.RandomState(0).randn(64, 16), device=TENSOR_DEVICE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().fit(X)
    loaded = pickle.loads(pickle.dumps(est))
    arrays = _model_tensors(loaded)
    assert arrays and all(torch.is_tensor(v) and v.device.type == "cpu"
                          for v in arrays.values())
    out = loaded.transform(X.cpu())
    np.testing.assert_allclose(out.numpy(), est.transform(X).cpu().numpy(), atol=1e-6)
    assert all(v.device == X.device for v in _model_tensors(est).values())


def test_partial_fit_on_tensors_continues_as_on_numpy(dispatch):
    rng = np.random.RandomState(0)
    X = rng.randn(96, 12)
    ours = OnlineDictionaryLearner(10, alpha=0.2, batch_size=32, random_state=0)
    with sklearn.config_context(array_api_dispatch=False):
        # the same device: a GPU's steps (budgeted codes, no host sync) are not the CPU's
        ref = OnlineDictionaryLearner(10, alpha=0.2, batch_size=32, random_state=0,
                                      device=TENSOR_DEVICE)
        ref.partial_fit(X[:64]).partial_fit(X[64:])
    Xt = torch.asarray(X, device=TENSOR_DEVICE)
    ours.partial_fit(Xt[:64]).partial_fit(Xt[64:])
    np.testing.assert_allclose(ours.components_.cpu().numpy(), ref.components_, atol=1e-8)
    assert ours.n_iter_ == 2 and torch.is_tensor(ours.objective_)


@pytest.mark.parametrize("est", [SparseCoder(8, alpha=0.2, max_iter=3, random_state=0),
                                 OnlineDictionaryLearner(8, alpha=0.2, max_iter=2,
                                                         random_state=0),
                                 DenoisingAutoencoder(4, max_iter=2, random_state=0),
                                 LISTAEncoder(2, n_components=6, max_iter=2,
                                              random_state=0)],
                         ids=["sparse_coder", "odl", "denoising_ae", "lista"])
def test_tensor_input_errors_name_the_problem(est, dispatch):
    X = torch.asarray(np.random.RandomState(0).randn(40, 6), device=TENSOR_DEVICE)
    bad = X.clone()
    bad[3, 2] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        sklearn.base.clone(est).fit(bad)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est.fit(X)
    with pytest.raises(ValueError, match="NaN"):
        est.transform(bad)
    with pytest.raises(ValueError, match="X has 5 features"):
        est.transform(X[:, :5])
    with pytest.raises(ValueError, match="namespace"):
        est.transform(X.cpu().numpy())  # a numpy X for a model fitted on tensors
    with pytest.raises(ValueError, match="dtype|float"):
        est.transform(torch.ones((3, 6), dtype=torch.complex64, device=X.device))
    with pytest.raises(ValueError, match="magnitude up to 1e\\+300"):
        est.transform(torch.full_like(X, 1e300))
    before = {name: A.clone() for name, A in _model_tensors(est).items()}
    with pytest.raises(ValueError, match="NaN"):
        est.partial_fit(bad) if hasattr(est, "partial_fit") else est.fit(bad)
    after = _model_tensors(est)
    assert before.keys() == after.keys()
    assert all(torch.equal(after[name], A) for name, A in before.items())


def test_a_model_fitted_on_numpy_rejects_tensors_by_name(dispatch):
    X = np.random.RandomState(0).randn(40, 6)
    with sklearn.config_context(array_api_dispatch=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = SparseCoder(8, alpha=0.2, max_iter=3, random_state=0, device="cpu").fit(X)
    with pytest.raises(ValueError, match="namespace"):
        est.transform(torch.asarray(X))


@pytest.mark.parametrize("param", ["dictionary", "dict_init"])
def test_a_tensor_dictionary_is_taken(param, dispatch):
    rng = np.random.RandomState(0)
    X, D = rng.randn(60, 8), rng.randn(5, 8)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    Xt = torch.asarray(X, device=TENSOR_DEVICE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = SparseCoder(alpha=0.1, max_iter=3, random_state=0,
                          **{param: torch.asarray(D, device=TENSOR_DEVICE)}).fit(Xt)
        with sklearn.config_context(array_api_dispatch=False):
            ref = SparseCoder(alpha=0.1, max_iter=3, random_state=0, device="cpu",
                              **{param: D}).fit(X)
    assert est.components_.device == Xt.device
    np.testing.assert_allclose(est.components_.cpu().numpy(), ref.components_, atol=1e-10)


def test_a_fitted_dictionary_tensor_is_prepared_once(monkeypatch, dispatch):
    """Repeated transforms of a model fitted on tensors reuse its Gram matrix (and, for
    the iterative solvers, its largest eigenvalue: a GPU's eigenvalue solve costs
    milliseconds); a dictionary changed in place is prepared again."""
    import skl_sparse.sparse_coding._encode as encode

    computed = []
    gram_context = encode.gram_context
    monkeypatch.setattr(encode, "gram_context",
                        lambda D, solver: computed.append(solver) or gram_context(D, solver))
    encode.LAST_TENSOR_DICTIONARY.clear()
    X = torch.asarray(np.random.RandomState(0).randn(50, 6), device=TENSOR_DEVICE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = SparseCoder(8, alpha=0.2, max_iter=3, solver="fista", random_state=0).fit(X)
    computed.clear()
    codes = est.transform(X)
    assert torch.equal(est.transform(X), codes) and len(computed) == 1
    with torch.no_grad():
        est.components_[0] *= -1  # in place: a new version of the tensor
    changed = est.transform(X)
    assert len(computed) == 2
    assert torch.allclose(changed[:, 0], -codes[:, 0]) and torch.equal(changed[:, 1:],
                                                                       codes[:, 1:])


def _networks():
    return [Autoencoder(5, hidden_layer_sizes=(7,), max_iter=3, random_state=0),
            SparseAutoencoder(5, max_iter=3, random_state=0),
            KSparseAutoencoder(5, k=2, max_iter=3, random_state=0),
            DenoisingAutoencoder(5, max_iter=3, random_state=0),
            ContractiveAutoencoder(5, max_iter=3, random_state=0),
            PSDEncoder(5, alpha=0.1, max_iter=3, random_state=0),
            LISTAEncoder(2, n_components=5, max_iter=3, random_state=0)]


@pytest.mark.parametrize("make", [lambda e=e: sklearn.base.clone(e) for e in _networks()],
                         ids=[type(e).__name__ for e in _networks()])
def test_a_network_trains_on_tensors_as_on_numpy(make, dispatch):
    """Fit, partial_fit, transform, inverse_transform, score (and denoise, optimised
    codes) of the trained estimators on tensors: tensors out, on X's device, with the
    values of numpy input on the same device."""
    rng = np.random.RandomState(0)
    X = rng.rand(80, 10)
    Xt = torch.asarray(X, device=TENSOR_DEVICE)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours = make().fit(Xt).partial_fit(Xt[:40])
        with sklearn.config_context(array_api_dispatch=False):
            ref = make().set_params(device=TENSOR_DEVICE).fit(X).partial_fit(X[:40])
    fitted, expected = _model_tensors(ours), _model_tensors(ref)
    assert fitted.keys() == expected.keys() and fitted
    for name, A in fitted.items():
        assert torch.is_tensor(A) and A.device == Xt.device, name
        np.testing.assert_allclose(A.cpu().numpy(), expected[name], atol=1e-6, err_msg=name)
    codes = ours.transform(Xt)
    assert torch.is_tensor(codes) and codes.device == Xt.device and codes.dtype == Xt.dtype
    with sklearn.config_context(array_api_dispatch=False):
        ref_codes = ref.transform(X)
        ref_back = ref.inverse_transform(ref_codes)
        ref_score = ref.score(X)
    np.testing.assert_allclose(codes.cpu().numpy(), ref_codes, atol=1e-5)
    back = ours.inverse_transform(codes)
    assert torch.is_tensor(back) and back.device == Xt.device
    np.testing.assert_allclose(back.cpu().numpy(), ref_back, atol=1e-5)
    assert ours.score(Xt) == pytest.approx(ref_score, rel=1e-5)
    # float32 in, float32 out
    assert ours.transform(Xt.to(torch.float32)).dtype == torch.float32
    if hasattr(ours, "denoise"):
        assert torch.allclose(ours.denoise(Xt), back)
    if isinstance(ours, PSDEncoder):
        optimal = ours.transform(Xt, method="optimize")
        with sklearn.config_context(array_api_dispatch=False):
            ref_optimal = ref.transform(X, method="optimize")
        assert torch.is_tensor(optimal) and optimal.device == Xt.device
        np.testing.assert_allclose(optimal.cpu().numpy(), ref_optimal, atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: OnlineDictionaryLearner(8, alpha=0.2, max_iter=2, random_state=0),
    lambda: GaborDictionaryLearner(4, max_iter=1, batch_size=16, random_state=0),
    lambda: ZCAWhitener(),
    lambda: Autoencoder(6, hidden_layer_sizes=(7,), max_iter=2, random_state=0),
    lambda: PSDEncoder(6, max_iter=2, random_state=0),
], ids=["odl", "gabor", "zca", "autoencoder", "psd"])
def test_move_estimator_to_moves_the_fitted_model(make, dispatch):
    """scikit-learn's ``move_estimator_to`` (which its namespace errors recommend) moves
    a model fitted on numpy to tensors and back; the copy transforms and continues to
    learn there, and the original is untouched."""
    from sklearn.utils._array_api import get_namespace_and_device, move_estimator_to

    X = np.random.RandomState(0).rand(64, 16)
    Xt = torch.asarray(X, device=TENSOR_DEVICE)
    with sklearn.config_context(array_api_dispatch=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        est = make().set_params(**({"device": TENSOR_DEVICE}
                                   if "device" in make().get_params() else {})).fit(X)
        expected = est.transform(X)
    xp, _, device = get_namespace_and_device(Xt)
    moved = move_estimator_to(est, xp, device)
    assert all(torch.is_tensor(A) and A.device == Xt.device
               for A in _model_tensors(moved).values())
    assert all(isinstance(A, np.ndarray) for A in _model_tensors(est).values())
    np.testing.assert_allclose(moved.transform(Xt).cpu().numpy(), expected, atol=1e-6)
    with pytest.raises(ValueError, match="move_estimator_to"):
        moved.transform(X)
    if hasattr(moved, "partial_fit"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            moved.partial_fit(Xt)
    back = move_estimator_to(moved, *get_namespace_and_device(X)[::2])
    assert all(isinstance(A, np.ndarray) for A in _model_tensors(back).values())
    assert back.transform(X).shape == expected.shape


def test_image_features_stay_on_the_images_device(dispatch):
    """ImagePatchEncoder under dispatch: patches, codes and pooled features stay tensors
    on the images' device (no data-sized host copy), equal to the numpy features; a
    model fitted on numpy says so when given tensors, and moves as a whole (its patch
    pipeline too) with move_estimator_to."""
    from sklearn.utils._array_api import get_namespace_and_device, move_estimator_to

    from skl_sparse.features import ImagePatchEncoder

    images = np.random.RandomState(0).rand(40, 12, 12, 2)
    Xt = torch.asarray(images, device=TENSOR_DEVICE)

    def make():
        coder = SparseCoder(8, alpha=0.2, max_iter=3, random_state=0, device=TENSOR_DEVICE)
        return ImagePatchEncoder(make_pipeline(ZCAWhitener(eps=0.1), coder),
                                 patch_size=(4, 4), step=2, n_fit_patches=400,
                                 split_sign=True, random_state=0)

    counter = HostCopyCounter(min_rows=len(images) // 2)
    with warnings.catch_warnings(), counter:
        warnings.simplefilter("ignore")
        features = make().fit(Xt).transform(Xt)
    assert counter.copies == []
    assert torch.is_tensor(features) and features.device == Xt.device
    with sklearn.config_context(array_api_dispatch=False), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = make().fit(images)
        expected = ref.transform(images)
    np.testing.assert_allclose(features.cpu().numpy(), expected, atol=1e-8)
    with pytest.raises(ValueError, match="namespace"):
        ref.transform(Xt)
    moved = move_estimator_to(ref, *get_namespace_and_device(Xt)[::2])
    assert torch.is_tensor(moved.patch_encoder_[1].components_)
    np.testing.assert_allclose(moved.transform(Xt).cpu().numpy(), expected, atol=1e-8)
    assert isinstance(ref.patch_encoder_[1].components_, np.ndarray)


def test_the_scikit_learn_drop_in_computes_on_tensors(dispatch):
    """`skl_sparse.decomposition` under dispatch: fit, partial_fit, transform,
    inverse_transform and the functions give tensors on X's device, with the numpy
    input's values (the SVD that starts a batch fit is torch's there, scipy's on numpy)."""
    from skl_sparse import decomposition as dec

    rng = np.random.RandomState(0)
    X = rng.randn(60, 8)
    D = rng.randn(6, 8)
    Xt = torch.asarray(X, device=TENSOR_DEVICE)

    def same(ours, theirs, atol=1e-6):
        assert torch.is_tensor(ours) and ours.device == Xt.device
        np.testing.assert_allclose(ours.cpu().numpy(), theirs, atol=atol)

    makers = [
        lambda: dec.DictionaryLearning(6, alpha=0.5, max_iter=5, random_state=0,
                                       device=TENSOR_DEVICE),
        lambda: dec.MiniBatchDictionaryLearning(6, alpha=0.5, max_iter=3, batch_size=16,
                                                random_state=0, device=TENSOR_DEVICE),
        lambda: dec.SparseCoder(D, transform_algorithm="omp",
                                transform_n_nonzero_coefs=2, device=TENSOR_DEVICE),
        lambda: dec.SparseCoder(D, transform_algorithm="lasso_lars", transform_alpha=0.3,
                                split_sign=True, device=TENSOR_DEVICE),
    ]
    for make in makers:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ours = make().fit(Xt)
            with sklearn.config_context(array_api_dispatch=False):
                ref = make().fit(X)
                ref_codes = ref.transform(X)
                ref_back = ref.inverse_transform(ref_codes)
        if hasattr(ref, "components_"):
            same(ours.components_, ref.components_)
        codes = ours.transform(Xt)
        same(codes, ref_codes)
        same(ours.inverse_transform(codes), ref_back)
        with pytest.raises(ValueError, match="namespace"):
            ours.transform(X)
    # partial_fit continues on the device, its statistics there too
    ours = makers[1]().partial_fit(Xt[:30]).partial_fit(Xt[30:])
    with sklearn.config_context(array_api_dispatch=False):
        ref = makers[1]().partial_fit(X[:30]).partial_fit(X[30:])
    same(ours.components_, ref.components_)
    same(ours._A, ref._A)
    # the functions, a tensor dictionary included
    codes = dec.sparse_encode(Xt, torch.asarray(D, device=TENSOR_DEVICE), algorithm="omp",
                              n_nonzero_coefs=3)
    with sklearn.config_context(array_api_dispatch=False):
        same(codes, dec.sparse_encode(X, D, algorithm="omp", n_nonzero_coefs=3))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        U, V, errors = dec.dict_learning(Xt, 6, alpha=0.5, max_iter=5, random_state=0)
        with sklearn.config_context(array_api_dispatch=False):
            U_ref, V_ref, errors_ref = dec.dict_learning(X, 6, alpha=0.5, max_iter=5,
                                                         random_state=0, device="cpu")
    same(U, U_ref)
    same(V, V_ref)
    assert errors == pytest.approx(errors_ref, rel=1e-9)


def test_the_drop_in_pipeline_copies_no_data_to_the_host(digits_tensors, dispatch):
    from skl_sparse.decomposition import MiniBatchDictionaryLearning

    Xt, yt, X, _ = digits_tensors
    coder = MiniBatchDictionaryLearning(32, alpha=0.1, max_iter=2, batch_size=64,
                                        transform_algorithm="omp",
                                        transform_n_nonzero_coefs=5, random_state=0)
    pipe = make_pipeline(ZCAWhitener(eps=0.1), coder, LogisticRegression(max_iter=200))
    counter = HostCopyCounter(min_rows=len(X) // 2)
    with warnings.catch_warnings(), counter:
        warnings.simplefilter("ignore")
        predicted = pipe.fit(Xt, yt).predict(Xt)
    assert counter.copies == []
    assert torch.is_tensor(predicted) and predicted.device == Xt.device
    assert float((predicted == yt).double().mean()) > 0.9


def test_every_estimator_supports_dispatch():
    """Every public estimator is tagged, so scikit-learn generates its array-API checks
    (`test_common.py`) and lets it into a dispatched pipeline."""
    from _config import INIT_PARAMS, all_estimators
    from sklearn.utils import get_tags

    untagged = [name for name, cls in all_estimators()
                if not get_tags(cls(**INIT_PARAMS.get(name, {}))).array_api_support]
    assert untagged == []


def test_pickled_state_moves_layer_lists_to_the_host():
    """A network fitted on GPU tensors holds lists of them (``coefs_``): each goes to the
    CPU when pickled, as a single tensor does (a tensor whose ``cpu()`` is recorded
    stands in for a GPU's here)."""
    from skl_sparse._array_api import on_host_when_pickled

    moved = []

    class OnDevice(torch.Tensor):
        def cpu(self):
            moved.append(tuple(self.shape))
            return torch.Tensor(self)

    a, b = (torch.zeros(2, 3).as_subclass(OnDevice) for _ in range(2))
    state = on_host_when_pickled({"coefs_": [a, b], "components_": a, "n_iter_": 3})
    assert sorted(moved) == [(2, 3)] * 3 and state["n_iter_"] == 3
    assert all(type(T) is torch.Tensor for T in [*state["coefs_"], state["components_"]])
