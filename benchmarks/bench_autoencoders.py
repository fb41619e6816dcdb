"""Autoencoder training overhead and PSD's fast encoder, side by side in one run.

1. Fit time of every model against a hand-written torch loop that trains the same module
   (same initial weights, data, loss, optimiser, epochs and batch size): the estimator's
   overhead (validation, early-stopping bookkeeping, state export) should stay within 10%.
2. PSDEncoder on ZCA-whitened 12x12 natural-image patches (144 atoms): distance of the
   predicted codes F(x) to the optimal lasso codes on held-out patches, and the encoding
   time of each (``transform`` vs ``transform(method="optimize")``, and sklearn's lasso_cd
   on the same dictionary).
3. The lecture's claims on digits: denoising vs plain autoencoder on masked test digits,
   mean activation of the sparse autoencoder.

    python benchmarks/bench_autoencoders.py [--epochs 20] [--device cpu]
"""

import argparse
import time
import warnings

import numpy as np
import torch
from sklearn.base import clone
from sklearn.datasets import load_digits
from sklearn.decomposition import sparse_encode as sk_sparse_encode
from sklearn.exceptions import ConvergenceWarning

from skl_sparse import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    KSparseAutoencoder,
    PSDEncoder,
    SparseAutoencoder,
    ZCAWhitener,
)
from skl_sparse._device import resolve_device
from skl_sparse.datasets import load_natural_patches
from skl_sparse.neural_network._modules import init_parameters_


def hand_written_fit(est, X, device):
    """What a user would write: the estimator's module and loss, a bare loop."""
    gen = torch.Generator(device=device).manual_seed(0)
    Xt = torch.as_tensor(X, dtype=torch.float32, device=device)
    module = est._build_module(X.shape[1]).to(device)
    init_parameters_(module, gen)
    est._init_module(module, Xt, gen)
    opt = torch.optim.Adam(module.parameters(), lr=est.learning_rate)
    n, bs = Xt.shape[0], est.batch_size
    for _ in range(est.max_iter):
        order = torch.randperm(n, generator=gen, device=device)
        for start in range(0, n, bs):
            xb = Xt[order[start : start + bs]]
            loss = est._batch_loss(module, xb, gen)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            est._after_step(module)
    return module


def best_of(fn, repeat):
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        if torch.cuda.is_available():
            torch.cuda.synchronize()
        times.append(time.perf_counter() - start)
    return min(times)


def overhead_table(args, device, say=print):
    X = load_digits().data.astype(np.float32) / 16.0
    common = {"n_components": 64, "batch_size": 128, "max_iter": args.epochs, "tol": 0,
              "n_iter_no_change": args.epochs, "learning_rate": 1e-3, "device": str(device),
              "random_state": 0}
    models = [
        Autoencoder(**common),
        SparseAutoencoder(**common),
        KSparseAutoencoder(k=10, **common),
        DenoisingAutoencoder(**common),
        ContractiveAutoencoder(**common),
        ContractiveAutoencoder(hidden_layer_sizes=(128,), **common),
        PSDEncoder(**{**common, "alpha": 0.1}),
    ]
    say(f"\n1. fit time, digits {X.shape}, {args.epochs} epochs, batch 128, device={device}")
    header = f"{'model':<34} {'estimator s':>11} {'hand loop s':>11} {'overhead':>9}"
    say(header)
    say("-" * len(header))
    rows = []
    for est in models:
        name = type(est).__name__ + ("(stacked)" if getattr(est, "hidden_layer_sizes", ()) else "")
        ours = best_of(lambda e=est: clone(e).fit(X), args.repeat)
        hand = best_of(lambda e=est: hand_written_fit(clone(e), X, device), args.repeat)
        say(f"{name:<34} {ours:>11.3f} {hand:>11.3f} {ours / hand - 1:>8.1%}")
        rows.append((name, ours, hand))
    return rows


