"""Image features, data loaders (never downloading) and the experiments on small data."""

import hashlib
import io
import tarfile
import warnings
import zipfile

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

import skl_sparse.datasets as ds
from skl_sparse import experiments
from skl_sparse.features import ImagePatchEncoder


def test_pooling_sums_codes_over_the_grid():
    rng = np.random.RandomState(0)
    images = rng.rand(3, 6, 8)
    enc = ImagePatchEncoder(FunctionTransformer(), patch_size=(1, 1), grid=(1, 2),
                            normalize_patches=False, n_fit_patches=10, random_state=0)
    F = enc.fit_transform(images)
    assert F.shape == (3, 5) and enc.n_features_out_ == 5
    np.testing.assert_allclose(F[:, 0], images.sum(axis=(1, 2)))
    np.testing.assert_allclose(F[:, 1], images[:, :3, :4].sum(axis=(1, 2)))  # top-left
    np.testing.assert_allclose(F[:, 4], images[:, 3:, 4:].sum(axis=(1, 2)))  # bottom-right
    enc.set_params(pooling="max", split_sign=True)
    F = enc.fit_transform(images - 0.5)
    assert F.shape == (3, 10)
    np.testing.assert_allclose(F[:, 0], np.maximum(images - 0.5, 0).max(axis=(1, 2)))


def test_image_features_accept_2d_3d_4d_and_stream():
    rng = np.random.RandomState(0)
    images = rng.rand(10, 9, 9, 3)
    enc = ImagePatchEncoder(PCA(4), patch_size=(3, 3), step=2, n_fit_patches=200,
                            transform_batch_size=3, random_state=0).fit(images)
    F4 = enc.transform(images)
    flat = ImagePatchEncoder(PCA(4), image_shape=(9, 9, 3), patch_size=(3, 3), step=2,
                             n_fit_patches=200, random_state=0).fit(images.reshape(10, -1))
    np.testing.assert_allclose(flat.transform(images.reshape(10, -1)), F4, rtol=1e-6)
    assert enc.patch_encoder_.n_features_in_ == 27
    with pytest.raises(ValueError, match="image_shape"):
        ImagePatchEncoder(image_shape=(5, 5)).fit(images.reshape(10, -1))
    with pytest.raises(ValueError, match="patch_size"):
        ImagePatchEncoder(patch_size=(20, 20)).fit(images)
    with pytest.raises(ValueError, match="features|do not match"):
        enc.transform(rng.rand(2, 8, 8, 3))


def test_image_features_in_a_grid_search():
    rng = np.random.RandomState(0)
    y = np.repeat([0, 1], 20)
    images = rng.rand(40, 8, 8)
    images[y == 1, :, ::2] += 1.0  # vertical stripes for class 1
    pipe = Pipeline([("feat", ImagePatchEncoder(PCA(3), patch_size=(2, 2), n_fit_patches=300,
                                                random_state=0)),
                     ("clf", LogisticRegression())])
    search = GridSearchCV(pipe, {"feat__pooling": ["sum", "max"]}, cv=2, n_jobs=2)
    assert search.fit(images.reshape(40, -1), y).best_score_ > 0.9


def _write_caltech_tree(root, n_per_class=3):
    from PIL import Image

    rng = np.random.RandomState(0)
    folder = root / "101_ObjectCategories"
    for name in ("accordion", "Faces", "BACKGROUND_Google"):
        (folder / name).mkdir(parents=True)
        for i in range(n_per_class):
            pixels = (rng.rand(20 + i, 30, 3) * 255).astype(np.uint8)
            Image.fromarray(pixels).save(folder / name / f"image_{i + 1:04d}.jpg")
    return folder


def test_fetch_caltech101_reads_the_folder_layout(tmp_path):
    _write_caltech_tree(tmp_path / "caltech101" / "caltech-101")
    data = ds.fetch_caltech101(tmp_path, download_if_missing=False, image_size=(16, 12))
    assert data.images.shape == (6, 16, 12) and data.images.dtype == np.float32
    assert data.target_names == ["Faces", "accordion"]
    assert 0 <= data.images.min() and data.images.max() <= 1
    rgb = ds.fetch_caltech101(tmp_path, download_if_missing=False, grey=False,
                              include_background=True, max_per_category=2)
    assert rgb.images.shape == (6, 64, 64, 3) and len(rgb.target_names) == 3
    with pytest.raises(ValueError, match="Unknown"):
        ds.fetch_caltech101(tmp_path, download_if_missing=False, categories=["zebra"])
    with pytest.raises(OSError, match="download_if_missing"):
        ds.fetch_caltech101(tmp_path / "empty", download_if_missing=False)


def test_fetch_caltech101_download_checks_and_unpacks_the_archive(tmp_path, monkeypatch):
    """The download path, served from a local file: zip -> tar.gz -> folders, MD5 checked."""
    src = _write_caltech_tree(tmp_path / "src")
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as t:
        t.add(src, arcname="101_ObjectCategories")
    archive = tmp_path / "caltech-101.zip"
    with zipfile.ZipFile(archive, "w") as z:
        z.writestr("caltech-101/101_ObjectCategories.tar.gz", tar_bytes.getvalue())
    monkeypatch.setattr(ds, "CALTECH101_URL", archive.as_uri())
    monkeypatch.setattr(ds, "CALTECH101_MD5", "0" * 32)
    with pytest.raises(OSError, match="MD5"):
        ds.fetch_caltech101(tmp_path / "home")
    assert not list((tmp_path / "home").rglob("*.zip"))  # nothing half-written kept
    monkeypatch.setattr(ds, "CALTECH101_MD5", hashlib.md5(archive.read_bytes()).hexdigest())
    data = ds.fetch_caltech101(tmp_path / "home", image_size=(8, 8))
    assert data.images.shape == (6, 8, 8)
    assert (tmp_path / "home" / "caltech101" / "caltech-101.zip").exists()  # cached


def test_fetch_mnist_uses_openml(monkeypatch):
    from sklearn.utils import Bunch

    calls = {}

    def fake_fetch_openml(name, **kwargs):
        calls.update(name=name, **kwargs)
        data = np.arange(2 * 784, dtype=np.float64).reshape(2, 784) % 256
        return Bunch(data=data, target=np.array(["3", "7"]))

    monkeypatch.setattr("sklearn.datasets.fetch_openml", fake_fetch_openml)
    mnist = ds.fetch_mnist("somewhere")
    assert calls["name"] == "mnist_784" and calls["data_home"] == "somewhere"
    assert mnist.images.shape == (2, 28, 28) and mnist.images.max() <= 1
    assert mnist.target.tolist() == [3, 7]


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


def test_caltech_standin_experiment_small(tmp_path):
    pytest.importorskip("skimage")
    table, rows = experiments.caltech101(sizes=(5,), repeats=1,
                                         output=str(tmp_path / "atoms.png"), verbose=0)
    assert rows["Sparse coding"][0] > 0.8
    assert "faces" in table


def test_experiments_command_line(capsys, tmp_path, monkeypatch):
    def fake(*args, **kwargs):
        return "TABLE", {}

    monkeypatch.setattr(experiments, "self_taught", fake)
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

    monkeypatch.setattr(experiments, "gabor_recovery", fake("recovery"))
    monkeypatch.setattr(experiments, "gabor_dictionary_comparison", fake("dictionary"))
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
