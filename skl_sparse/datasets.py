"""Data: natural image patches (offline), Caltech-101 and MNIST loaders (cached downloads)."""

import hashlib
import shutil
import tarfile
import urllib.request
import zipfile
from numbers import Integral
from pathlib import Path

import numpy as np
from sklearn.datasets import load_sample_images
from sklearn.feature_extraction.image import extract_patches_2d
from sklearn.utils import Bunch, check_random_state
from sklearn.utils._param_validation import Interval, validate_params


@validate_params(
    {
        "n_patches": [Interval(Integral, 1, None, closed="left")],
        "patch_size": [tuple],
        "images": ["array-like", list, None],
        "random_state": ["random_state"],
    },
    prefer_skip_nested_validation=True,
)
def load_natural_patches(n_patches=10000, *, patch_size=(12, 12), images=None, random_state=None):
    """Random grey-level patches of natural photographs, as rows.

    By default the patches come from the two photographs bundled with
    scikit-learn (:func:`sklearn.datasets.load_sample_images`: a Chinese temple
    and a flower), converted to grey levels in [0, 1], in equal numbers from
    each image. No download is needed.

    Parameters
    ----------
    n_patches : int, default=10000
        Number of patches returned.
    patch_size : tuple of int (height, width), default=(12, 12)
        Patch shape.
    images : list of arrays of shape (h, w) or (h, w, c), default=None
        Images to cut patches from (colour images are averaged over channels);
        ``None`` uses scikit-learn's sample images.
    random_state : int, RandomState instance or None, default=None
        Patch positions.

    Returns
    -------
    patches : ndarray of shape (n_patches, height * width), float64

    Examples
    --------
    >>> from skl_sparse.datasets import load_natural_patches
    >>> load_natural_patches(100, patch_size=(8, 8), random_state=0).shape
    (100, 64)
    """
    if len(patch_size) != 2 or not all(isinstance(s, Integral) and s >= 1 for s in patch_size):
        raise ValueError(f"patch_size must be two positive integers; got {patch_size!r}.")
    rng = check_random_state(random_state)
    if images is None:
        images = [im.astype(np.float64) / 255.0 for im in load_sample_images().images]
    grey = []
    for im in images:
        im = np.asarray(im, dtype=np.float64)
        if im.ndim == 3:
            im = im.mean(axis=2)
        if im.ndim != 2:
            raise ValueError(f"images must be 2-D or 3-D arrays; got shape {im.shape}.")
        if im.shape[0] < patch_size[0] or im.shape[1] < patch_size[1]:
            raise ValueError(f"An image of shape {im.shape} is smaller than patch_size.")
        grey.append(im)
    if not grey:
        raise ValueError("images is empty.")
    counts = np.full(len(grey), n_patches // len(grey))
    counts[: n_patches % len(grey)] += 1
    patches = [
        extract_patches_2d(im, patch_size, max_patches=int(c), random_state=rng).reshape(
            int(c), -1
        )
        for im, c in zip(grey, counts, strict=True)
        if c
    ]
    patches = np.concatenate(patches)
    return patches[rng.permutation(len(patches))]


def load_faces_standin():
    """The offline stand-in of Caltech-101: 100 faces and 100 non-face photographs.

    scikit-image's ``lfw_subset`` (real photographs, 25x25 grey levels in [0, 1]),
    like Caltech-101's "Faces" against background clutter; no download.

    Returns
    -------
    data : Bunch
        ``images`` (200, 25, 25) float32, ``target`` (1: face, 0: not), and
        ``target_names`` ``["background", "face"]``.

    Examples
    --------
    >>> from skl_sparse.datasets import load_faces_standin
    >>> data = load_faces_standin()
    >>> data.images.shape, int(data.target.sum())
    ((200, 25, 25), 100)
    """
    from skimage.data import lfw_subset

    return Bunch(images=lfw_subset().astype(np.float32), target=np.repeat([1, 0], 100),
                 target_names=["background", "face"])


CALTECH101_URL = "https://data.caltech.edu/records/mzrjq-6wc02/files/caltech-101.zip"
CALTECH101_MD5 = "3138e1922a9193bfa496528edbbc45d0"


def _data_home(data_home):
    from sklearn.datasets import get_data_home

    return Path(get_data_home(data_home))


def _md5(path, chunk=1 << 20):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def _download(url, dest, md5):
    """Download ``url`` to ``dest`` atomically and check its MD5."""
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url) as response, open(tmp, "wb") as out:
        shutil.copyfileobj(response, out)
    got = _md5(tmp)
    if got != md5:
        tmp.unlink()
        raise OSError(f"{url}: MD5 {got} does not match the expected {md5}.")
    tmp.replace(dest)


