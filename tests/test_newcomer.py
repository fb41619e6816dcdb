"""What a newcomer reads first (issue 28, part 1): the README, the version, the
documented behaviour of a parameter."""

import re
import warnings
from pathlib import Path

import numpy as np
import pytest

import skl_sparse
from skl_sparse import KSparseAutoencoder

ROOT = Path(__file__).resolve().parents[1]


def test_version_is_the_changelogs_top_release():
    top = re.search(r"^## (\d+\.\d+)", (ROOT / "CHANGELOG.md").read_text(), re.M).group(1)
    assert skl_sparse.__version__.startswith(top + ".")


def test_readme_has_no_stutter_and_no_unexplained_note_number():
    readme = (ROOT / "README.md").read_text()
    assert "`max_iter`/`max_iter`" not in readme
    # the lecture notes are named by their subject, not their file number
    assert not re.search(r"\b00\d question", readme)


def test_ksparse_k_not_below_n_components_warns_and_transform_density_is_documented():
    X = np.random.RandomState(0).randn(60, 16)
    with pytest.warns(UserWarning, match="k=20 keeps all n_components=8 units"):
        KSparseAutoencoder(n_components=8, k=20, max_iter=1, device="cpu").fit(X)
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        est = KSparseAutoencoder(n_components=64, k=4, max_iter=1, device="cpu",
                                 random_state=0).fit(X)
    assert (est.transform(X) != 0).sum(axis=1).max() == 12  # ceil(3 * 4)
    doc = KSparseAutoencoder.__doc__.split("k : int")[1].split("alpha_k :")[0]
    assert "30 with the defaults" in doc and "alpha_k=1" in doc


@pytest.mark.parametrize("make", [
    lambda: skl_sparse.Autoencoder(4, device="cpu", verbose=1, random_state=0),
    lambda: skl_sparse.OnlineDictionaryLearner(4, device="cpu", verbose=1, random_state=0),
], ids=["Autoencoder", "OnlineDictionaryLearner"])
def test_partial_fit_progress_counts_epochs_over_the_models_life(make, capsys):
    X = np.random.RandomState(0).randn(200, 16)
    est = make()
    for _ in range(3):
        est.partial_fit(X)
    out = capsys.readouterr().out
    assert est.n_iter_ == 3
    for n in (1, 2, 3):
        assert out.count(f"epoch {n}:") == 1, out
    # each line gives its own epoch's seconds, not a running total
    seconds = [float(s) for s in re.findall(r"\((\d+\.\d+) ?s\)", out)]
    assert len(seconds) == 3


def test_the_default_sparse_coder_converges_on_the_digits_without_a_warning():
    from sklearn.datasets import load_digits

    X = load_digits().data / 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        est = skl_sparse.SparseCoder(device="cpu", random_state=0).fit(X)
    assert est.n_iter_ < est.max_iter


@pytest.mark.parametrize("through_pipeline", [False, True])
def test_convergence_warnings_point_at_the_users_line(through_pipeline):
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.pipeline import make_pipeline

    X = np.random.RandomState(0).randn(100, 8)
    est = skl_sparse.SparseCoder(4, max_iter=2, device="cpu", random_state=0)
    model = make_pipeline(est) if through_pipeline else est
    with pytest.warns(ConvergenceWarning) as record:
        model.fit(X)
    assert Path(record[0].filename).name == Path(__file__).name


def test_make_demo_installs_only_what_the_demo_needs_and_shows_progress():
    makefile = (ROOT / "Makefile").read_text()
    demo_stamp = re.search(r"^demo: (\S+)", makefile, re.M).group(1)
    recipe = makefile.split(f"{demo_stamp}:")[1].split("\n\n")[0]
    installs = [line for line in recipe.splitlines() if "pip install" in line]
    assert installs and not any("test" in line or "doc" in line for line in installs)
    big = [line for line in installs if "TORCH" in line or "-e" in line]
    assert big and not any(" -q" in line for line in big)
