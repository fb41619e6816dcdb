"""The GPU against all the CPU cores of the same machine and against SPAMS, in one table.

Problem (issue #12): 100,000 ZCA-whitened 12x12 natural-image patches scaled to unit mean
squared norm, 256 atoms (learned by ``OnlineDictionaryLearner`` on 20,000 other patches),
SPAMS (``pip install spams-bin``) with every CPU thread.

* ``SparseCoder.transform`` (default solver) at alpha 0.3, 0.1, 0.03: seconds of SPAMS' LARS,
  of ours on the CPU and on the GPU (each the best of two runs), and the relative difference
  of the GPU's mean objective to SPAMS' (target: GPU >= 10x faster than SPAMS, objective
  within 1e-6).
* ``OnlineDictionaryLearner``: one epoch, batches of 256, alpha 0.1, against SPAMS
  ``trainDL`` (target: >= 5x faster, held-out objective no worse), and at equal time: SPAMS
  given the seconds of our GPU epoch, ours given the seconds of SPAMS' epoch.
* Every autoencoder and ``PSDEncoder`` (256 units, batches of 256): fit on the GPU, on the
  CPU and by a hand-written torch loop on the GPU (target: GPU faster than CPU, within
  10% of the hand loop).

* Array API dispatch: ``transform`` from a CUDA tensor to a CUDA tensor against
  ``lasso_gram`` alone (target: within 1.2x), and a ZCA -> OnlineDictionaryLearner ->
  LogisticRegression pipeline on CUDA tensors against numpy input (`dispatch_rows`).

    python benchmarks/bench_gpu.py [--n 100000] [--device cuda] [--skip lasso dispatch odl ae]
        [--profile]

Without a GPU, ``--device cpu`` runs the same table with the CPU in both columns.
"""

import argparse
import contextlib
import dataclasses
import functools
import itertools
import os
import time
import traceback
import warnings
from unittest import mock

import numpy as np
import torch
from bench_autoencoders import hand_written_fit
from sklearn.base import clone
from sklearn.exceptions import ConvergenceWarning

import skl_sparse.neural_network._base as torch_base
from skl_sparse import (
    Autoencoder,
    ContractiveAutoencoder,
    DenoisingAutoencoder,
    KSparseAutoencoder,
    OnlineDictionaryLearner,
    PSDEncoder,
    SparseAutoencoder,
    SparseCoder,
    ZCAWhitener,
    config_context,
    get_config,
    sparse_encode,
)
from skl_sparse.datasets import load_natural_patches

try:  # the `bench` extra: pip install -e .[bench]
    import spams
except ImportError:
    spams = None


def problem(n, n_train=20000, n_test=5000, n_atoms=256, seed=0):
    """Training rows, held-out rows and a 256-atom dictionary learned on other rows."""
    patches = load_natural_patches(n + n_train + n_test, patch_size=(12, 12),
                                   random_state=seed)
    patches -= patches.mean(axis=1, keepdims=True)
    Z = ZCAWhitener(eps=1.0).fit(patches[n:]).transform(patches)
    Z /= np.sqrt((Z**2).sum(axis=1).mean())
    X, train, test = Z[:n], Z[n : n + n_train], Z[n + n_train :]
    odl = OnlineDictionaryLearner(n_atoms, alpha=0.1, max_iter=2, tol=0, device="cpu",
                                  random_state=seed).fit(train)
    return X, test, odl.components_


def sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn):
    sync()
    start = time.perf_counter()
    out = fn()
    sync()
    return time.perf_counter() - start, out


def best_of(fn, repeat=2):
    """The shortest of ``repeat`` timed runs (as ``timeit``): steady state for every
    contender, without the first call's allocations (device memory, page-locked
    buffers, the output's pages)."""
    runs = [timed(fn) for _ in range(repeat)]
    return min(t for t, _ in runs), runs[-1][1]


