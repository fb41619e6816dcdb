"""The configuration (`skl_sparse.set_config`, `get_config`, `config_context`): defaults from
the environment, thread-local values, restored contexts, and the switches taking effect."""

import dataclasses
import os
import subprocess
import sys
import threading

import numpy as np
import pytest
import torch

import skl_sparse
from skl_sparse import LassoPolicy, config_context, get_config, set_config
from skl_sparse._solvers import _homotopy_cuda
from skl_sparse._solvers._lasso import lasso_gram


@pytest.mark.parametrize("variable,key", [("SKL_SPARSE_CUDA_KERNELS", "cuda_kernels"),
                                          ("SKL_SPARSE_OWN_THREADS", "own_threads")])
def test_environment_variables_are_the_defaults(variable, key):
    code = f"import skl_sparse; print(skl_sparse.get_config()[{key!r}])"
    for value, expected in (("0", "False"), ("1", "True"), (None, "True")):
        env = {k: v for k, v in os.environ.items() if k != variable}
        if value is not None:
            env[variable] = value
        out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                             text=True, timeout=120)
        assert out.stdout.strip() == expected, out.stderr[-2000:]


def test_config_context_restores_on_exit_and_on_error():
    before = get_config()
    policy = dataclasses.replace(before["cpu_lasso_policy"], check_every=3)
    with config_context(own_threads=False, cpu_lasso_policy=policy):
        assert get_config()["own_threads"] is False
        assert get_config()["cpu_lasso_policy"] is policy
        with config_context(cuda_kernels=False):  # nested: the outer values stay
            assert get_config() == {**before, "own_threads": False,
                                    "cpu_lasso_policy": policy, "cuda_kernels": False}
        assert get_config()["cuda_kernels"] == before["cuda_kernels"]
    assert get_config() == before
    with pytest.raises(RuntimeError, match="boom"):
        with config_context(own_threads=False):
            raise RuntimeError("boom")
    assert get_config() == before


def test_get_config_returns_a_copy():
    config = get_config()
    config["own_threads"] = "changed"
    assert get_config()["own_threads"] is not config["own_threads"]


def test_the_configuration_is_per_thread():
    """As scikit-learn's: another thread starts from the defaults and its changes stay
    there."""
    seen = {}

    def other():
        seen["start"] = get_config()["own_threads"]
        set_config(own_threads=True)
        seen["after"] = get_config()["own_threads"]

    with config_context(own_threads=False):
        thread = threading.Thread(target=other)
        thread.start()
        thread.join()
        assert get_config()["own_threads"] is False
    assert seen == {"start": get_config()["own_threads"], "after": True}


@pytest.mark.parametrize("kwargs,match", [
    ({"cuda_kernels": "no"}, "cuda_kernels must be a bool"),
    ({"own_threads": 0}, "own_threads must be a bool"),
    ({"gpu_lasso_policy": {"rounds": 2}}, "gpu_lasso_policy must be a LassoPolicy"),
])
def test_invalid_settings_name_the_parameter(kwargs, match):
    before = get_config()
    with pytest.raises(ValueError, match=match):
        set_config(**kwargs)
    with pytest.raises(ValueError, match=match):
        with config_context(**kwargs):
            pass  # pragma: no cover
    assert get_config() == before


@pytest.mark.parametrize("field,value", [
    ("rounds", -1), ("rounds", 1.5), ("check_every", 0), ("try_up_to", 0),
    ("first_fraction", 0.0), ("first_fraction", 1.5), ("homotopy_left", -0.1),
    ("homotopy", (64, 32)), ("homotopy", (0,)), ("homotopy", [32]), ("homotopy", ()),
    ("homotopy_sample", 0), ("cpu_tail", -1), ("tf32_first", 1),
])
def test_lasso_policy_fields_are_validated(field, value):
    with pytest.raises(ValueError, match=f"LassoPolicy's {field} must"):
        LassoPolicy(**{field: value})


def test_lasso_policies_are_built_by_keyword_and_frozen():
    with pytest.raises(TypeError):
        LassoPolicy(2)  # the fields are keyword-only
    policy = LassoPolicy(check_every=7)
    with pytest.raises(dataclasses.FrozenInstanceError):
        policy.check_every = 8


def test_the_configured_policy_decides_the_checks(whitened_patches):
    """FISTA's convergence checks come every ``check_every`` iterations of the device's
    policy: the iterations run are a multiple of it."""
    rng = np.random.RandomState(0)
    D = torch.from_numpy(rng.randn(40, whitened_patches.shape[1]))
    D /= torch.linalg.vector_norm(D, dim=1, keepdim=True)
    X = torch.from_numpy(whitened_patches[:300])
    problem = (X @ D.T, D @ D.T, (X * X).sum(1), 0.1)
    for every in (7, 13):
        policy = dataclasses.replace(get_config()["cpu_lasso_policy"], check_every=every)
        with config_context(cpu_lasso_policy=policy):
            _, n_iter, primal, gap = lasso_gram(*problem, solver="fista")
        assert n_iter > 0 and n_iter % every == 0
        assert torch.all(gap <= 1e-6 * primal)


def test_cuda_kernels_switch_turns_the_kernel_off(monkeypatch, fresh_kernel_status):
    """With ``cuda_kernels=False`` the shipped kernel is never offered, whatever the
    machine (here one that claims a GPU)."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.version, "hip", None)
    with config_context(cuda_kernels=True):
        assert _homotopy_cuda.cuda_homotopy_available(40)
    with config_context(cuda_kernels=False):
        assert not _homotopy_cuda.cuda_homotopy_available(40)


def test_configuration_is_public():
    assert {"set_config", "get_config", "config_context", "LassoPolicy"} <= set(
        skl_sparse.__all__)
