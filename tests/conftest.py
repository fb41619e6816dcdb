import os

# scikit-learn's Array API dispatch needs scipy's, switched on before scipy is imported
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import dataclasses

import numpy as np
import pytest
import torch

import skl_sparse
from skl_sparse import ZCAWhitener
from skl_sparse.datasets import load_natural_patches

if os.environ.get("PYTEST_XDIST_WORKER"):
    # one torch thread per xdist worker: workers x threads above the core count make every
    # OpenMP barrier wait for a descheduled thread, and tests made of thousands of small
    # parallel regions then ran 100-200x slower (whole suite: 400 s instead of ~110 s)
    torch.set_num_threads(1)

if os.environ.get("SKL_SPARSE_TEST_GPU_HOMOTOPY"):
    # the GPU policy's homotopy kernel first (solver="auto") with other factor sizes
    # (e.g. "32"), or "off": FISTA alone, the path of a GPU where the kernel cannot run
    value = os.environ["SKL_SPARSE_TEST_GPU_HOMOTOPY"]
    sizes = None if value == "off" else tuple(int(s) for s in value.split(","))
    skl_sparse.set_config(gpu_lasso_policy=dataclasses.replace(
        skl_sparse.get_config()["gpu_lasso_policy"], homotopy=sizes))


@pytest.fixture(scope="session")
def whitened_patches():
    """2,000 ZCA-whitened 8x8 natural-image patches (offline, deterministic)."""
    X = load_natural_patches(2000, patch_size=(8, 8), random_state=0)
    X -= X.mean(axis=1, keepdims=True)
    return ZCAWhitener(eps=1.0).fit_transform(X)


@pytest.fixture
def rng():
    return np.random.RandomState(0)


@pytest.fixture
def fresh_kernel_status():
    """The shipped CUDA kernel's process state (turned off? checked on which devices?)
    as in a new process during the test, and as it was after it."""
    from skl_sparse._solvers._homotopy_cuda import KERNEL

    saved = dict(vars(KERNEL))
    KERNEL.__init__()
    yield KERNEL
    vars(KERNEL).clear()
    vars(KERNEL).update(saved)