def objective(X, D, H, alpha):
    Xt, Dt, Ht = (torch.from_numpy(np.ascontiguousarray(a, dtype=np.float64)) for a in (X, D, H))
    return float((0.5 * ((Xt - Ht @ Dt) ** 2).sum(1) + alpha * Ht.abs().sum(1)).mean())


def spams_lasso(X, D, alpha, threads):
    codes = spams.lasso(np.asfortranarray(X.T), D=np.asfortranarray(D.T), lambda1=alpha,
                        mode=2, numThreads=threads)
    return np.asarray(codes.todense()).T


def spams_train(X, alpha, n_atoms, batch_size, n_batches, threads):
    D = spams.trainDL(np.asfortranarray(X.T), K=n_atoms, lambda1=alpha, mode=2,
                      iter=n_batches, batchsize=batch_size, numThreads=threads, verbose=False)
    D = np.asarray(D).T
    return D / np.linalg.norm(D, axis=1, keepdims=True)


def held_out(D, X_test, alpha):
    return objective(X_test, D, sparse_encode(X_test, D, alpha=alpha, device="cpu"), alpha)


class Table:
    def __init__(self):
        self.rows = []

    def add(self, work, anchor, cpu, gpu, ratio, reached):
        self.rows.append((work, anchor, cpu, gpu, ratio, reached))
        print("  " + " | ".join(str(c) for c in self.rows[-1]), flush=True)

    def show(self, device, threads):
        head = ("work", "SPAMS / hand loop", f"ours cpu ({threads} thr)", f"ours {device}",
                "ratio", "reached")
        widths = [max(len(str(r[i])) for r in [head, *self.rows]) for i in range(6)]
        line = " | ".join(h.ljust(w) for h, w in zip(head, widths, strict=True))
        print("\n" + line + "\n" + "-" * len(line))
        for r in self.rows:
            print(" | ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)))


def versus_spams(t, obj, t_sp, obj_sp):
    """The ratio and objective columns of a transform row against SPAMS' seconds and
    objective (None: no SPAMS)."""
    if t_sp is None:
        return None, f"obj {obj:.7f}"
    return (f"{t_sp / t:.1f}x vs SPAMS (target 10x)",
            f"obj {obj:.7f}, rel. diff to SPAMS {abs(obj - obj_sp) / obj_sp:.1e}")


def lasso_rows(table, X, D, device, threads):
    for alpha in (0.3, 0.1, 0.03):
        coder = {dev: SparseCoder(alpha=alpha, dictionary=D, device=dev).fit(X[:1])
                 for dev in ("cpu", device)}
        for c in coder.values():
            c.transform(X[:2048])  # warm-up: compiled kernels, CUDA context, cuBLAS
        t_cpu, H_cpu = best_of(lambda c=coder["cpu"]: c.transform(X))
        t_gpu, H_gpu = best_of(lambda c=coder[device]: c.transform(X))
        obj = objective(X, D, H_gpu, alpha)
        density = np.count_nonzero(H_gpu) / H_gpu.size
        t_sp = obj_sp = None
        if spams is not None:
            t_sp, H_sp = best_of(lambda a=alpha: spams_lasso(X, D, a, threads))
            obj_sp = objective(X, D, H_sp, alpha)
        ratio, reached = versus_spams(t_gpu, obj, t_sp, obj_sp)
        anchor = "-" if t_sp is None else f"{t_sp:.3f} s"
        table.add(f"transform a={alpha} ({density:.1%} nnz)", anchor, f"{t_cpu:.3f} s",
                  f"{t_gpu:.3f} s", ratio or f"{t_cpu / t_gpu:.1f}x vs cpu", reached)
        if device != "cpu":
            homotopy_row(table, X, D, alpha, device, anchor, t_sp, obj_sp)


def homotopy_row(table, X, D, alpha, device, anchor, t_sp, obj_sp):
    """solver="lars" on the GPU: the homotopy kernel, one sample per warp (shipped as PTX),
    then FISTA for the rows it could not finish; the driver compiles the PTX on the first
    call (cached on disk after that)."""
    from skl_sparse._solvers._homotopy_cuda import cuda_homotopy_available

    work = f"  same, solver=lars (kernel: {cuda_homotopy_available()})"
    coder = SparseCoder(alpha=alpha, dictionary=D, solver="lars", device=device).fit(X[:1])
    t_first, _ = timed(lambda: coder.transform(X[:2048]))
    t_gpu, H_gpu = best_of(lambda: coder.transform(X))
    ratio, reached = versus_spams(t_gpu, objective(X, D, H_gpu, alpha), t_sp, obj_sp)
    table.add(work, anchor, "-", f"{t_gpu:.3f} s", ratio or "-",
              f"{reached}; first call {t_first:.1f} s")
    # float32 data (the issue lets the device work in either precision): half the bytes
    # over the bus each way; the codes are still finished and certified in float64
    X32, D32 = X.astype(np.float32), D.astype(np.float32)
    for solver in ("auto", "lars"):
        coder = SparseCoder(alpha=alpha, dictionary=D32, solver=solver, device=device)
        coder.fit(X32[:1]).transform(X32[:2048])
        t_gpu, H_gpu = best_of(lambda c=coder: c.transform(X32))
        ratio, reached = versus_spams(t_gpu, objective(X, D, H_gpu, alpha), t_sp, obj_sp)
        table.add(f"  same, float32 data, solver={solver}", anchor, "-", f"{t_gpu:.3f} s",
                  ratio or "-", reached)


def call_times(X, D, device, calls=4):
    """Each of ``calls`` consecutive transforms timed on its own (after a warm-up on 2,048
    rows), and `lasso_gram` alone, per alpha, with the GPU's default policy (the homotopy
    kernel first where a sample says it pays) and with FISTA alone: the first calls of a
    process apart from the steady state, which ``best_of`` reports."""
    from skl_sparse._solvers import _lasso as lasso

    Xt, Dt = torch.from_numpy(X).to(device), torch.from_numpy(D).to(device)
    C, G, x_sq = Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1)
    lipschitz = lasso.gram_eigmax(G)
    default = get_config()["gpu_lasso_policy"]
    for alpha in (0.3, 0.1, 0.03):
        for name, policy in (("default", default), ("FISTA alone", dataclasses.replace(
                default, homotopy=None))):
            with config_context(gpu_lasso_policy=policy):
                coder = SparseCoder(alpha=alpha, dictionary=D, device=device).fit(X[:1])
                coder.transform(X[:2048])
                ms = [1000 * timed(lambda c=coder: c.transform(X))[0] for _ in range(calls)]
                gram = [1000 * timed(lambda a=alpha: lasso.lasso_gram(
                    C, G, x_sq, a, solver="auto", max_support=X.shape[1],
                    lipschitz=lipschitz))[0] for _ in range(calls)]
            print(f"alpha={alpha} {name}: transform calls "
                  f"{', '.join(f'{t:.1f}' for t in ms)} ms; lasso_gram "
                  f"{', '.join(f'{t:.1f}' for t in gram)} ms", flush=True)