def _extract_caltech(archive, root):
    """caltech-101.zip holds caltech-101/101_ObjectCategories.tar.gz: unpack both."""
    with zipfile.ZipFile(archive) as z:
        z.extractall(root)
    tarballs = [p for p in root.rglob("101_ObjectCategories.tar.gz") if "__MACOSX" not in p.parts]
    if not tarballs:
        raise OSError(f"{archive} has no 101_ObjectCategories.tar.gz.")
    with tarfile.open(tarballs[0]) as t:
        t.extractall(root, filter="data")


def _load_image(path, image_size, grey):
    from PIL import Image

    with Image.open(path) as im:
        im = im.convert("L" if grey else "RGB").resize(image_size[::-1], Image.BILINEAR)
        return np.asarray(im, dtype=np.float32) / 255.0


def fetch_caltech101(data_home=None, *, download_if_missing=True, image_size=(64, 64),
                     grey=True, categories=None, include_background=False,
                     max_per_category=None):
    """Caltech-101 (Fei-Fei, Fergus and Perona, 2004), resized to a fixed size.

    The archive (``caltech-101.zip``, about 130 MB, MD5-checked) is downloaded once into
    ``data_home/caltech101`` and unpacked to the original ``101_ObjectCategories/<category>/
    image_XXXX.jpg`` layout; a folder with that layout already present (e.g. unpacked by
    hand) is used as is.

    Parameters
    ----------
    data_home : str or path, default=None
        Cache folder (scikit-learn's ``get_data_home`` by default).
    download_if_missing : bool, default=True
        If False, raise ``OSError`` when the data is not there instead of downloading.
    image_size : tuple of int, default=(64, 64)
        ``(height, width)`` every image is resized to.
    grey : bool, default=True
        Grey levels (else RGB).
    categories : list of str, default=None
        Categories to load (all by default).
    include_background : bool, default=False
        Include the ``BACKGROUND_Google`` clutter category.
    max_per_category : int, default=None
        Load at most this many images per category (the first ones, sorted by name).

    Returns
    -------
    data : Bunch
        ``images`` (n, h, w[, 3]) float32 in [0, 1], ``target`` (n,), ``target_names``,
        ``filenames``.

    Examples
    --------
    >>> from skl_sparse.datasets import fetch_caltech101
    >>> data = fetch_caltech101(categories=["Faces", "airplanes"])  # doctest: +SKIP
    >>> data.images.shape  # doctest: +SKIP
    (1235, 64, 64)
    """
    root = _data_home(data_home) / "caltech101"
    folder = next((p for p in root.rglob("101_ObjectCategories") if p.is_dir()), None)
    if folder is None:
        if not download_if_missing:
            raise OSError(f"Caltech-101 not found under {root} and download_if_missing=False.")
        root.mkdir(parents=True, exist_ok=True)
        archive = root / "caltech-101.zip"
        if not archive.exists():
            _download(CALTECH101_URL, archive, CALTECH101_MD5)
        _extract_caltech(archive, root)
        folder = next(p for p in root.rglob("101_ObjectCategories") if p.is_dir())
    names = sorted(p.name for p in folder.iterdir() if p.is_dir())
    if not include_background:
        names = [n for n in names if n != "BACKGROUND_Google"]
    if categories is not None:
        missing = sorted(set(categories) - set(names))
        if missing:
            raise ValueError(f"Unknown Caltech-101 categories: {missing}.")
        names = [n for n in names if n in set(categories)]
    images, target, files = [], [], []
    for label, name in enumerate(names):
        paths = sorted((folder / name).glob("*.jpg"))[:max_per_category]
        for path in paths:
            images.append(_load_image(path, image_size, grey))
            target.append(label)
            files.append(str(path))
    if not images:
        raise ValueError(f"No images found in {folder}.")
    return Bunch(images=np.stack(images), target=np.array(target), target_names=names,
                 filenames=files)


def fetch_mnist(data_home=None, *, download_if_missing=True):
    """MNIST through :func:`sklearn.datasets.fetch_openml` (``mnist_784``), cached.

    Parameters
    ----------
    data_home : str or path, default=None
        Cache folder (scikit-learn's ``get_data_home`` by default).
    download_if_missing : bool, default=True
        If False, raise ``OSError`` when the data is not cached.

    Returns
    -------
    data : Bunch
        ``images`` (70000, 28, 28) float32 in [0, 1], ``target`` (70000,) int.

    Examples
    --------
    >>> from skl_sparse.datasets import fetch_mnist
    >>> fetch_mnist().images.shape  # doctest: +SKIP
    (70000, 28, 28)
    """
    from sklearn.datasets import fetch_openml

    mnist = fetch_openml("mnist_784", version=1, data_home=data_home, as_frame=False,
                         download_if_missing=download_if_missing, parser="liac-arff")
    X = np.asarray(mnist.data, dtype=np.float32).reshape(-1, 28, 28) / 255.0
    return Bunch(images=X, target=np.asarray(mnist.target).astype(int))
