"""The experiments and their command line, on small data."""

import warnings

import pytest

from skl_sparse import experiments
from skl_sparse.experiments import _classification, _gabor


def test_self_taught_command_prints_the_table_and_nothing_to_wonder_about(tmp_path, capsys):
    """The README's main job, small: its table and progress, and no warning escapes."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        experiments.main(["self-taught", "--sizes", "20", "60", "--repeats", "1",
                          "--output", str(tmp_path / "atoms.png")])
    out = capsys.readouterr()
    assert "Warning" not in out.out + out.err
    table = out.out.split("labelled training examples\n")[-1]
    rows = {line[:30].strip(): line[30:].split() for line in table.splitlines()[1:7]}
    assert list(rows) == ["Raw", "PCA", "Sparse coding", "Sparse coding (whole image)",
                          "Sparse autoencoder", "Denoising autoencoder"]
    assert all(len(a) == 2 and min(float(v) for v in a) > 50 for a in rows.values())
    assert (tmp_path / "atoms.png").stat().st_size > 0
    # the figure shows the atoms behind the table's best dictionary row, and says so
    dictionary_rows = {k: v for k, v in rows.items() if k.startswith("Sparse coding")}
    best = max(dictionary_rows, key=lambda k: sum(float(v) for v in dictionary_rows[k]))
    assert f'atoms of "{best}"' in out.out


def test_best_atoms_are_those_of_the_best_dictionary_row():
    class Fitted:  # an ImagePatchEncoder's fitted parts, as _best_atoms reads them
        def __init__(self, atoms):
            self.estimator = type("E", (), {"patch_encoder_": [atoms]})()

    class Odl:
        components_ = "whole-image atoms"

    patch_atoms = type("P", (), {"components_": "patch atoms"})()
    reps = {"Raw": None, "Sparse coding": (Fitted(patch_atoms), {}),
            "Sparse coding (whole image)": None}
    rows = {"Raw": [99, 99], "Sparse coding": [80, 90], "Sparse coding (whole image)": [70, 95]}
    assert _classification._best_atoms(rows, reps, Odl, (8, 8)) == (
        "Sparse coding", "patch atoms", (4, 4))
    rows["Sparse coding (whole image)"] = [90, 95]
    assert _classification._best_atoms(rows, reps, Odl, (8, 8)) == (
        "Sparse coding (whole image)", "whole-image atoms", (8, 8))


def test_caltech_standin_experiment_small(tmp_path):
    pytest.importorskip("skimage")
    table, rows = experiments.caltech101(sizes=(5,), repeats=1,
                                         output=str(tmp_path / "atoms.png"), verbose=0)
    assert rows["Sparse coding"][0] > 0.8
    assert "faces" in table


def test_experiments_command_line(capsys, tmp_path, monkeypatch):
    def fake(*args, **kwargs):
        return "TABLE", {}

    monkeypatch.setattr(_classification, "self_taught", fake)
    experiments.main(["self-taught", "--output", str(tmp_path / "a.png")])
    assert "TABLE" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        experiments.main(["unknown"])


def test_gabor_analysis_small(tmp_path):
    summary, params = experiments.gabor_analysis(n_patches=2000, n_components=12, max_iter=1,
                                                 output=str(tmp_path / "g.png"), verbose=0)
    assert params["r2"].shape == (12,) and "R^2 >= 0.8" in summary
    assert (tmp_path / "g.png").stat().st_size > 0


def test_caltech_standin_with_gabor_patch_atoms():
    pytest.importorskip("skimage")
    table, rows = experiments.caltech101(sizes=(5,), repeats=1, gabor=True, verbose=0)
    assert rows["Sparse coding (Gabor atoms)"][0] > 0.8
    assert "Sparse coding (Gabor atoms)" in table


def test_gabor_experiment_commands(capsys, monkeypatch):
    calls = {}

    def fake(name):
        def run(*args, **kwargs):
            calls[name] = (args, kwargs)
            return name.upper(), {}
        return run

    monkeypatch.setattr(_gabor, "gabor_recovery", fake("recovery"))
    monkeypatch.setattr(_gabor, "gabor_dictionary_comparison", fake("dictionary"))
    experiments.main(["gabor-recovery", "--n-trials", "7"])
    experiments.main(["gabor-dictionary", "--n-components", "9", "--random-state", "2"])
    out = capsys.readouterr().out
    assert "RECOVERY" in out and "DICTIONARY" in out and "saved" not in out
    assert calls["recovery"][0] == (7,)
    assert calls["dictionary"] == ((9,), {"random_state": 2})


def test_gabor_dictionary_comparison_small():
    summary, res = experiments.gabor_dictionary_comparison(
        8, n_patches=600, n_test=200, max_iter=1, accuracies=False, verbose=0)
    assert res["parameters"] == {"Free atoms (OnlineDictionaryLearner)": 144,
                                 "Gabor atoms (GaborDictionaryLearner)": 8}
    assert all(0 < v < 0.5 for v in res["objective"].values())
    assert "held-out" in summary
