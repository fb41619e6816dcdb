"""The autoencoder family and PSDEncoder: what each model promises, and the shared core."""

import pickle

import numpy as np
import pytest
import torch
from _config import DEVICE
from scipy.linalg import subspace_angles
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline

from skl_sparse import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    KSparseAutoencoder,
    PSDEncoder,
    SparseAutoencoder,
)
from skl_sparse.neural_network._modules import (
    AutoencoderModule,
    contractive_penalty,
    contractive_penalty_projection,
    init_parameters_,
)

FAST = {"n_components": 8, "max_iter": 3, "batch_size": 32, "device": DEVICE, "random_state": 0}
MODELS = [
    Autoencoder(**FAST),
    SparseAutoencoder(**FAST),
    KSparseAutoencoder(k=3, **FAST),
    DenoisingAutoencoder(**FAST),
    ContractiveAutoencoder(**FAST),
    ContractiveAutoencoder(hidden_layer_sizes=(12,), **FAST),
    PSDEncoder(alpha=0.1, **FAST),
]
IDS = [
    "ae", "sparse", "ksparse", "denoising", "contractive", "contractive-stacked", "psd",
]


@pytest.fixture(scope="module")
def digits():
    X, y = load_digits(return_X_y=True)
    return (X / 16.0).astype(np.float64), y


def _jacobian_sqnorm(module, x):
    """Mean squared Frobenius norm of the encoder Jacobian, by autograd, sample by sample."""
    total = 0.0
    for row in x:
        J = torch.autograd.functional.jacobian(module.encode, row[None])
        total += float((J**2).sum())
    return total / x.shape[0]


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "linear"])
def test_contractive_penalty_equals_autograd_jacobian(activation):
    gen = torch.Generator().manual_seed(0)
    module = AutoencoderModule([7, 5], activation, "linear", tied=False).double()
    init_parameters_(module, gen)
    with torch.no_grad():
        module.encoder[0].bias.normal_(generator=gen)
    x = torch.randn(20, 7, generator=gen, dtype=torch.float64)
    pre, post = module.encode_layers(x)
    with torch.no_grad():
        analytic = float(contractive_penalty(module.encoder[0].weight, pre[0], post[0], activation))
    assert analytic == pytest.approx(_jacobian_sqnorm(module, x), rel=1e-5)


def test_contractive_projection_estimate_is_unbiased():
    gen = torch.Generator().manual_seed(0)
    module = AutoencoderModule([6, 5, 4], "tanh", "linear", tied=False).double()
    init_parameters_(module, gen)
    x = torch.randn(10, 6, generator=gen, dtype=torch.float64)
    estimate = float(contractive_penalty_projection(x, module.encode, gen, 4000).detach())
    assert estimate == pytest.approx(_jacobian_sqnorm(module, x), rel=0.05)


def test_ksparse_keeps_exactly_k_units_in_training_and_codes_rows_independently(digits):
    X, _ = digits
    est = KSparseAutoencoder(n_components=40, k=5, alpha_k=2.0, max_iter=3,
                             device=DEVICE, random_state=0).fit(X)
    module = est._module(DEVICE)
    with torch.no_grad():
        h = module.encode(torch.as_tensor(X[:100], dtype=torch.float32, device=DEVICE))
        z = est._train_code(module, h)
    assert ((z != 0).sum(dim=1) == 5).all()
    codes = est.transform(X[:50])
    assert ((codes != 0).sum(axis=1) == 10).all()  # ceil(alpha_k * k)
    for i in (0, 17, 49):
        # the same units, the same values (up to the BLAS kernel chosen for the batch shape)
        alone = est.transform(X[i : i + 1])[0]
        np.testing.assert_array_equal(alone != 0, codes[i] != 0)
        np.testing.assert_allclose(alone, codes[i], rtol=1e-5, atol=1e-6)


def test_ksparse_revives_dead_units():
    rng = np.random.RandomState(0)
    X = rng.randn(512, 10).astype(np.float32)
    est = KSparseAutoencoder(n_components=30, k=2, max_iter=1, batch_size=64, device=DEVICE,
                             random_state=0).fit(X)
    module = est._module(DEVICE)
    x = torch.as_tensor(X[:64], device=DEVICE)
    pre, post = module.encode_layers(x)
    logits = module.decode_logits(post[-1])
    # no dead unit yet: the term is zero (decided on the device, no host synchronisation)
    assert float(est._penalty(module, x, pre, post, logits, None).detach()) == 0
    with torch.no_grad():
        module.since_fired.fill_(10**6)  # now every unit looks dead: the auxiliary loss is on
    aux = est._penalty(module, x, pre, post, logits, None)
    assert float(aux.detach()) > 0
    aux.backward()
    # the gradient reaches the encoder rows of many units, not only a top-k
    grad_rows = module.encoder[0].weight.grad.abs().sum(dim=1) > 0
    assert int(grad_rows.sum()) > 10


