"""ℓ0 and thresholded codes through the public functions and estimators: scikit-learn's
results where it has the algorithm, the n_nonzero_coefs rules, K-SVD, split_sign,
positive_dict, and errors that name what to change."""

import os
import warnings

import numpy as np
import pytest
import torch
from _config import DEVICE, gpu_steps_on_cpu
from sklearn.decomposition import sparse_encode as sk_sparse_encode
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils._param_validation import InvalidParameterError

from skl_sparse import OnlineDictionaryLearner, SparseCoder, sparse_encode
from skl_sparse.sparse_coding._dictionary import update_dict_ksvd_


@pytest.fixture
def problem(rng):
    D = rng.randn(30, 20)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    return rng.randn(120, 20), D


@pytest.mark.parametrize("ours, theirs", [("omp", "omp"), ("lar", "lars")])
@pytest.mark.parametrize("L", [1, 4, None])
def test_greedy_codes_are_scikit_learns(problem, ours, theirs, L):
    X, D = problem
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        ref = sk_sparse_encode(X, D, algorithm=theirs, n_nonzero_coefs=L)
    codes = sparse_encode(X, D, solver=ours, n_nonzero_coefs=L, device=DEVICE)
    np.testing.assert_array_equal(codes != 0, ref != 0)
    np.testing.assert_allclose(codes, ref, rtol=1e-9, atol=1e-12)
    # None: 10% of n_features, at least one atom
    assert (codes != 0).sum(1).max() == (L or 2)


