"""``python -m skl_sparse``: learn V1-like atoms from natural image patches.

Whitens 12x12 patches of the photographs bundled with scikit-learn (ZCA),
learns a 100-atom dictionary online, prints the objective per epoch and the
held-out lasso objective, and saves the atoms as a PNG.
"""

import argparse
import time

import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skl_sparse", description=__doc__)
    parser.add_argument("--n-patches", type=int, default=20000)
    parser.add_argument("--n-components", type=int, default=100)
    parser.add_argument("--alpha", type=float, default=0.3)
    parser.add_argument("--eps", type=float, default=1.0)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--output", default="atoms.png")
    args = parser.parse_args(argv)

    import matplotlib

    matplotlib.use("Agg")

    from skl_sparse import OnlineDictionaryLearner, ZCAWhitener
    from skl_sparse.datasets import load_natural_patches
    from skl_sparse.plotting import plot_atoms

    patches = load_natural_patches(args.n_patches + 2000, random_state=0)
    patches -= patches.mean(axis=1, keepdims=True)
    train, test = patches[: args.n_patches], patches[args.n_patches :]
    zca = ZCAWhitener(eps=args.eps).fit(train)
    train_w, test_w = zca.transform(train), zca.transform(test)
    print(f"{len(train)} whitened 12x12 patches; learning {args.n_components} atoms")
    t0 = time.perf_counter()
    odl = OnlineDictionaryLearner(
        args.n_components, alpha=args.alpha, batch_size=256, max_iter=args.epochs,
        tol=0, device=args.device, random_state=0, verbose=1,
    ).fit(train_w)
    print(f"fit: {time.perf_counter() - t0:.1f}s")
    codes = odl.transform(test_w)
    print(f"held-out mean objective: {-odl.score(test_w):.4f}  "
          f"(zero code: {0.5 * (test_w**2).sum(1).mean():.4f}); "
          f"non-zeros per patch: {np.count_nonzero(codes, axis=1).mean():.1f}")
    fig = plot_atoms(odl.components_, (12, 12), title="Dictionary atoms (ZCA-whitened patches)")
    fig.savefig(args.output, dpi=120, bbox_inches="tight")
    print(f"atoms saved to {args.output}")


if __name__ == "__main__":
    main()
