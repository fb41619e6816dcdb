"""Data loaders, tested on data the tests write (never downloading)."""

import hashlib
import io
import tarfile
import zipfile

import numpy as np
import pytest

import skl_sparse.datasets as ds


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


def test_faces_standin_is_bundled_photographs():
    pytest.importorskip("skimage")
    data = ds.load_faces_standin()
    assert data.images.shape == (200, 25, 25) and data.images.dtype == np.float32
    assert data.target.tolist() == [1] * 100 + [0] * 100
    assert data.target_names == ["background", "face"]
    assert 0 <= data.images.min() and data.images.max() <= 1