@pytest.mark.parametrize("positive", [False, True])
def test_threshold_codes_are_scikit_learns(problem, positive):
    X, D = problem
    ref = sk_sparse_encode(X, D, algorithm="threshold", alpha=0.7, positive=positive)
    codes = sparse_encode(X, D, solver="threshold", alpha=0.7, positive=positive,
                          device=DEVICE)
    np.testing.assert_allclose(codes, ref, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("solver", ["omp", "ols", "lar", "threshold"])
def test_float32_codes_stay_float32_and_agree(problem, solver):
    X, D = problem
    c64 = sparse_encode(X, D, solver=solver, n_nonzero_coefs=4, alpha=0.5, device=DEVICE)
    c32 = sparse_encode(X.astype(np.float32), D.astype(np.float32), solver=solver,
                        n_nonzero_coefs=4, alpha=0.5, device=DEVICE)
    assert c32.dtype == np.float32
    np.testing.assert_allclose(c32, c64, rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("solver", ["omp", "ols"])
def test_residual_tol_is_reached_with_the_fewest_atoms(problem, solver):
    X, D = problem
    tol = 0.3 * (X**2).sum(1).mean()
    codes = sparse_encode(X, D, solver=solver, residual_tol=tol, device=DEVICE)
    residual = ((X - codes @ D) ** 2).sum(1)
    assert (residual <= tol * (1 + 1e-9)).all()
    fewer = sparse_encode(X, D, solver=solver, n_nonzero_coefs=1, device=DEVICE)
    need_more = ((X - fewer @ D) ** 2).sum(1) > tol
    assert ((codes != 0).sum(1)[need_more] >= 2).all()


def test_n_nonzero_coefs_beyond_the_dictionary_is_clipped_with_a_warning(problem):
    """The warning names the parameter and points at the caller's line (this file)."""
    X, D = problem
    with pytest.warns(UserWarning, match="n_nonzero_coefs=50 .* clipped to 20") as record:
        codes = sparse_encode(X, D, solver="omp", n_nonzero_coefs=50, device=DEVICE)
    assert os.path.basename(record[0].filename) == os.path.basename(__file__)
    assert np.isfinite(codes).all() and (codes != 0).sum(1).max() <= 20
    coder = SparseCoder(dictionary=D, solver="ols", n_nonzero_coefs=40, device=DEVICE)
    for call in (coder.fit, coder.transform):
        with pytest.warns(UserWarning, match="clipped") as record:
            call(X)
        assert os.path.basename(record[0].filename) == os.path.basename(__file__)


@pytest.mark.parametrize("kwargs, name", [
    ({"n_nonzero_coefs": 0}, "n_nonzero_coefs"),
    ({"n_nonzero_coefs": -3}, "n_nonzero_coefs"),
    ({"n_nonzero_coefs": 2.5}, "n_nonzero_coefs"),
    ({"residual_tol": -1.0}, "residual_tol"),
    ({"solver": "lasso_cd"}, "solver"),
])
def test_invalid_l0_options_are_named(problem, kwargs, name):
    X, D = problem
    with pytest.raises(InvalidParameterError, match=name):
        sparse_encode(X, D, **{"solver": "omp", **kwargs})
    with pytest.raises(InvalidParameterError, match=name):
        SparseCoder(4, **{"solver": "omp", **kwargs}).fit(X)
    with pytest.raises(InvalidParameterError, match=name):
        OnlineDictionaryLearner(4, **{"solver": "omp", **kwargs}).fit(X)


@pytest.mark.parametrize("solver", ["omp", "ols", "lar"])
def test_positive_greedy_codes_are_refused_by_name(problem, solver):
    X, D = problem
    with pytest.raises(ValueError, match=f"positive=True .* solver='{solver}'"):
        sparse_encode(X, D, solver=solver, positive=True)
    coder = SparseCoder(dictionary=D, solver=solver, positive=True, device=DEVICE)
    with pytest.raises(ValueError, match="positive=True"):
        coder.fit(X)


@pytest.mark.parametrize("call, name, ours", [
    (lambda X, D: sparse_encode(X, D, algorithm="omp"), "algorithm", "solver"),
    (lambda X, D: SparseCoder(transform_algorithm="omp"), "transform_algorithm", "solver"),
    (lambda X, D: SparseCoder(transform_n_nonzero_coefs=3), "transform_n_nonzero_coefs",
     "n_nonzero_coefs"),
    (lambda X, D: OnlineDictionaryLearner(positive_code=True), "positive_code", "positive"),
    (lambda X, D: OnlineDictionaryLearner(fit_algorithm="cd"), "fit_algorithm", "solver"),
])
def test_scikit_learn_names_get_ours_in_the_error(problem, call, name, ours):
    with pytest.raises(TypeError, match=f"'{name}' is {ours}"):
        call(*problem)


def test_a_dictionary_given_first_says_to_pass_dictionary(problem):
    X, D = problem
    with pytest.raises(InvalidParameterError, match=r"SparseCoder\(dictionary=D\)") as info:
        SparseCoder(D).fit(X)
    assert "0.2" not in str(info.value)[:200]  # not the array printed


def test_degenerate_dictionaries_code_finitely(problem):
    """Zero and duplicated atoms: finite codes from every solver."""
    X, D = problem
    D = D.copy()
    D[3], D[7], D[8] = 0.0, D[1], -D[2]
    for solver in ("omp", "ols", "lar", "threshold", "auto"):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            codes = sparse_encode(X, D, solver=solver, n_nonzero_coefs=6, alpha=0.3,
                                  device=DEVICE)
        assert np.isfinite(codes).all()
        assert not codes[:, 3].any()


def test_ksvd_sweeps_lower_the_error_and_keep_the_supports(rng):
    X = rng.randn(500, 16)
    D = rng.randn(40, 16)
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    H = sparse_encode(X, D, solver="omp", n_nonzero_coefs=3, device="cpu")
    support = H != 0
    Dt, Ht, Xt = torch.tensor(D), torch.tensor(H), torch.tensor(X)
    errors = [((X - H @ D) ** 2).sum()]
    for _ in range(3):
        update_dict_ksvd_(Dt, Xt, Ht)
        errors.append(((X - Ht.numpy() @ Dt.numpy()) ** 2).sum())
    assert all(b <= a * (1 + 1e-12) for a, b in zip(errors, errors[1:], strict=False))
    assert errors[-1] < 0.95 * errors[0]
    np.testing.assert_array_equal(Ht.numpy() != 0, support)
    np.testing.assert_allclose(np.linalg.norm(Dt.numpy(), axis=1), 1, atol=1e-12)


def test_ksvd_with_omp_learns_a_better_dictionary(whitened_patches):
    """K-SVD + OMP: the training objective (half the squared residual) falls well below the
    initial dictionary's, at least as low as with the block-coordinate update."""
    X = whitened_patches[:1500]
    params = dict(n_components=48, solver="omp", n_nonzero_coefs=4, max_iter=12, tol=0,
                  device=DEVICE, random_state=0)
    final = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        for update in ("ksvd", "bcd"):
            coder = SparseCoder(dict_update=update, **params).fit(X)
            assert np.isfinite(coder.components_).all()
            final[update] = coder.objective_[-1]
            assert final[update] < 0.7 * coder.objective_[0]
    assert final["ksvd"] <= 1.02 * final["bcd"]


def test_positive_dict_is_refused_with_ksvd(problem):
    with pytest.raises(ValueError, match="positive_dict=True .* dict_update='ksvd'"):
        SparseCoder(4, dict_update="ksvd", positive_dict=True).fit(problem[0])


@pytest.mark.parametrize("make", [
    lambda **kw: SparseCoder(8, max_iter=4, **kw),
    lambda **kw: SparseCoder(8, max_iter=4, dict_update="pgd", **kw),
    lambda **kw: OnlineDictionaryLearner(8, batch_size=20, max_iter=2, **kw),
], ids=["bcd", "pgd", "online"])
def test_positive_dict_gives_non_negative_unit_atoms(make, problem):
    X = problem[0]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est = make(positive_dict=True, alpha=0.2, device=DEVICE, random_state=0).fit(X)
        free = make(alpha=0.2, device=DEVICE, random_state=0).fit(X)
    assert (est.components_ >= 0).all() and (free.components_ < 0).any()
    np.testing.assert_allclose(np.linalg.norm(est.components_, axis=1), 1, atol=1e-10)


def test_positive_dict_on_the_gpu_steps(problem, monkeypatch):
    gpu_steps_on_cpu(monkeypatch)
    est = OnlineDictionaryLearner(8, alpha=0.2, batch_size=20, max_iter=2, positive_dict=True,
                                  device=DEVICE, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        est.fit(problem[0])
    assert (est.components_ >= 0).all()


@pytest.mark.parametrize("solver", ["auto", "omp", "threshold"])
def test_split_sign_codes(problem, solver):
    X = problem[0]
    params = dict(n_components=10, solver=solver, alpha=0.3, n_nonzero_coefs=3, max_iter=3,
                  device=DEVICE, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        plain = SparseCoder(**params).fit(X)
        split = SparseCoder(split_sign=True, **params).fit(X)
    codes, halves = plain.transform(X), split.transform(X)
    assert halves.shape == (len(X), 20) and (halves >= 0).all()
    np.testing.assert_allclose(halves[:, :10] - halves[:, 10:], codes)
    np.testing.assert_allclose(split.inverse_transform(halves), plain.inverse_transform(codes))
    np.testing.assert_allclose(split.inverse_transform(codes), plain.inverse_transform(codes))
    assert len(split.get_feature_names_out()) == 20


def test_dict_init_starts_the_learning_and_is_checked_by_name(problem):
    X, D = problem
    D0 = 3 * D[:8]  # rows are normalised before the first step
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        fits = [SparseCoder(8, dict_init=D0, solver="omp", n_nonzero_coefs=2, max_iter=2,
                            dict_update="ksvd", device=DEVICE, random_state=seed).fit(X)
                for seed in (0, 1)]
        random = SparseCoder(8, solver="omp", n_nonzero_coefs=2, max_iter=2,
                             dict_update="ksvd", device=DEVICE, random_state=0).fit(X)
    np.testing.assert_array_equal(fits[0].components_, fits[1].components_)
    assert not np.allclose(fits[0].components_, random.components_)
    with pytest.raises(ValueError, match="dict_init has 5 features but X has 20"):
        SparseCoder(8, dict_init=D0[:, :5], device=DEVICE).fit(X)
    with pytest.raises(ValueError, match="n_components=6 does not match the 8 rows of dict_init"):
        SparseCoder(6, dict_init=D0, device=DEVICE).fit(X)


@pytest.mark.parametrize("writeable", [True, False])
def test_greedy_codes_copy_a_read_only_x_a_batch_at_a_time(writeable):
    """OMP codes a C-contiguous, writeable X in one batch (torch wraps it); a read-only
    one (a memory map) is copied, so a batch at a time: never all of it at once."""
    import tracemalloc

    rng = np.random.RandomState(0)
    X = rng.randn(40000, 64)  # 20 MB
    D = rng.randn(16, 64)
    X.flags.writeable = writeable
    ref = sparse_encode(X[:8192].copy(), D, solver="omp", n_nonzero_coefs=3, device="cpu")
    tracemalloc.start()
    try:
        codes = sparse_encode(X, D, solver="omp", n_nonzero_coefs=3, batch_size=4096,
                              device="cpu")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    # the codes (5 MB) and small arrays; a whole copy of X would be 20 MB more
    assert peak < codes.nbytes + X.nbytes // 4
    np.testing.assert_array_equal(codes[:8192], ref)
