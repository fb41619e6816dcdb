"""`lasso_gram` and `sparse_encode`: the codes against scikit-learn and the optimality
conditions, the orchestration's steps (the homotopy first, the rows it leaves, the CPU tail)."""


import numpy as np
import pytest
import torch
from _config import DEVICE
from _problems import check_kkt, objective, patch_problem, random_problem, sklearn_lasso
from sklearn.decomposition import sparse_encode as sk_sparse_encode

from skl_sparse import sparse_encode
from skl_sparse._solvers import duality_gap, lasso_gram

SOLVERS = ["lars", "fista", "ista"]


@pytest.mark.parametrize("problem", ["random", "patches"])
@pytest.mark.parametrize("solver", SOLVERS)
@pytest.mark.parametrize("positive", [False, True])
def test_codes_match_sklearn_lasso_cd(problem, solver, positive, whitened_patches):
    X, D = random_problem() if problem == "random" else patch_problem(whitened_patches)
    alpha = 0.3
    ours = sparse_encode(
        X, D, alpha=alpha, solver=solver, positive=positive, max_iter=20000, tol=1e-10,
        device=DEVICE,
    )
    ref = sk_sparse_encode(
        X, D, algorithm="lasso_cd", alpha=alpha, positive=positive, max_iter=20000
    )
    # sparse_encode stops at its default tolerance (1e-4): ours may only be better
    f_ours, f_ref = objective(X, D, ours, alpha), objective(X, D, ref, alpha)
    assert np.all(f_ours <= f_ref * (1 + 1e-6))  # tol=1e-6 bounds our relative gap
    assert np.linalg.norm(ours - ref) / np.linalg.norm(ref) < 1e-3
    # against the same coordinate descent run to a tight tolerance: equal codes
    tight = sklearn_lasso(X, D, alpha, positive)
    assert np.linalg.norm(ours - tight) / np.linalg.norm(tight) < 1e-4
    np.testing.assert_allclose(f_ours, objective(X, D, tight, alpha), rtol=1e-6)
    check_kkt(X, D, ours, alpha, positive)


@pytest.mark.parametrize("solver", SOLVERS)
def test_duality_gap_below_tol(solver, whitened_patches):
    X, D = patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    H, n_iter, primal_ret, gap = lasso_gram(
        C, G, x_sq, 0.1, solver=solver, tol=1e-8, max_iter=20000
    )
    primal, gap2 = duality_gap(C, G, H, x_sq, 0.1)
    torch.testing.assert_close(primal_ret, primal)
    assert n_iter >= 0
    assert torch.all(gap2 <= 1e-8 * primal + 1e-12)
    # the gap bounds the suboptimality: the sklearn solution is not better
    ref = sk_sparse_encode(X, D, algorithm="lasso_cd", alpha=0.1, max_iter=20000)
    assert np.all(objective(X, D, H.numpy(), 0.1) <= objective(X, D, ref, 0.1) + 1e-9)


def test_large_alpha_gives_zero_codes():
    X, D = random_problem(n=20)
    alpha_max = np.abs(X @ D.T).max()
    assert not sparse_encode(X, D, alpha=alpha_max * 1.01, device=DEVICE).any()
    assert sparse_encode(X, D, alpha=alpha_max * 0.9, device=DEVICE).any()


def test_float32_codes_stay_float32_and_close():
    X, D = random_problem(n=100)
    h64 = sparse_encode(X, D, alpha=0.3, device=DEVICE)
    h32 = sparse_encode(X.astype(np.float32), D.astype(np.float32), alpha=0.3, device=DEVICE)
    assert h32.dtype == np.float32
    np.testing.assert_allclose(h32, h64, atol=2e-4)


def test_sample_independent_of_batch():
    X, D = random_problem(n=100)
    full = sparse_encode(X, D, alpha=0.2, device=DEVICE)
    small = sparse_encode(X, D, alpha=0.2, batch_size=7, device=DEVICE)
    single = sparse_encode(X[13:14], D, alpha=0.2, device=DEVICE)
    np.testing.assert_allclose(full, small, atol=1e-10)
    np.testing.assert_allclose(full[13:14], single, atol=1e-10)


def test_duplicate_atoms_handled():
    """A singular Gram matrix (repeated atom) still gives an optimal code."""
    X, D = random_problem(n=50, k=10)
    D = np.vstack([D, D[:3]])
    H = sparse_encode(X, D, alpha=0.2, device=DEVICE)
    ref = sk_sparse_encode(X, D, algorithm="lasso_cd", alpha=0.2, max_iter=20000)
    f, f_ref = objective(X, D, H, 0.2), objective(X, D, ref, 0.2)
    assert np.all(f <= f_ref * (1 + 1e-6))


@pytest.mark.parametrize(
    "kwargs,match",
    [
        ({"alpha": -1.0}, "alpha"),
        ({"solver": "lasso_lars"}, "solver"),
        ({"max_iter": 0}, "max_iter"),
        ({"tol": -1.0}, "tol"),
        ({"device": "tpu"}, "device"),
    ],
)
def test_sparse_encode_invalid_parameters(kwargs, match):
    X, D = random_problem(n=5)
    with pytest.raises(ValueError, match=match):
        sparse_encode(X, D, **kwargs)


def test_sparse_encode_bad_input():
    X, D = random_problem(n=5)
    with pytest.raises(ValueError, match="features"):
        sparse_encode(X[:, :-1], D)
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        sparse_encode(bad, D)


