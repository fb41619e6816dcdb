"""LISTA against FISTA and PSD's predictor: distance to the exact lasso codes, and time.

Problem (issue #15): ZCA-whitened 12x12 natural-image patches scaled to unit mean squared
norm, a 256-atom dictionary learned by ``OnlineDictionaryLearner`` (alpha=0.1) on other
patches; ``LISTAEncoder`` with 1, 3 and 5 layers trained on ``--n-train`` patches to
reproduce the exact codes; on ``--n-test`` held-out patches, the relative distance
``||Z - H*|| / ||H*||`` to the exact codes, the number of FISTA iterations (from zero, no
support solve) that first reaches the same distance, and the seconds per 100,000 rows of
each (LISTA's ``transform``, those FISTA iterations, the exact ``SparseCoder.transform``).
``PSDEncoder``'s one-layer predictor, trained with its own dictionary, is the last row
(distance to the exact codes on its dictionary).

    python benchmarks/bench_lista.py [--n-train 20000] [--n-test 10000] [--device cpu]
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

from skl_sparse import (
    LISTAEncoder,
    OnlineDictionaryLearner,
    PSDEncoder,
    SparseCoder,
    ZCAWhitener,
)
from skl_sparse._device import resolve_device
from skl_sparse._solvers._prox import ProxGrad
from skl_sparse.datasets import load_natural_patches


def problem(n_train, n_test, n_dict=20000, seed=0):
    patches = load_natural_patches(n_train + n_test + n_dict, patch_size=(12, 12),
                                   random_state=seed)
    patches -= patches.mean(axis=1, keepdims=True)
    Z = ZCAWhitener(eps=1.0).fit(patches[-n_dict:]).transform(patches)
    Z /= np.sqrt((Z**2).sum(axis=1).mean())
    return Z[:n_train], Z[n_train : n_train + n_test], Z[-n_dict:]


def timed(fn):
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    start = time.perf_counter()
    out = fn()
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - start, out


def distance(Z, H):
    return float(np.linalg.norm(Z - H) / np.linalg.norm(H))


def fista_curve(X, D, alpha, H, device, max_iter=500):
    """Distance to ``H`` after each FISTA iteration from zero, and the seconds of each."""
    Xt, Dt = (torch.as_tensor(a, device=device) for a in (X, D))
    C, G = Xt @ Dt.T, Dt @ Dt.T
    L = float(torch.linalg.eigvalsh(G).max())
    state = ProxGrad(C, G, torch.zeros_like(C), alpha, False, L, True, C.dtype)
    curve = []
    seconds, _ = timed(lambda: state.run(max_iter) or state.H)
    state = ProxGrad(C, G, torch.zeros_like(C), alpha, False, L, True, C.dtype)
    for _ in range(max_iter):
        state.run(1)
        curve.append(distance(state.H.cpu().numpy(), H))
    return np.array(curve), seconds / max_iter


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-train", type=int, default=20000)
    parser.add_argument("--n-test", type=int, default=10000)
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--alpha", type=float, default=0.1)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    device = resolve_device(args.device)
    train, test, dict_data = problem(args.n_train, args.n_test)
    odl = OnlineDictionaryLearner(256, alpha=args.alpha, max_iter=2, device="cpu",
                                  random_state=0).fit(dict_data)
    D = odl.components_
    exact = SparseCoder(alpha=args.alpha, dictionary=D, device=str(device)).fit(test[:1])
    exact.transform(test[:256])
    t_exact, H = timed(lambda: exact.transform(test))
    curve, t_iter = fista_curve(test, D, args.alpha, H, device)
    per_100k = 100000 / len(test)
    print(f"{len(train)} training and {len(test)} held-out whitened 12x12 patches, 256 atoms, "
          f"alpha={args.alpha}, device={device}; exact codes: {t_exact * per_100k:.3f} s "
          f"per 100,000 rows")
    head = (f"{'encoder':<22} {'rel. distance':>13} {'FISTA iters to match':>21} "
            f"{'s / 100k rows':>13} {'FISTA s / 100k':>15}")
    print(head + "\n" + "-" * len(head))
    for n_layers in (1, 3, 5):
        lista = LISTAEncoder(n_layers, alpha=args.alpha, dictionary=D, max_iter=args.epochs,
                             learning_rate=3e-3, batch_size=256, tol=0,
                             n_iter_no_change=args.epochs, device=str(device),
                             random_state=0).fit(train)
        lista.transform(test[:256])
        t_lista, Z = timed(lambda m=lista: m.transform(test))
        d = distance(Z, H)
        reach = np.flatnonzero(curve <= d)
        n_fista = int(reach[0]) + 1 if reach.size else None
        fista_s = f"{n_fista * t_iter * per_100k:.3f}" if n_fista else "-"
        matched = n_fista if n_fista else f"> {len(curve)}"
        print(f"{f'LISTA {n_layers} layer(s)':<22} {d:>13.3f} {matched:>21} "
              f"{t_lista * per_100k:>13.4f} {fista_s:>15}", flush=True)
    psd = PSDEncoder(256, alpha=args.alpha, max_iter=max(1, args.epochs // 10),
                     learning_rate=3e-3, batch_size=256, device=str(device),
                     random_state=0).fit(train.astype(np.float32))
    t_psd, Z = timed(lambda: psd.transform(test))
    print(f"{'PSD predictor':<22} {distance(Z, psd.transform(test, method='optimize')):>13.3f} "
          f"{'(own dictionary)':>21} {t_psd * per_100k:>13.4f} {'-':>15}")


if __name__ == "__main__":
    main()
