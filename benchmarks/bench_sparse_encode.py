"""Lasso inference speed: skl_sparse against scikit-learn, side by side in one run.

Problem (issue #3/#7): 10,000 ZCA-whitened 12x12 natural-image patches (photographs bundled
with scikit-learn, DC removed, ``ZCAWhitener(eps=1.0)``), a 256-atom dictionary learned by
``OnlineDictionaryLearner`` on 20,000 other patches, alpha in {0.3, 0.1, 0.03}; scikit-learn's
``lasso_cd`` and ``lasso_lars`` and, when ``spams-bin`` is installed, SPAMS' LARS. For every
method the table shows seconds, the mean objective reached, its relative duality gap
(sum of gaps / sum of objectives, computed the same way for all) and the speed-up of each
skl_sparse solver over sklearn ``lasso_cd``.

    python benchmarks/bench_sparse_encode.py [--n 10000] [--no-lars] [--device cpu]
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.decomposition import sparse_encode as sk_sparse_encode
from sklearn.exceptions import ConvergenceWarning

from skl_sparse import OnlineDictionaryLearner, SparseCoder, ZCAWhitener
from skl_sparse._solvers import duality_gap
from skl_sparse.datasets import load_natural_patches

try:  # the `bench` extra: pip install -e .[bench]
    import spams
except ImportError:
    spams = None


def problem(n, n_atoms, seed=0):
    patches = load_natural_patches(n + 20000, patch_size=(12, 12), random_state=seed)
    patches -= patches.mean(axis=1, keepdims=True)
    zca = ZCAWhitener(eps=1.0).fit(patches[n:])
    X, train = zca.transform(patches[:n]), zca.transform(patches[n:])
    odl = OnlineDictionaryLearner(n_atoms, alpha=0.1, batch_size=256, max_iter=2, tol=0,
                                  device="cpu", random_state=seed).fit(train)
    return X, odl.components_


def gap_of(X, D, H, alpha):
    Xt, Dt, Ht = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)) for a in (X, D, H))
    primal, gap = duality_gap(Xt @ Dt.T, Dt @ Dt.T, Ht, (Xt * Xt).sum(1), alpha)
    return float(primal.mean()), float(gap.sum() / primal.sum())


def spams_lasso(X, D, alpha):
    """SPAMS' LARS (mode 2: 1/2||x - D h||^2 + alpha ||h||_1), all threads."""
    codes = spams.lasso(np.asfortranarray(X.T), D=np.asfortranarray(D.T), lambda1=alpha,
                        mode=2, numThreads=torch.get_num_threads())
    return np.asarray(codes.todense()).T


def timed(fn, budget=1.0, repeat=5):
    """Seconds of ``fn`` (the best of up to ``repeat`` calls while they total under
    ``budget`` seconds) and its output. Each call starts after a pause, in which the
    OpenMP/BLAS threads the previous method left spinning (for up to ~100 ms after a
    call) go to sleep: they would slow down whichever method comes next."""
    best, spent = float("inf"), 0.0
    for _ in range(repeat):
        time.sleep(0.3)
        start = time.perf_counter()
        out = fn()
        seconds = time.perf_counter() - start
        best, spent = min(best, seconds), spent + seconds
        if spent > budget:
            break
    return best, out


def ours(X, D, alpha, solver, device):
    """``SparseCoder(dictionary=D).transform``, the estimator path users call."""
    coder = SparseCoder(alpha=alpha, dictionary=D, solver=solver, transform_tol=1e-6,
                        transform_max_iter=5000, device=device).fit(X[:1])
    coder.transform(X[:64])  # warm-up: compiled kernels loaded
    return timed(lambda: coder.transform(X))


def measure(X, D, alpha, *, solvers=("lars",), sklearn_lars=False, device="cpu"):
    """Rows ``(method, seconds, mean objective, relative gap)``, sklearn lasso_cd first."""
    rows = [("sklearn lasso_cd",
             *timed(lambda: sk_sparse_encode(X, D, algorithm="lasso_cd", alpha=alpha)))]
    if sklearn_lars:
        rows.append(("sklearn lasso_lars",
                     *timed(lambda: sk_sparse_encode(X, D, algorithm="lasso_lars", alpha=alpha))))
    if spams is not None:
        rows.append(("SPAMS lasso (LARS)", *timed(lambda: spams_lasso(X, D, alpha))))
    for solver in solvers:
        rows.append((f"skl_sparse {solver}", *ours(X, D, alpha, solver, device)))
    density = np.count_nonzero(rows[-1][2]) / rows[-1][2].size
    return density, [(name, t, *gap_of(X, D, H, alpha)) for name, t, H in rows]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000)
    parser.add_argument("--atoms", type=int, default=256)
    parser.add_argument("--alphas", type=float, nargs="+", default=[0.3, 0.1, 0.03])
    parser.add_argument("--no-lars", action="store_true", help="skip sklearn lasso_lars (slow)")
    parser.add_argument("--solvers", nargs="+", default=["lars", "fista", "ista"])
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)

    X, D = problem(args.n, args.atoms)
    print(f"problem: {X.shape[0]} patches x {X.shape[1]} features, {D.shape[0]} atoms, "
          f"torch threads={torch.get_num_threads()}, device={args.device}")
    header = f"{'alpha':>6} {'density':>8} {'method':<22} {'seconds':>8} {'objective':>12} "
    header += f"{'rel.gap':>9} {'vs lasso_cd':>11}"
    if spams is None:
        print("SPAMS not installed (pip install spams-bin): its rows are skipped")
    print(header)
    print("-" * len(header))
    for alpha in args.alphas:
        density, rows = measure(X, D, alpha, solvers=args.solvers,
                                sklearn_lars=not args.no_lars, device=args.device)
        t_cd = rows[0][1]
        for name, t, obj, rel_gap in rows:
            print(f"{alpha:>6} {density:>8.2%} {name:<22} {t:>8.3f} {obj:>12.6f} "
                  f"{rel_gap:>9.1e} {t_cd / t:>10.2f}x", flush=True)


if __name__ == "__main__":
    main()