def dispatch_rows(X, D, device, pipeline_rows=20000):
    """Array API dispatch on the GPU (issue 27). ``transform`` of every row from a CUDA
    tensor to a CUDA tensor against `lasso_gram` alone on the same rows (the products
    ``X D^T``, ``D D^T`` given; target: within 1.2x) and against numpy in, numpy out; then
    whitening -> online dictionary (one epoch) -> logistic regression, fit and predict, on
    CUDA tensors against the same pipeline on numpy input (best of two each)."""
    import sklearn
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    from skl_sparse._solvers import _lasso as lasso

    Xt, Dt = torch.from_numpy(X).to(device), torch.from_numpy(D).to(device)
    C, G, x_sq = Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1)
    for alpha in (0.3, 0.1, 0.03):
        with sklearn.config_context(array_api_dispatch=True):
            coder = SparseCoder(alpha=alpha, dictionary=Dt).fit(Xt[:1])
            coder.transform(Xt[:2048])
            t_tensor, H = best_of(lambda c=coder: c.transform(Xt))
        t_gram, _ = best_of(lambda a=alpha: lasso.lasso_gram(
            C, G, x_sq, a, solver="auto", max_support=X.shape[1]))
        host = SparseCoder(alpha=alpha, dictionary=D, device=device).fit(X[:1])
        host.transform(X[:2048])
        t_numpy, H_host = best_of(lambda c=host: c.transform(X))
        same = np.abs(H.cpu().numpy() - H_host).max()
        print(f"transform alpha={alpha}: {device} tensor -> tensor {1000 * t_tensor:.1f} ms, "
              f"lasso_gram alone {1000 * t_gram:.1f} ms ({t_tensor / t_gram:.2f}x, target "
              f"<= 1.2x); numpy -> numpy {1000 * t_numpy:.1f} ms "
              f"({t_numpy / t_tensor:.1f}x the tensors'); codes differ by {same:.1e}",
              flush=True)
    n = min(pipeline_rows, len(X))
    Xp = X[:n]
    y = (Xp[:, : Xp.shape[1] // 2].sum(1) > Xp[:, Xp.shape[1] // 2 :].sum(1)).astype(np.int64)

    def fit_predict(A, labels):
        pipe = make_pipeline(
            ZCAWhitener(eps=0.1),
            OnlineDictionaryLearner(D.shape[0], alpha=0.1, max_iter=1, tol=0, device=device,
                                    random_state=0),
            LogisticRegression(max_iter=100))
        return pipe.fit(A, labels).predict(A)

    t_host, pred_host = best_of(lambda: fit_predict(Xp, y))
    with sklearn.config_context(array_api_dispatch=True):
        Xpt, yt = torch.from_numpy(Xp).to(device), torch.from_numpy(y).to(device)
        t_dev, pred_dev = best_of(lambda: fit_predict(Xpt, yt))
    acc_host = float((pred_host == y).mean())
    acc_dev = float((pred_dev == yt).double().mean())
    print(f"pipeline ZCA -> OnlineDictionaryLearner({D.shape[0]}) -> LogisticRegression, "
          f"fit + predict on {n} rows: numpy input {t_host:.2f} s (accuracy {acc_host:.3f}), "
          f"{device} tensors {t_dev:.2f} s (accuracy {acc_dev:.3f}): {t_host / t_dev:.1f}x",
          flush=True)


def odl_rows(table, X, X_test, n_atoms, device, threads, batch_size=256, alpha=0.1):
    params = {"alpha": alpha, "batch_size": batch_size, "max_iter": 1, "tol": 0,
              "random_state": 0}
    OnlineDictionaryLearner(n_atoms, device=device, **params).fit(X[: 4 * batch_size])
    t_cpu, cpu = timed(lambda: OnlineDictionaryLearner(n_atoms, device="cpu", **params).fit(X))
    t_gpu, gpu = timed(lambda: OnlineDictionaryLearner(n_atoms, device=device, **params).fit(X))
    obj_cpu, obj_gpu = (held_out(m.components_, X_test, alpha) for m in (cpu, gpu))
    n_batches = -(-len(X) // batch_size)
    if spams is None:
        table.add("ODL 1 epoch", "-", f"{t_cpu:.2f} s ({obj_cpu:.4f})",
                  f"{t_gpu:.2f} s ({obj_gpu:.4f})", f"{t_cpu / t_gpu:.1f}x vs cpu", "")
        return
    t_sp, D_sp = timed(lambda: spams_train(X, alpha, n_atoms, batch_size, n_batches, threads))
    obj_sp = held_out(D_sp, X_test, alpha)
    table.add("ODL 1 epoch, held-out obj", f"{t_sp:.2f} s ({obj_sp:.4f})",
              f"{t_cpu:.2f} s ({obj_cpu:.4f})", f"{t_gpu:.2f} s ({obj_gpu:.4f})",
              f"{t_sp / t_gpu:.1f}x vs SPAMS (target 5x)",
              "obj no worse" if obj_gpu <= obj_sp else "obj WORSE")
    # equal time: SPAMS stopped after our GPU epoch's seconds; ours given SPAMS' seconds
    n_sp = max(1, int(n_batches * t_gpu / t_sp))
    t_sp2, D_sp2 = timed(lambda: spams_train(X, alpha, n_atoms, batch_size, n_sp, threads))
    epochs = max(1, int(t_sp / t_gpu))
    t_more, more = timed(lambda: OnlineDictionaryLearner(
        n_atoms, device=device, **{**params, "max_iter": epochs}).fit(X))
    obj_sp2, obj_more = (held_out(D, X_test, alpha) for D in (D_sp2, more.components_))
    table.add("ODL at equal time, held-out obj",
              f"{t_sp2:.2f} s ({obj_sp2:.4f}); {t_sp:.2f} s ({obj_sp:.4f})", "",
              f"{t_gpu:.2f} s ({obj_gpu:.4f}); {epochs} epochs {t_more:.2f} s ({obj_more:.4f})",
              "", "better" if obj_gpu <= obj_sp2 and obj_more <= obj_sp else "WORSE")


def ae_rows(table, X, device, epochs=3):
    X = X.astype(np.float32)
    common = {"n_components": 256, "batch_size": 256, "max_iter": epochs, "tol": 0,
              "n_iter_no_change": epochs, "random_state": 0}
    models = [
        (KSparseAutoencoder(k=20, **common), X),
        (SparseAutoencoder(**common), X),
        (DenoisingAutoencoder(**common), X),
        (ContractiveAutoencoder(**common), X),
        (Autoencoder(**common), X),
        (PSDEncoder(alpha=0.1, **{**common, "max_iter": 1, "n_iter_no_change": 1}),
         X[:20000]),
    ]
    for est, data in models:
        try:
            ae_row(table, est, data, device)
        except Exception:  # one estimator failing on the device must not cost the others
            print(f"{type(est).__name__} failed:", flush=True)
            traceback.print_exc()


def ae_row(table, est, data, device):
    name = type(est).__name__
    clone(est).set_params(device=device, max_iter=1).fit(data[:1024])  # warm-up
    t_cpu, _ = timed(lambda e=est, d=data: clone(e).set_params(device="cpu").fit(d))
    captures, capture = [], torch_base.capture_cuda_graph  # was the step replayed?

    def recorded(fn, x):
        out, replay = capture(fn, x)
        captures.append(replay is not None)
        return out, replay

    with mock.patch.object(torch_base, "capture_cuda_graph", recorded):
        t_gpu, _ = timed(lambda e=est, d=data: clone(e).set_params(device=device).fit(d))
    graph = ("graph" if all(captures) else "capture FAILED") if captures else "eager"
    t_hand, _ = timed(lambda e=est, d=data: hand_written_fit(
        clone(e).set_params(device=device), d, torch.device(device)))
    table.add(f"{name} fit, {est.max_iter} ep x {len(data)}", f"hand {t_hand:.2f} s",
              f"{t_cpu:.2f} s", f"{t_gpu:.2f} s", f"{t_cpu / t_gpu:.1f}x vs cpu",
              f"overhead vs hand loop {t_gpu / t_hand - 1:+.1%} ({graph})")


def transform_phases(coder, X):
    """Seconds of each phase of one ``transform``, each timed between device syncs, and its
    number of convergence checks and of rows handed to the CPU."""
    import skl_sparse._solvers._lasso as lasso
    import skl_sparse.sparse_coding._base as base_coding
    import skl_sparse.sparse_coding._encode as encode

    phases, counts = {}, {"checks": 0, "rows to the CPU": 0}

    def timed_phase(name, fn):
        def wrapper(*args, **kwargs):
            t, out = timed(lambda: fn(*args, **kwargs))
            phases[name] = phases.get(name, 0.0) + t
            return out
        return wrapper

    def counted(key, fn, amount):
        def wrapper(*args, **kwargs):
            counts[key] += amount(*args)
            return fn(*args, **kwargs)
        return wrapper

    patches = [(mod, name, timed_phase(name, getattr(mod, name))) for mod, name in [
        (base_coding, "validate_data"), (encode, "check_no_overflow"), (encode, "to_tensor"),
        (encode, "gram_context"), (encode, "lasso_gram"), (encode, "copy_to_numpy")]]
    patches += [(lasso, "convergence_check", counted("checks", lasso.convergence_check,
                                                     lambda *args: 1)),
                (lasso, "_finish_on_cpu", counted("rows to the CPU", lasso._finish_on_cpu,
                                                  lambda C, *args: len(C)))]
    with contextlib.ExitStack() as stack:
        for mod, name, fn in patches:
            stack.enter_context(mock.patch.object(mod, name, fn))
        total, _ = timed(lambda: coder.transform(X))
    rest = total - sum(phases.values())
    print(f"transform alpha={coder.alpha} phases (ms): "
          + ", ".join(f"{k} {v * 1000:.1f}" for k, v in phases.items())
          + f", rest {rest * 1000:.1f}, total {total * 1000:.1f}; "
          + ", ".join(f"{k} {v}" for k, v in counts.items()))


def profile_transform(X, D, device):
    """Where a GPU transform spends its time: ``lasso_gram`` alone under six settings of
    its checks, each phase of one ``transform`` per alpha, and the top operations of one
    ``transform`` (alpha=0.3, 0.1) by device time (and host time at alpha=0.1)."""
    from torch.profiler import ProfilerActivity, profile

    import skl_sparse._solvers._lasso as lasso

    Xt, Dt = torch.from_numpy(X).to(device), torch.from_numpy(D).to(device)
    C, G, x_sq = Xt @ Dt.T, Dt @ Dt.T, (Xt * Xt).sum(1)
    solver = "auto" if device != "cpu" else "fista"  # "auto" is the homotopy on the CPU
    lipschitz = lasso.gram_eigmax(G)
    # (support-solve policy, rows left to the CPU): the default first (the homotopy kernel
    # first where a sample says it pays), then one change at a time: IEEE float32 products
    # throughout, one active-set round, the first check after 10 iterations, checks every
    # 40, four times the rows to the CPU, FISTA alone (no kernel), the kernel with a
    # 32-atom factor only, and eight times the rows to the CPU (the rows the kernel leaves
    # are the densest: the CPU's homotopy may finish a few thousand sooner than FISTA's
    # launches)
    gpu = get_config()["gpu_lasso_policy"]
    tail = gpu.cpu_tail if device != "cpu" else 0
    default = dataclasses.replace(gpu, cpu_tail=tail)
    change = functools.partial(dataclasses.replace, default)
    configs = [default, change(tf32_first=False), change(rounds=1),
               change(first_fraction=0.125), change(first_fraction=0.5, check_every=40),
               change(cpu_tail=tail * 4), change(homotopy=None), change(homotopy=(32,)),
               change(cpu_tail=tail * 8)]
    for alpha, policy in itertools.product((0.3, 0.1, 0.03), configs):
        # G's largest eigenvalue given, as transform gives it (earlier grids included it)
        kwargs = {"solver": solver, "max_support": X.shape[1], "lipschitz": lipschitz}
        # the GPU's policy on either device (the CPU: to try the grid)
        with config_context(cpu_lasso_policy=policy, gpu_lasso_policy=policy):
            # best of two (the first run at each alpha also allocates its buffers)
            t, (_, n_iter, primal, _) = best_of(
                lambda a=alpha, kw=kwargs: lasso.lasso_gram(C, G, x_sq, a, **kw))
        change = [f"{f}={v}" for f, v in dataclasses.asdict(policy).items()
                  if getattr(default, f) != v]
        print(f"lasso_gram alpha={alpha} {', '.join(change) or f'default {default}'}: "
              f"{t * 1000:.1f} ms, "
              f"{n_iter} iterations, objective {float(primal.mean()):.7f}", flush=True)
    import skl_sparse._solvers._homotopy_cuda as lars_cuda

    parallel = lars_cuda.PARALLEL_FROM
    for alpha in (0.3, 0.1, 0.03):  # the homotopy kernel (solver="lars") on the same input
        kwargs = {"solver": "lars", "max_support": X.shape[1], "lipschitz": lipschitz}
        t, (_, n_iter, primal, _) = best_of(
            lambda a=alpha, kw=kwargs: lasso.lasso_gram(C, G, x_sq, a, **kw))
        kernel = ""
        if device != "cpu" and lars_cuda.cuda_homotopy_available():
            for s_max, lanes in (((32, 64), parallel), ((32, 64), 1 << 10), (32, parallel),
                                 (64, parallel)):
                t_k, (_, finished, *_) = best_of(lambda a=alpha, s=s_max, p=lanes: (
                    lars_cuda.homotopy_cuda(C, G, a, x_sq=x_sq, s_max=s, parallel_from=p)))
                kernel += (f"; kernel ({s_max} atoms, lanes solve from {lanes}) "
                           f"{t_k * 1000:.1f} ms, {int((~finished).sum())} rows unfinished")
        print(f"lasso_gram alpha={alpha} solver=lars: {t * 1000:.1f} ms, objective "
              f"{float(primal.mean()):.7f}{kernel}", flush=True)
    coders = {}
    for alpha in (0.3, 0.1, 0.03):
        coders[alpha] = SparseCoder(alpha=alpha, dictionary=D, device=device).fit(X[:1])
        coders[alpha].transform(X[:2048])
        transform_phases(coders[alpha], X)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device != "cpu" else [])
    key = "cuda_time_total" if device != "cpu" else "cpu_time_total"
    for alpha in (0.3, 0.1):
        with profile(activities=activities) as prof:
            coders[alpha].transform(X)
        print(f"transform alpha={alpha}, top operations by {key}:")
        print(prof.key_averages().table(sort_by=key, row_limit=15, max_name_column_width=40))
    print(prof.key_averages().table(sort_by="cpu_time_total", row_limit=10,
                                    max_name_column_width=40))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=100000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--skip", nargs="*", default=[],
                        choices=["lasso", "dispatch", "odl", "ae"])
    parser.add_argument("--profile", action="store_true",
                        help="also profile one transform (alpha=0.1) and time lasso_gram")
    parser.add_argument("--calls", action="store_true",
                        help="first: consecutive transforms timed one by one (call_times)")
    args = parser.parse_args()
    warnings.simplefilter("ignore", ConvergenceWarning)
    threads = os.cpu_count()
    torch.set_num_threads(threads)
    start = time.perf_counter()
    X, X_test, D = problem(args.n)
    gpu_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else "cpu"
    print(f"torch {torch.__version__}, {threads} CPU threads, device {args.device} ({gpu_name}),"
          f" SPAMS {'yes' if spams else 'not installed'}; {X.shape[0]} patches x {X.shape[1]},"
          f" {D.shape[0]} atoms ({time.perf_counter() - start:.0f} s to set up)", flush=True)
    table = Table()
    sections = {
        "calls": lambda: call_times(X, D, args.device) if args.calls else None,
        "lasso": lambda: lasso_rows(table, X, D, args.device, threads),
        "dispatch": lambda: dispatch_rows(X, D, args.device),
        "odl": lambda: odl_rows(table, X, X_test, D.shape[0], args.device, threads),
        "ae": lambda: ae_rows(table, X, args.device),
        "table": lambda: table.show(args.device, threads),
        "profile": lambda: profile_transform(X, D, args.device) if args.profile else None,
    }
    for name, section in sections.items():
        if name in args.skip:
            continue
        try:  # one short run on a lent GPU: a failing section must not cost the others
            section()
        except Exception:
            print(f"section {name} failed:", flush=True)
            traceback.print_exc()
    print(f"total {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