def test_sparse_autoencoder_mean_activation_hits_target(digits):
    X, _ = digits
    est = SparseAutoencoder(n_components=64, sparsity_target=0.05, sparsity_weight=3.0,
                            learning_rate=1e-2, max_iter=60, device=DEVICE,
                            random_state=0).fit(X[:1400])
    mean_act = est.transform(X[:1400]).mean(axis=0)
    assert np.abs(mean_act - 0.05).max() < 0.02
    assert abs(est.transform(X[1400:]).mean() - 0.05) < 0.02


def test_denoising_beats_plain_autoencoder_on_masked_digits(digits):
    X, _ = digits
    Xtr, Xte = X[:1400], X[1400:]
    corrupted = Xte * (np.random.RandomState(1).rand(*Xte.shape) >= 0.3)
    params = {"n_components": 64, "learning_rate": 1e-2, "max_iter": 60, "device": DEVICE,
              "random_state": 0}
    errors = {}
    for name, est in [("plain", Autoencoder(**params)),
                      ("dae", DenoisingAutoencoder(noise="mask", noise_level=0.3, **params))]:
        est.fit(Xtr)
        rec = est.inverse_transform(est.transform(corrupted))
        errors[name] = ((rec - Xte) ** 2).sum(axis=1).mean()
    assert errors["dae"] < 0.7 * errors["plain"], errors
    dae = DenoisingAutoencoder(**params).fit(Xtr)
    np.testing.assert_allclose(dae.denoise(corrupted),
                               dae.inverse_transform(dae.transform(corrupted)), rtol=1e-6)


def test_linear_autoencoder_learns_the_pca_subspace():
    rng = np.random.RandomState(0)
    basis = np.linalg.qr(rng.randn(20, 3))[0]
    X = (rng.randn(600, 3) * [3.0, 2.0, 1.5]) @ basis.T + 0.3 * rng.randn(600, 20)
    ae = Autoencoder(n_components=3, activation="linear", optimizer="sgd", learning_rate=1e-2,
                     batch_size=32, max_iter=100, tol=0, n_iter_no_change=100,
                     device=DEVICE, random_state=0).fit(X)
    pca = PCA(3).fit(X)
    assert np.max(subspace_angles(ae.decoder_coefs_[0], pca.components_.T)) < 0.05


def test_tied_weights_share_the_encoder_matrix(digits):
    X, _ = digits
    est = Autoencoder(n_components=10, tied_weights=True, hidden_layer_sizes=(20,),
                      max_iter=2, device=DEVICE, random_state=0).fit(X)
    assert [w.shape for w in est.coefs_] == [(20, 64), (10, 20)]
    np.testing.assert_array_equal(est.decoder_coefs_[0], est.coefs_[1].T)
    np.testing.assert_array_equal(est.decoder_coefs_[1], est.coefs_[0].T)


def test_bce_loss_on_unit_interval_data(digits):
    X, _ = digits
    est = Autoencoder(n_components=16, loss="bce", decoder_activation="sigmoid", max_iter=5,
                      learning_rate=1e-2, device=DEVICE, random_state=0).fit(X)
    assert est.loss_curve_[-1] < est.loss_curve_[0]
    rec = est.inverse_transform(est.transform(X))
    assert rec.min() >= 0 and rec.max() <= 1


def test_psd_predictions_approach_optimal_codes():
    rng = np.random.RandomState(0)
    D = rng.randn(16, 16)
    X = (rng.randn(3000, 16) * (rng.rand(3000, 16) < 0.2)) @ D  # sparse sources
    X /= X.std()
    # 40 epochs: 0.17-0.21 over random states 1-5 (20 epochs: 0.25-0.28, 0.31 once on a GPU)
    psd = PSDEncoder(n_components=16, alpha=0.1, max_iter=40, learning_rate=3e-3,
                     device=DEVICE, random_state=0).fit(X[:2500])
    assert np.allclose(np.linalg.norm(psd.components_, axis=1), 1, atol=1e-5)
    Z_pred = psd.transform(X[2500:])
    Z_opt = psd.transform(X[2500:], method="optimize")
    assert np.linalg.norm(Z_pred - Z_opt) < 0.3 * np.linalg.norm(Z_opt)
    assert psd.loss_curve_[-1] < psd.loss_curve_[0]
    with pytest.raises(ValueError, match="method"):
        psd.transform(X, method="exact")


@pytest.mark.parametrize("est", MODELS, ids=IDS)
def test_same_random_state_same_model_and_pickle_round_trip(est, digits):
    X, _ = digits
    a = clone(est).fit(X[:300])
    b = clone(est).fit(X[:300])
    np.testing.assert_array_equal(a.transform(X[300:400]), b.transform(X[300:400]))
    c = pickle.loads(pickle.dumps(a))
    np.testing.assert_array_equal(a.transform(X[300:400]), c.transform(X[300:400]))
    assert len(a.loss_curve_) == a.n_iter_ >= 1