def psd_table(args, device, say=print):
    patches = load_natural_patches(args.psd_train + args.psd_test, patch_size=(12, 12),
                                   random_state=0)
    patches -= patches.mean(axis=1, keepdims=True)
    zca = ZCAWhitener(eps=0.1).fit(patches[: args.psd_train])
    X = zca.transform(patches).astype(np.float32)
    X /= X.std()
    train, test = X[: args.psd_train], X[args.psd_train :]
    say(f"\n2. PSDEncoder: {len(train)} whitened 12x12 patches to train, {len(test)} held "
          f"out, 144 atoms, alpha={args.psd_alpha}, device={device}")
    header = f"{'predictor':<10} {'fit s':>7} {'rel. dist':>9} {'predict s':>10} " \
             f"{'optimize s':>10} {'speed-up':>9} {'lasso_cd s':>10} {'speed-up':>9}"
    say(header)
    say("-" * len(header))
    rows = []
    for activation in ("shrink", "tanh"):
        psd = PSDEncoder(n_components=144, alpha=args.psd_alpha, activation=activation,
                         max_iter=args.psd_epochs, learning_rate=3e-3, device=str(device),
                         random_state=0)
        start = time.perf_counter()
        psd.fit(train)
        fit_s = time.perf_counter() - start
        psd.transform(test[:100])
        psd.transform(test[:100], method="optimize")
        t_pred = best_of(lambda p=psd: p.transform(test), args.repeat)
        t_opt = best_of(lambda p=psd: p.transform(test, method="optimize"), args.repeat)
        t_cd = best_of(lambda p=psd: sk_sparse_encode(
            test, p.components_, algorithm="lasso_cd", alpha=args.psd_alpha), 1)
        Z_pred, Z_opt = psd.transform(test), psd.transform(test, method="optimize")
        rel = np.linalg.norm(Z_pred - Z_opt) / np.linalg.norm(Z_opt)
        say(f"{activation:<10} {fit_s:>7.1f} {rel:>9.3f} {t_pred:>10.4f} {t_opt:>10.3f} "
            f"{t_opt / t_pred:>8.0f}x {t_cd:>10.3f} {t_cd / t_pred:>8.0f}x")
        rows.append((activation, rel, t_pred, t_opt, t_cd))
    return rows


def claims_table(args, device):
    X = load_digits().data / 16.0
    train, test = X[:1400], X[1400:]
    masked = test * (np.random.RandomState(1).rand(*test.shape) >= 0.3)
    params = {"n_components": 64, "learning_rate": 1e-2, "max_iter": 100,
              "device": str(device), "random_state": 0}
    print(f"\n3. the lecture's claims, digits: {len(train)} to train, {len(test)} held out")
    errors = {}
    for name, est in [("Autoencoder", Autoencoder(**params)),
                      ("DenoisingAutoencoder(mask 0.3)",
                       DenoisingAutoencoder(noise="mask", noise_level=0.3, **params))]:
        est.fit(train)
        rec = est.inverse_transform(est.transform(masked))
        errors[name] = ((rec - test) ** 2).sum(axis=1).mean()
        print(f"   {name:<32} squared error on 30%-masked test digits: {errors[name]:.3f} "
              f"(clean: {-est.score(test):.3f})")
    sae = SparseAutoencoder(sparsity_target=0.05, **params).fit(train)
    act = sae.transform(test).mean(axis=0)
    print(f"   SparseAutoencoder(rho=0.05): held-out mean activation {act.mean():.4f}, "
          f"per unit in [{act.min():.4f}, {act.max():.4f}]")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--psd-train", type=int, default=20000)
    parser.add_argument("--psd-test", type=int, default=100000)
    parser.add_argument("--psd-epochs", type=int, default=10)
    parser.add_argument("--psd-alpha", type=float, default=0.3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--skip", nargs="*", default=[], choices=["overhead", "psd", "claims"])
    return parser.parse_args(argv)


def main():
    args = parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    device = resolve_device(args.device)
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, device={device}")
    if "overhead" not in args.skip:
        overhead_table(args, device)
    if "psd" not in args.skip:
        psd_table(args, device)
    if "claims" not in args.skip:
        claims_table(args, device)


if __name__ == "__main__":
    main()
