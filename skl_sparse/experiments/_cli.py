"""The command line of the experiments: parse, run one, print its table.

``python -m skl_sparse.experiments`` and ``python -m skl_sparse`` both land here. The
experiments are library functions (`_classification`, `_gabor`) that return their results
(and report progress when ``verbose``); this module prints the tables, and picks a
non-interactive matplotlib backend for the figures it saves.
"""

import argparse
import time
import warnings

from sklearn.exceptions import ConvergenceWarning

from . import _classification, _gabor

DESCRIPTION = "The lecture's experiments: self-taught learning and Caltech-101 object recognition."


def _run(args):
    seed = args.random_state
    if args.experiment == "gabor-recovery":
        return _gabor.gabor_recovery(args.n_trials, random_state=seed)[0]
    if args.experiment == "gabor-dictionary":
        return _gabor.gabor_dictionary_comparison(args.n_components, random_state=seed)[0]
    if args.experiment == "gabor":
        return _gabor.gabor_analysis(n_components=args.n_components, random_state=seed,
                                     output=args.output)[0]
    common = {"data_home": args.data_home, "sizes": args.sizes, "repeats": args.repeats,
              "random_state": seed, "output": args.output, "gabor": args.gabor}
    if args.experiment == "self-taught":
        return _classification.self_taught(args.dataset, **common)[0]
    return _classification.caltech101(categories=args.categories, **common)[0]


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m skl_sparse.experiments",
                                     description=DESCRIPTION)
    sub = parser.add_subparsers(dest="experiment", required=True)
    st = sub.add_parser("self-taught", help="features from digits 5-9, classify digits 0-4")
    st.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    ct = sub.add_parser("caltech101", help="object recognition (offline stand-in by default)")
    ct.add_argument("--categories", nargs="*")
    gb = sub.add_parser("gabor", help="Gabor fits of atoms learned on natural patches")
    gb.add_argument("--n-components", type=int, default=100)
    gr = sub.add_parser("gabor-recovery", help="the 001 question: recover a hidden Gabor filter")
    gr.add_argument("--n-trials", type=int, default=200)
    gd = sub.add_parser("gabor-dictionary", help="Gabor atoms vs free atoms (objective, accuracy)")
    gd.add_argument("--n-components", type=int, default=100)
    for p in (gr, gd):
        p.add_argument("--random-state", type=int, default=0)
        p.add_argument("--output", default=None, help=argparse.SUPPRESS)
    for p in (st, ct):
        p.add_argument("--data-home", default=None)
        p.add_argument("--sizes", type=int, nargs="+")
        p.add_argument("--repeats", type=int, default=3)
        p.add_argument("--random-state", type=int, default=0)
        p.add_argument("--output", default="atoms.png", help="figure of the learned atoms")
        p.add_argument("--gabor", action="store_true",
                       help="add the row of Gabor-parameterised patch atoms")
    gb.add_argument("--random-state", type=int, default=0)
    gb.add_argument("--output", default="gabor.png", help="atoms and their Gabor statistics")
    args = parser.parse_args(argv)
    if args.output:
        import matplotlib

        matplotlib.use("Agg")  # figures go to files: no window, no display needed
    start = time.perf_counter()
    # the experiments fit with fixed, short budgets (epochs, iterations) on purpose and
    # report their own accuracies: the learners' "not converged yet" warnings would only
    # interleave source lines with the results
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        table = _run(args)
    print()
    print(table)
    saved = f"; figure saved to {args.output}" if args.output else ""
    print(f"\n({time.perf_counter() - start:.0f} s{saved})")
