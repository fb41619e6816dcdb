import numpy as np
import pytest

from skl_sparse import ZCAWhitener


@pytest.fixture
def correlated(rng):
    mixing = rng.randn(6, 6)
    return rng.randn(2000, 6) @ mixing + 5.0


def test_output_covariance_is_identity(correlated):
    Z = ZCAWhitener(eps=1e-10).fit_transform(correlated)
    np.testing.assert_allclose(Z.mean(axis=0), 0, atol=1e-10)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(6), atol=1e-6)


def test_whitening_matrix_symmetric_and_inverse(correlated):
    zca = ZCAWhitener(eps=1e-3).fit(correlated)
    np.testing.assert_allclose(zca.whitening_, zca.whitening_.T, atol=1e-12)
    np.testing.assert_allclose(zca.whitening_ @ zca.dewhitening_, np.eye(6), atol=1e-10)
    back = zca.inverse_transform(zca.transform(correlated))
    np.testing.assert_allclose(back, correlated, atol=1e-8)


def test_eps_damps_small_variance_directions(correlated):
    small, large = ZCAWhitener(eps=1e-8).fit(correlated), ZCAWhitener(eps=10.0).fit(correlated)
    var_small = np.var(small.transform(correlated), axis=0).sum()
    var_large = np.var(large.transform(correlated), axis=0).sum()
    assert var_large < var_small


def test_zca_is_the_closest_whitening_to_identity(correlated):
    """ZCA = PCA whitening rotated back: same covariance, smallest distance to x - mean."""
    from sklearn.decomposition import PCA

    Xc = correlated - correlated.mean(0)
    zca = ZCAWhitener(eps=0).fit(correlated).transform(correlated)
    pca = PCA(whiten=True).fit_transform(correlated)
    np.testing.assert_allclose(np.cov(pca, rowvar=False), np.cov(zca, rowvar=False), atol=1e-8)
    assert np.linalg.norm(zca - Xc) <= np.linalg.norm(pca - Xc)


def test_float32_preserved(correlated):
    Z = ZCAWhitener().fit(correlated.astype(np.float32)).transform(correlated.astype(np.float32))
    assert Z.dtype == np.float32


def test_copy_false_does_not_change_result(correlated):
    expected = ZCAWhitener().fit(correlated).transform(correlated)
    X = correlated.copy()
    np.testing.assert_allclose(ZCAWhitener(copy=False).fit(X).transform(X), expected)


def test_singular_covariance_needs_eps(rng):
    X = rng.randn(50, 2) @ np.array([[1.0, 2.0, 3.0], [0.0, 1.0, 1.0]])
    with pytest.raises(ValueError, match="eps"):
        ZCAWhitener(eps=0).fit(X)
    assert np.isfinite(ZCAWhitener(eps=1e-3).fit_transform(X)).all()


@pytest.mark.parametrize("bad", [{"eps": -1.0}, {"eps": "x"}, {"copy": "no"}])
def test_invalid_parameters(bad, correlated):
    with pytest.raises(ValueError, match=next(iter(bad))):
        ZCAWhitener(**bad).fit(correlated)


def test_bad_input(correlated):
    zca = ZCAWhitener().fit(correlated)
    with pytest.raises(ValueError, match="features"):
        zca.transform(correlated[:, :3])
    with pytest.raises(ValueError, match="features"):
        zca.inverse_transform(correlated[:, :3])
    with pytest.raises(ValueError, match="NaN"):
        ZCAWhitener().fit(np.full((3, 2), np.nan))
    with pytest.raises(ValueError, match="2D"):
        ZCAWhitener().fit(correlated[:, 0])


@pytest.fixture
def dispatch():
    sklearn = pytest.importorskip("sklearn")
    with sklearn.config_context(array_api_dispatch=True):
        yield


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_torch_tensors_in_torch_tensors_out_under_array_api_dispatch(dtype, dispatch):
    torch = pytest.importorskip("torch")
    X = np.random.RandomState(0).randn(200, 6).astype(dtype)
    ref = ZCAWhitener(eps=0.1).fit(X)
    Xt = torch.asarray(X)
    zca = ZCAWhitener(eps=0.1).fit(Xt)
    out = zca.transform(Xt)
    assert torch.is_tensor(out) and out.dtype == Xt.dtype and out.device == Xt.device
    assert torch.is_tensor(zca.whitening_) and zca.whitening_.dtype == Xt.dtype
    tol = 1e-12 if dtype == "float64" else 1e-5
    np.testing.assert_allclose(out.numpy(), ref.transform(X), atol=tol * 10)
    np.testing.assert_allclose(zca.inverse_transform(out).numpy(), X, atol=tol * 10)


def test_tensor_input_errors_name_the_problem(dispatch):
    torch = pytest.importorskip("torch")
    X = torch.asarray(np.random.RandomState(0).randn(50, 4))
    zca = ZCAWhitener().fit(X)
    with pytest.raises(ValueError, match="X has 3 features"):
        zca.transform(X[:, :3])
    bad = X.clone()
    bad[0, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        ZCAWhitener().fit(bad)
    with pytest.raises(ValueError, match="same namespace"):
        zca.transform(X.numpy())


def test_a_model_fitted_on_tensors_says_how_to_use_it_without_dispatch():
    torch = pytest.importorskip("torch")
    import sklearn

    X = torch.asarray(np.random.RandomState(0).randn(50, 4))
    with sklearn.config_context(array_api_dispatch=True):
        zca = ZCAWhitener().fit(X)
    with pytest.raises(ValueError, match="array_api_dispatch=True"):
        zca.transform(X.numpy())
