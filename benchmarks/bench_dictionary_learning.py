"""Online dictionary learning: skl_sparse against scikit-learn and SPAMS, side by side.

Problem (issue #7): 100,000 ZCA-whitened 12x12 natural-image patches, 256 atoms,
alpha = 0.1, mini-batches of 256; quality is the mean lasso objective
``1/2 ||x - h D||^2 + alpha ||h||_1`` of 5,000 other patches coded exactly on the learned
dictionary (the same coder for every method).

* scikit-learn ``MiniBatchDictionaryLearning``: one epoch; its time and held-out objective
  are the anchors.
* skl_sparse ``OnlineDictionaryLearner``: one epoch by ``partial_fit`` over chunks, the
  held-out objective measured after each chunk (outside the clock): the time at which it
  first reaches scikit-learn's objective (target: at most 1/3 of scikit-learn's time).
* SPAMS ``trainDL`` (``pip install spams-bin``), given as many seconds as our epoch took
  (target: our objective no worse at equal time).

    python benchmarks/bench_dictionary_learning.py [--n 100000] [--device cpu]
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.base import clone
from sklearn.decomposition import MiniBatchDictionaryLearning
from sklearn.exceptions import ConvergenceWarning

from skl_sparse import OnlineDictionaryLearner, ZCAWhitener, sparse_encode
from skl_sparse.datasets import load_natural_patches

try:  # the `bench` extra: pip install -e .[bench]
    import spams
except ImportError:
    spams = None


def problem(n, n_test, seed=0):
    patches = load_natural_patches(n + n_test, patch_size=(12, 12), random_state=seed)
    patches -= patches.mean(axis=1, keepdims=True)
    zca = ZCAWhitener(eps=1.0).fit(patches[:n])
    X = zca.transform(patches)
    return X[:n], X[n:]


def held_out_objective(D, X_test, alpha):
    D = D / np.linalg.norm(D, axis=1, keepdims=True)
    H = sparse_encode(X_test, D, alpha=alpha, device="cpu")
    # in torch: numpy's BLAS threads would keep spinning against the next timed step
    Xt, Dt, Ht = (torch.from_numpy(np.ascontiguousarray(a)) for a in (X_test, D, H))
    obj = 0.5 * ((Xt - Ht @ Dt) ** 2).sum(1) + alpha * Ht.abs().sum(1)
    return float(obj.mean())


def run_sklearn(X, args):
    mbdl = MiniBatchDictionaryLearning(
        n_components=args.atoms, alpha=args.alpha, batch_size=args.batch_size, max_iter=1,
        tol=0, max_no_improvement=None, random_state=0, transform_algorithm="lasso_cd",
    )
    start = time.perf_counter()
    mbdl.fit(X)
    return time.perf_counter() - start, mbdl.components_


def run_ours(X, X_test, args, target):
    """One epoch of partial_fit; returns (epoch seconds, seconds to reach target, objective)."""
    odl = OnlineDictionaryLearner(
        args.atoms, alpha=args.alpha, batch_size=args.batch_size, device=args.device,
        random_state=0,
    )
    clone(odl).partial_fit(X[: 2 * args.batch_size])  # load the compiled kernels first
    order = np.random.RandomState(0).permutation(len(X))
    clock, reached, chunk = 0.0, None, args.batch_size * args.check_every
    for start in range(0, len(X), chunk):
        Xc = X[order[start : start + chunk]]
        t0 = time.perf_counter()
        odl.partial_fit(Xc)
        clock += time.perf_counter() - t0
        if reached is None and held_out_objective(odl.components_, X_test, args.alpha) <= target:
            reached = clock
    return clock, reached, odl.components_


def run_spams(X, seconds, args):
    D = spams.trainDL(
        np.asfortranarray(X.T), K=args.atoms, lambda1=args.alpha, mode=2,
        batchsize=args.batch_size, iter=-max(1, int(round(seconds))),
        numThreads=torch.get_num_threads(), verbose=False,
    )
    return np.asarray(D).T


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100000)
    parser.add_argument("--n-test", type=int, default=5000)
    parser.add_argument("--atoms", type=int, default=256)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--check-every", type=int, default=20, help="batches between checks")
    parser.add_argument("--device", default="cpu")
    return parser.parse_args(argv)


def measure(args):
    """Seconds and held-out objectives of the three methods (SPAMS: None when missing)."""
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, X_test = problem(args.n, args.n_test)
    sk_time, sk_D = run_sklearn(X, args)
    sk_obj = held_out_objective(sk_D, X_test, args.alpha)
    ours_time, reached, our_D = run_ours(X, X_test, args, sk_obj)
    out = {"sklearn_s": sk_time, "sklearn_obj": sk_obj, "ours_s": ours_time,
           "ours_reached_s": reached, "ours_obj": held_out_objective(our_D, X_test, args.alpha),
           "spams_obj": None}
    if spams is not None:
        out["spams_obj"] = held_out_objective(run_spams(X, ours_time, args), X_test, args.alpha)
    return out


def main():
    args = parse_args()
    print(f"problem: {args.n} patches x 144 features to learn from, {args.n_test} held out, "
          f"{args.atoms} atoms, alpha={args.alpha}, batch {args.batch_size}, "
          f"torch threads={torch.get_num_threads()}")
    r = measure(args)
    header = f"{'method':<44} {'seconds':>8} {'held-out objective':>19} {'ratio':>8}"
    print(header)
    print("-" * len(header))
    print(f"{'sklearn MiniBatchDictionaryLearning, 1 epoch':<44} {r['sklearn_s']:>8.2f} "
          f"{r['sklearn_obj']:>19.6f} {'1.00':>8}")
    print(f"{'skl_sparse OnlineDictionaryLearner, 1 epoch':<44} {r['ours_s']:>8.2f} "
          f"{r['ours_obj']:>19.6f} {r['sklearn_s'] / r['ours_s']:>7.2f}x")
    if r["ours_reached_s"] is not None:
        print(f"{'  ... reached the sklearn objective after':<44} {r['ours_reached_s']:>8.2f} "
              f"{'':>19} {r['sklearn_s'] / r['ours_reached_s']:>7.2f}x")
    else:
        print("  ... did not reach the sklearn objective within one epoch")
    if r["spams_obj"] is None:
        print("SPAMS not installed (pip install spams-bin): trainDL skipped")
    else:
        print(f"{'SPAMS trainDL, same seconds as our epoch':<44} {round(r['ours_s']):>8.2f} "
              f"{r['spams_obj']:>19.6f} {'':>8}")


if __name__ == "__main__":
    main()
