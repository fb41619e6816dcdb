"""ImagePatchEncoder: dense patches through a patch pipeline, pooled over a grid."""

import numpy as np
import pytest
from sklearn.decomposition import PCA
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import FunctionTransformer

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