def test_unfinished_homotopy_rows_are_finished_by_fista(monkeypatch):
    """Rows the homotopy gives up on (here: a step budget of 2) still reach the optimum."""
    import skl_sparse._solvers._engines as engines
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu

    X, D = (torch.from_numpy(a) for a in random_problem(n=60, p=20, k=40))
    path = homotopy_cpu(X @ D.T, D @ D.T, 1.5, x_sq=(X * X).sum(1), max_steps=2)
    assert path.n_steps == 2 and not path.finished.all() and path.finished.any()
    assert torch.isfinite(path.codes).all()

    def short_lars(C, G, alpha, **kwargs):
        return homotopy_cpu(C, G, alpha, max_steps=2, **kwargs)

    monkeypatch.setattr(engines, "homotopy_cpu", short_lars)
    X, D = X.numpy(), D.numpy()
    codes = sparse_encode(X, D, alpha=0.05, solver="lars", tol=1e-10, device="cpu")
    check_kkt(X, D, codes, 0.05, False)


def test_lars_codes_do_not_depend_on_the_thread_count(whitened_patches, rng):
    """The compiled homotopy spreads rows over torch's threads (the test workers run with
    one): the codes are the same with several."""
    D = rng.randn(40, whitened_patches.shape[1])
    D /= np.linalg.norm(D, axis=1, keepdims=True)
    X = whitened_patches[:1500]
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        one = sparse_encode(X, D, alpha=0.1, solver="lars", device="cpu")
        torch.set_num_threads(3)
        several = sparse_encode(X, D, alpha=0.1, solver="lars", device="cpu")
    finally:
        torch.set_num_threads(threads)
    np.testing.assert_array_equal(one, several)


@pytest.mark.parametrize("alpha", [0.3, 0.05, 0.01])
def test_float32_iterates_give_float64_codes_to_tol(alpha, whitened_patches):
    """The GPU's default: float32 iterations on float64 input (they find the supports; the
    float64 support solves and iterations finish): the LARS optimum to the tolerance."""
    X, D = patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    exact, _, p_exact, _ = lasso_gram(C, G, x_sq, alpha, solver="lars")
    H, _, primal, gap = lasso_gram(C, G, x_sq, alpha, solver="fista", tol=1e-10,
                                   iterate_dtype=torch.float32)
    assert H.dtype == torch.float64
    assert torch.all(gap <= 1e-10 * primal)
    torch.testing.assert_close(primal, p_exact, rtol=1e-9, atol=0)
    np.testing.assert_allclose(H, exact, atol=1e-6)


@pytest.mark.parametrize("positive", [False, True])
@pytest.mark.parametrize("cpu_tail", [30, 1000])
def test_rows_left_to_the_cpu_homotopy_are_exact(cpu_tail, positive, whitened_patches,
                                                 monkeypatch):
    """On a GPU the last rows of a FISTA run go to the homotopy on the CPU (here forced on
    the CPU): once at most ``cpu_tail`` rows are left, or from the start when there are no
    more. The codes are the exact ones either way."""
    import skl_sparse._solvers._lasso as lasso_mod

    X, D = patch_problem(whitened_patches)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    G, C, x_sq = Dt @ Dt.T, Xt @ Dt.T, (Xt * Xt).sum(1)
    exact, _, p_exact, _ = lasso_gram(C, G, x_sq, 0.05, solver="lars", positive=positive)
    handed = []
    finish = lasso_mod._finish_on_cpu

    def counted(C, *args, **kwargs):
        handed.append(len(C))
        return finish(C, *args, **kwargs)

    monkeypatch.setattr(lasso_mod, "_finish_on_cpu", counted)
    H, _, primal, gap = lasso_gram(C, G, x_sq, 0.05, solver="fista", positive=positive,
                                   cpu_tail=cpu_tail)
    assert len(handed) == 1 and 0 < handed[0] <= cpu_tail
    assert (handed[0] == len(X)) == (cpu_tail >= len(X))
    assert torch.all(gap <= 1e-6 * primal)
    torch.testing.assert_close(primal, p_exact, rtol=1e-9, atol=0)
    np.testing.assert_allclose(H, exact, atol=1e-6)


def test_few_rows_the_homotopy_leaves_go_to_the_cpu_at_once(monkeypatch):
    """With ``cpu_tail`` (on a GPU: the last 256 rows), the rows the compiled homotopy did
    not certify go straight to the CPU when they are that few: handed over before any
    check round, and solved to the optimum."""
    import skl_sparse._solvers._engines as engines
    import skl_sparse._solvers._lasso as lasso_mod
    from skl_sparse._solvers._homotopy_cpu import homotopy_cpu

    X, D = random_problem(n=60, p=20, k=40)
    Xt, Dt = torch.from_numpy(X), torch.from_numpy(D)
    C, G, x_sq = Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1)
    *_, p_h, g_h = homotopy_cpu(C, G, 0.05, max_steps=25, x_sq=x_sq)
    uncertified = int((g_h > 1e-10 * p_h).sum())
    assert 0 < uncertified < len(X)
    monkeypatch.setattr(engines, "homotopy_cpu",
                        lambda C, G, alpha, **kw: homotopy_cpu(C, G, alpha, max_steps=25, **kw))
    events = []
    finish, check = lasso_mod._finish_on_cpu, lasso_mod.convergence_check
    monkeypatch.setattr(lasso_mod, "_finish_on_cpu",
                        lambda C, *a, **kw: events.append(len(C)) or finish(C, *a, **kw))
    monkeypatch.setattr(lasso_mod, "convergence_check",
                        lambda *a, **kw: events.append("check") or check(*a, **kw))
    H, _, _, gap = lasso_gram(C, G, x_sq, 0.05, solver="lars", tol=1e-10,
                              cpu_tail=uncertified)
    assert events[0] == uncertified  # before any check of the outer call
    check_kkt(X, D, H.numpy(), 0.05, False)