@pytest.mark.parametrize("est", MODELS, ids=IDS)
def test_partial_fit_continues_exactly(est, digits):
    """Two partial_fit calls equal a 2-epoch fit without shuffling (state carried over)."""
    X, _ = digits
    X = X[:256]
    est = clone(est).set_params(shuffle=False, max_iter=2, tol=0, n_iter_no_change=10)
    full = clone(est).fit(X)
    inc = clone(est).partial_fit(X).partial_fit(X)
    np.testing.assert_allclose(inc.transform(X), full.transform(X), rtol=1e-5, atol=1e-6)
    assert inc.loss_curve_ == pytest.approx(full.loss_curve_, rel=1e-6)


@pytest.mark.parametrize("est", MODELS, ids=IDS)
def test_in_pipeline_under_grid_search(est, digits):
    X, y = digits
    ae = clone(est).set_params(device="cpu", learning_rate=1e-2, max_iter=5)
    pipe = Pipeline([("ae", ae), ("clf", LogisticRegression(C=10.0, max_iter=300))])
    search = GridSearchCV(pipe, {"ae__n_components": [8, 16]}, cv=2, n_jobs=2)
    search.fit(X[:400], y[:400])
    assert search.best_params_["ae__n_components"] in (8, 16)
    assert search.best_score_ > 0.2  # twice chance: the codes carry class information


def test_divergence_is_reported_and_leaves_the_model_unchanged(digits):
    X, _ = digits
    est = Autoencoder(n_components=8, max_iter=2, device=DEVICE, random_state=0).fit(X)
    before = est.transform(X[:10])
    est.set_params(optimizer="sgd", learning_rate=1e30)
    with pytest.raises(ValueError, match="diverged"):
        est.fit(X * 1e3)
    with pytest.raises(ValueError, match="diverged"):
        est.partial_fit(X * 1e3)
    est.set_params(optimizer="adam", learning_rate=1e-3)
    np.testing.assert_array_equal(est.transform(X[:10]), before)


@pytest.mark.parametrize(
    "est, match",
    [
        (Autoencoder(loss="bce"), "decoder_activation"),
        (SparseAutoencoder(activation="relu"), "activation"),
        (DenoisingAutoencoder(noise_level=1.5), "noise_level"),
        (Autoencoder(hidden_layer_sizes=(10, 0)), "hidden_layer_sizes"),
        (Autoencoder(learning_rate=-1.0), "learning_rate"),
        (KSparseAutoencoder(k=0), "'k'"),
        (PSDEncoder(alpha=-1.0), "alpha"),
        (PSDEncoder(solver="magic"), "solver"),
        (Autoencoder(device="tpu"), "device"),
    ],
)
def test_invalid_parameters_name_the_parameter(est, match, digits):
    X, _ = digits
    with pytest.raises(ValueError, match=match):
        est.set_params(max_iter=1).fit(X[:50])


def test_bad_input_is_rejected_clearly(digits):
    X, _ = digits
    est = Autoencoder(n_components=4, max_iter=1, device=DEVICE, random_state=0)
    with pytest.raises(ValueError, match="NaN"):
        est.fit(np.full((10, 3), np.nan))
    with pytest.raises(ValueError, match="loss=\"bce\""):
        Autoencoder(loss="bce", decoder_activation="sigmoid", max_iter=1).fit(X * 2)
    est.fit(X)
    with pytest.raises(ValueError, match="features"):
        est.transform(X[:, :10])
    with pytest.raises(ValueError, match="n_components"):
        est.inverse_transform(np.zeros((3, 5)))


def test_verbose_prints_progress(digits, capsys):
    X, _ = digits
    Autoencoder(n_components=4, max_iter=2, verbose=1, device=DEVICE, random_state=0).fit(X)
    out = capsys.readouterr().out
    assert "[Autoencoder] epoch 1: loss" in out and "epoch 2" in out


def test_float32_input_gives_float32_codes(digits):
    X, _ = digits
    est = Autoencoder(n_components=4, max_iter=1, device=DEVICE, random_state=0)
    codes = est.fit(X.astype(np.float32)).transform(X.astype(np.float32))
    assert codes.dtype == np.float32
    assert est.transform(X).dtype == np.float64


def test_global_torch_rng_is_untouched(digits):
    X, _ = digits
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)
    DenoisingAutoencoder(n_components=4, max_iter=1, device=DEVICE, random_state=0).fit(X)
    assert torch.equal(torch.rand(3), expected)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_fit_unpickles_on_cpu(digits):
    X, _ = digits
    est = Autoencoder(n_components=8, max_iter=2, device="cuda", random_state=0).fit(X)
    state = pickle.dumps(est)
    cpu = pickle.loads(state).set_params(device="cpu")
    np.testing.assert_allclose(cpu.transform(X), est.transform(X), rtol=1e-4, atol=1e-5)
    cpu.partial_fit(X)  # training continues on the CPU (new random stream, same moments)
    assert len(cpu.loss_curve_) == 3
