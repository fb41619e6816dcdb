"""skl_sparse.decomposition against sklearn.decomposition: the same estimators, the import
changed. Learning time and the held-out lasso objective of the learned atoms, side by side.

Problem: whitened 8x8 natural-image patches (2,000 to learn from, 1,000 held out), 64 atoms,
alpha = 0.1; ``DictionaryLearning(max_iter=30, transform_algorithm="lasso_lars")`` and
``MiniBatchDictionaryLearning(batch_size=256, max_iter=5)``, both with ``random_state=0``.
The held-out objective is ``1/2 ||x - h D||^2 + alpha ||h||_1`` with scikit-learn's
``lasso_lars`` codes for both dictionaries.

    python benchmarks/bench_dropin.py [--n 2000] [--device cpu]
"""

import argparse
import time
import warnings

import numpy as np
import sklearn.decomposition as theirs
from sklearn.exceptions import ConvergenceWarning

import skl_sparse.decomposition as ours
from skl_sparse import ZCAWhitener
from skl_sparse.datasets import load_natural_patches


def heldout(X, D, alpha):
    H = theirs.sparse_encode(X, D, algorithm="lasso_lars", alpha=alpha)
    return float((0.5 * ((X - H @ D) ** 2).sum(1) + alpha * np.abs(H).sum(1)).mean())


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    P = load_natural_patches(args.n + 1000, patch_size=(8, 8), random_state=0)
    P -= P.mean(axis=1, keepdims=True)
    X = ZCAWhitener(eps=1.0).fit_transform(P)
    train, test, alpha = X[: args.n], X[args.n :], 0.1
    cases = {
        "DictionaryLearning": dict(n_components=64, alpha=alpha, max_iter=30,
                                   transform_algorithm="lasso_lars", random_state=0),
        "MiniBatchDictionaryLearning": dict(n_components=64, alpha=alpha, batch_size=256,
                                            max_iter=5, random_state=0),
    }
    print(f"{args.n} whitened 8x8 patches, 64 atoms, alpha={alpha}, device={args.device}")
    print(f"{'estimator':<28} {'sklearn s':>9} {'ours s':>7} {'speed-up':>8} "
          f"{'held-out sklearn':>16} {'ours':>9}")
    for name, params in cases.items():
        start = time.perf_counter()
        ref = getattr(theirs, name)(**params).fit(train)
        t_ref = time.perf_counter() - start
        start = time.perf_counter()
        mine = getattr(ours, name)(device=args.device, **params).fit(train)
        t_mine = time.perf_counter() - start
        print(f"{name:<28} {t_ref:>9.2f} {t_mine:>7.2f} {t_ref / t_mine:>7.1f}x "
              f"{heldout(test, ref.components_, alpha):>16.5f} "
              f"{heldout(test, mine.components_, alpha):>9.5f}", flush=True)


if __name__ == "__main__":
    main()
