"""Every performance target of the project in one table, measured in one run.

Columns: the problem, the anchors (measured here in the same run; the issue's reference
numbers for this kind of machine in brackets), ours, the ratio, and what was reached
(objective, gap, distance or memory). Each row comes from one of the benchmark scripts
next to this one, which print more detail on their own.

    python benchmarks/run_all.py [--quick] [--device cpu]

``--quick`` shrinks the problems (for a smoke test, not for the numbers).
"""

import argparse
import platform
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import torch
from sklearn.exceptions import ConvergenceWarning

sys.path.insert(0, str(Path(__file__).parent))

import bench_autoencoders  # noqa: E402
import bench_dictionary_learning  # noqa: E402
import bench_memory  # noqa: E402
import bench_sparse_encode  # noqa: E402

# the issue's anchors (2 cores, seconds): sklearn lasso_lars, lasso_cd, SPAMS LARS
ISSUE_ANCHORS = {0.3: (3.2, 0.90, 0.11), 0.1: (20.8, 1.6, 0.41), 0.03: (79.4, 8.2, 2.4)}


class Table:
    def __init__(self):
        self.rows = []

    def add(self, problem, anchor, ours, ratio, reached):
        self.rows.append((problem, anchor, ours, ratio, reached))
        print(f"  done: {problem}", flush=True)

    def show(self):
        head = ("problem", "anchor", "ours", "ratio", "reached")
        widths = [max(len(str(r[i])) for r in [head, *self.rows]) for i in range(5)]
        line = "  ".join(f"{{:<{w}}}" for w in widths)
        print(line.format(*head))
        print("-" * (sum(widths) + 8))
        for r in self.rows:
            print(line.format(*r))


def lasso_rows(table, args):
    X, D = bench_sparse_encode.problem(args.n_lasso, 256)
    for alpha in (0.3, 0.1, 0.03):
        density, rows = bench_sparse_encode.measure(X, D, alpha, device=args.device)
        by = {name: (t, obj, gap) for name, t, obj, gap in rows}
        t_cd = by["sklearn lasso_cd"][0]
        t, obj, gap = by["skl_sparse lars"]
        _, ref_cd, ref_spams = ISSUE_ANCHORS[alpha]
        problem = f"transform, {len(X)} patches, 256 atoms, alpha={alpha} ({density:.1%})"
        table.add(problem, f"lasso_cd {t_cd:.2f} s [{ref_cd}]", f"{t:.3f} s",
                  f"{t_cd / t:.1f}x (target 5x)", f"obj {obj:.6f}, rel. gap {gap:.0e}")
        if "SPAMS lasso (LARS)" in by:
            t_sp, obj_sp, _ = by["SPAMS lasso (LARS)"]
            table.add(f"  same, against SPAMS LARS ({torch.get_num_threads()} threads)",
                      f"SPAMS {t_sp:.3f} s [{ref_spams}]", f"{t:.3f} s",
                      f"{t_sp / t:.2f}x (target >= 1 at alpha <= 0.1)", f"SPAMS obj {obj_sp:.6f}")


def dictionary_rows(table, args):
    dl_args = bench_dictionary_learning.parse_args(
        ["--n", str(args.n_dl), "--device", args.device]
    )
    r = bench_dictionary_learning.measure(dl_args)
    reached = r["ours_reached_s"]
    table.add(f"OnlineDictionaryLearner, {args.n_dl} patches, 1 epoch",
              f"MiniBatchDL {r['sklearn_s']:.1f} s", f"{r['ours_s']:.2f} s",
              f"{r['sklearn_s'] / r['ours_s']:.1f}x",
              f"held-out {r['ours_obj']:.6f} vs {r['sklearn_obj']:.6f}")
    table.add("  time to reach MiniBatchDL's held-out objective",
              f"MiniBatchDL {r['sklearn_s']:.1f} s",
              "not reached" if reached is None else f"{reached:.2f} s",
              "-" if reached is None else f"{r['sklearn_s'] / reached:.1f}x (target 3x)", "")
    if r["spams_obj"] is not None:
        ratio = r["ours_obj"] / r["spams_obj"]
        table.add("  SPAMS trainDL given our epoch's seconds", f"SPAMS {r['spams_obj']:.6f}",
                  f"{r['ours_obj']:.6f}", f"{ratio:.3f} (<= 1: ours as good)",
                  "held-out objectives")


def memory_rows(table, args):
    r = bench_memory.measure(args.n_memory, device=args.device)
    table.add(f"transform memory, {r['shape'][0]:,} x 144 float32, 256 atoms", "-",
              f"{r['extra_gib'] * 1024:.0f} MiB", "target <= 1.5 GiB",
              f"{r['seconds']:.1f} s, output {r['output_gib']:.2f} GiB")


def autoencoder_rows(table, args):
    ae_args = bench_autoencoders.parse_args(
        ["--epochs", str(args.ae_epochs), "--psd-test", str(args.n_psd), "--device", args.device]
    )
    device = torch.device(ae_args.device)
    quiet = lambda *a, **k: None  # noqa: E731
    for name, ours, hand in bench_autoencoders.overhead_table(ae_args, device, say=quiet):
        table.add(f"fit {name}, digits, {args.ae_epochs} epochs", f"hand loop {hand:.3f} s",
                  f"{ours:.3f} s", f"{ours / hand - 1:+.1%} (target <= +10%)", "")
    for act, rel, t_pred, t_opt, t_cd in bench_autoencoders.psd_table(ae_args, device, say=quiet):
        table.add(f"PSDEncoder predict ({act}), {args.n_psd} patches",
                  f"optimize {t_opt:.2f} s, lasso_cd {t_cd:.1f} s", f"{t_pred:.3f} s",
                  f"{t_opt / t_pred:.0f}x / {t_cd / t_pred:.0f}x (target 50x)",
                  f"rel. distance {rel:.3f} (target 0.2)")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    scale = 10 if args.quick else 1
    args.n_lasso, args.n_dl = 10000 // scale, 100000 // scale
    args.n_memory, args.n_psd = 1_000_000 // scale, 100000 // scale
    args.ae_epochs = 20 // scale * 2 if args.quick else 20
    warnings.simplefilter("ignore", ConvergenceWarning)
    np.set_printoptions(precision=4)
    start = time.perf_counter()
    print(f"machine: {platform.machine()}, {platform.processor() or 'cpu'}, torch "
          f"{torch.__version__}, {torch.get_num_threads()} threads, device={args.device}"
          + (f" ({torch.cuda.get_device_name()})" if args.device.startswith("cuda") else ""))
    table = Table()
    lasso_rows(table, args)
    dictionary_rows(table, args)
    memory_rows(table, args)
    autoencoder_rows(table, args)
    print(f"\nall measured in one run, {time.perf_counter() - start:.0f} s:\n")
    table.show()


if __name__ == "__main__":
    main()
